#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Stable names (issue 16): udev/61-rust-nvme.rules gives our disks and their partitions the
# /dev/disk/by-id links systemd's 60-persistent-storage.rules gives the C driver's, under
# the same names, so that a by-id path keeps naming the same namespace whichever driver
# serves it. The host's udev (systemd-udevd and udevadm, with their libraries) runs in the
# guest with both rules files. One controller with two namespaces, a partition table on the
# first (two partitions, written through C's disk). For C, then ours, then ours again after
# an unbind and bind: the by-id links, each resolved to its node; ours must have exactly C's
# link names, each at our node of the same namespace or partition (but the controller-wide
# nvme-<model>_<serial>, which points at whichever namespace udev handled last), and the links
# of the unbound driver must be gone. Each link is read through: the data written at a partition's start through C's
# link reads back through ours.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/harness/lib.sh
rnvme_need_kconfig "${KDIR:-$(rnvme_kdir)}" NET UNIX INOTIFY_USER FILE_LOCKING
export RNVME_EXTRA_TOOLS="udevadm sfdisk"
exec tests/harness/vm.sh --name udev --timeout 240 \
	--file "udev/61-rust-nvme.rules=/etc/udev/rules.d/61-rust-nvme.rules" \
	--file "/lib/udev/rules.d/60-persistent-storage.rules=/lib/udev/rules.d/60-persistent-storage.rules" \
	--disk u1=32M --disk u2=16M \
	--nvme serial=rudev0,id=c0 \
	--qemu '-device nvme-ns,drive=u1,nsid=1,bus=c0 -device nvme-ns,drive=u2,nsid=2,bus=c0' - <<'GUEST'
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)
mkdir -p /run/udev /etc/udev/rules.d
ln -sf "$(command -v udevadm)" /tmp/systemd-udevd
/tmp/systemd-udevd --daemon || fail "systemd-udevd did not start"

# node NAME: a block node as "ns<NSID>" or "ns<NSID>p<PART>" (C numbers its disks by
# instance, not by namespace: its nvme0n1 may be namespace 2).
node() {
	local b=/sys/class/block/$1 disk
	if [ -e "$b/partition" ]; then
		disk=$(basename "$(readlink -f "$b/..")")
		echo "ns$(cat /sys/block/$disk/nsid)p$(cat $b/partition)"
	else
		echo "ns$(cat $b/nsid)"
	fi
}

# links: "NAME -> ns<NSID>[p<PART>]" for every /dev/disk/by-id link, sorted.
links() {
	local l
	for l in /dev/disk/by-id/*; do
		[ -L "$l" ] || continue
		echo "${l##*/} -> $(node "$(basename "$(readlink -f "$l")")")"
	done | sort
}

settle() {
	udevadm trigger --action=add --subsystem-match=block >/dev/null 2>&1 || true
	udevadm settle --timeout=30 || fail "udevadm settle timed out"
}

bind "$a" nvme
settle
d=
for x in $(disks_of "$a"); do
	[ "$(cat /sys/block/$x/nsid)" != 1 ] || d=$x
done
[ -n "$d" ] || fail "C: no disk of namespace 1"
printf 'label: dos\nstart=2048, size=8192\nstart=10240, size=8192\n' |
	/usr/sbin/sfdisk -q /dev/$d >/tmp/sfdisk.out 2>&1 || fail "sfdisk: $(cat /tmp/sfdisk.out)"
settle
links >/tmp/c.links
log "C: $(wc -l </tmp/c.links) links:"
cat /tmp/c.links
grep -q -- "-part2 -> ns1p2$" /tmp/c.links || fail "C: no partition links"
printf 'by-id marker\n' >/tmp/mark
part=$(grep -- "_1-part1 -> ns1p1$" /tmp/c.links | head -n 1 | cut -d' ' -f1)
[ -n "$part" ] || fail "C: no model_serial_nsid link of the first partition"
/usr/bin/dd if=/tmp/mark of=/dev/disk/by-id/$part bs=512 count=1 conv=sync,fsync status=none
unbind "$a"
settle
[ -z "$(links)" ] || fail "C's links outlived its unbind: $(links)"

round() {
	bind "$a" rust_nvme
	settle
	links >/tmp/r.links
	log "ours ($1): $(wc -l </tmp/r.links) links"
	# The same names as C's; each resolves to our node of the same name but the prefix.
	cut -d' ' -f1 /tmp/c.links >/tmp/c.names
	cut -d' ' -f1 /tmp/r.links >/tmp/r.names
	cmp -s /tmp/c.names /tmp/r.names || {
		diff /tmp/c.names /tmp/r.names || true
		fail "ours ($1): the link names differ from C's"
	}
	# nvme-<model>_<serial> without the nsid names the controller, not a namespace: it
	# points at whichever namespace's disk udev handled last (systemd calls it obsolete), on
	# either driver; it must point at one of ours. Every other link at the same node as C's.
	grep -q '^nvme-[^ ]*_rudev0 -> ns[12]$' /tmp/r.links ||
		fail "ours ($1): the controller's model_serial link points elsewhere"
	grep -v '_rudev0 -> ' /tmp/c.links >/tmp/c.cmp
	grep -v '_rudev0 -> ' /tmp/r.links | cmp -s - /tmp/c.cmp || {
		cat /tmp/r.links
		fail "ours ($1): a link points elsewhere than C's did"
	}
	/usr/bin/dd if=/dev/disk/by-id/$part bs=512 count=1 status=none | grep -q 'by-id marker' ||
		fail "ours ($1): $part does not read back what C wrote"
	unbind "$a"
	settle
	[ -z "$(links)" ] || fail "ours ($1): links outlived the unbind: $(links)"
}
round first
round "after unbind and bind"
log "ours has C's $(wc -l </tmp/c.links) by-id links, pointing at its own disks and partitions"
GUEST
