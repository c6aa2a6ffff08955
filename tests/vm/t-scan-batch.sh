#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A controller of many namespaces, identified in batches (issue 17, bring-up at scale): the
# scan submits up to 16 Identify commands together, each into its own page of one buffer, so a
# page given to the wrong namespace would show here. One controller with 19 namespaces at
# sparse nsids (1 to 16, 20, 21, 40: batches of 8 when adding, 16 when revalidating, with a
# remainder each time), each of a size and block size of its own, namespaces 7 and 14 zoned
# (their command set comes from the identifier descriptor list, the second Identify of each
# namespace in a batch). QEMU's identifiers (UUID and others) are not trusted by either driver
# (they were repeated by older QEMU versions), so they cannot be told apart here. On rust_nvme
# and then on the C driver, checked per namespace: size, logical block size, zone model, and
# the nsid and wwid attributes, and rust_nvme's equal to C's; a pattern tagged with the nsid
# written at 1 MiB on every conventional disk reads back the same on both drivers; a rescan (nvme ns-rescan)
# revalidates all and changes nothing; Format NVM of namespace 5 to 4096-byte blocks
# (revalidating every disk in batches with I/O held) changes namespace 5 alone, and every
# other disk keeps its size, block size and data. Then the driver is rebound with
# namespace 5 in its new format. No kernel report.
set -euo pipefail
cd "$(dirname "$0")/../.."

NSIDS="1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 20 21 40"
args=(--nvme id=nb0,serial=rnb0)
qemu_ns=''
for n in $NSIDS; do
	# Sizes 4 MiB apart; odd nsids 512-byte blocks, even ones 4096 (namespace 5 too: it is
	# formatted to 4096 below).
	args+=(--disk "n$n=$((4 + n * 4))M")
	lbs=512
	[ $((n % 2)) = 1 ] || lbs=4096
	qemu_ns+=" -device nvme-ns,drive=n$n,bus=nb0,nsid=$n,logical_block_size=$lbs,physical_block_size=$lbs"
	case $n in 7 | 14) qemu_ns+=",zoned=on,zoned.zone_size=4M" ;; esac
done

exec tests/harness/vm.sh --name scan-batch --timeout 600 "${args[@]}" --qemu "$qemu_ns" \
	--append "rnvme.nsids=${NSIDS// /,}" - <<'GUEST'
NSIDS=$(rnvme_param nsids | tr ',' ' ')
a=$(pci_addr_of 0)
M=1048576

# attrs: one line per namespace: nsid, bytes, logical block size, zone model, wwid.
attrs() {
	local d
	for d in $(disks_of "$a"); do
		echo "$(cat /sys/block/$d/nsid) $(disk_bytes $d) $(cat /sys/block/$d/queue/logical_block_size)" \
			"$(cat /sys/block/$d/queue/zoned) $(cat /sys/block/$d/wwid)"
	done | sort -n
}

# zoned N: namespace N is zoned.
zoned() {
	[ "$1" = 7 ] || [ "$1" = 14 ]
}

# check WHO FILE [FORMATTED]: FILE (from attrs) has every namespace with its size, block size
# and zone model as QEMU was given them; FORMATTED: namespace 5 has 4096-byte blocks.
check() {
	local who=$1 f=$2 n lbs want_lbs bytes model want_model count=0
	for n in $NSIDS; do
		want_lbs=512
		[ $((n % 2)) = 1 ] || want_lbs=4096
		[ "$n" != 5 ] || [ -z "${3:-}" ] || want_lbs=4096
		want_model=none
		! zoned "$n" || want_model=host-managed
		read -r _ bytes lbs model _ <<EOF
$(awk -v n="$n" '$1 == n' "$f")
EOF
		[ "$bytes" = $(((4 + n * 4) * M)) ] || fail "$who: namespace $n has $bytes bytes, want $(((4 + n * 4) * M))"
		[ "$lbs" = "$want_lbs" ] || fail "$who: namespace $n has $lbs byte blocks, want $want_lbs"
		[ "$model" = "$want_model" ] || fail "$who: namespace $n is $model, want $want_model"
		count=$((count + 1))
	done
	[ "$(wc -l <"$f")" = "$count" ] || { cat "$f"; fail "$who: $(wc -l <"$f") disks, want $count"; }
	log "$who: $count namespaces with their sizes, block sizes and zone models"
}

# pattern N: 64 KiB tagged with nsid N.
pattern() {
	[ -f /tmp/pat.$1 ] ||
		awk -v n="$1" 'BEGIN { for (i = 0; i < 4096; i++) printf "namespace %d of rnb0, line %d\n", n, i }' |
		head -c 65536 >/tmp/pat.$1
	echo /tmp/pat.$1
}

# data_check WHO [SKIP]: every conventional disk's pattern reads back (but namespace SKIP's).
data_check() {
	local d n
	for d in $(disks_of "$a"); do
		n=$(cat /sys/block/$d/nsid)
		[ "$n" != "${2:-}" ] && ! zoned "$n" || continue
		[ "$(sha_at /dev/$d $M 65536)" = "$(sha_file "$(pattern $n)")" ] ||
			fail "$1: the pattern of namespace $n on /dev/$d does not read back"
	done
	log "$1: every pattern reads back${2:+ (but namespace $2's)}"
}

load_rust_driver
load_c_driver
dmesg -c >/dev/null
bind "$a" rust_nvme
wait_for '[ "$(disks_of "$a" | wc -l)" = 19 ]' 60
attrs >/tmp/rust
check rust_nvme /tmp/rust
for d in $(disks_of "$a"); do
	n=$(cat /sys/block/$d/nsid)
	zoned "$n" || write_at /dev/$d $M "$(pattern "$n")"
done
data_check rust_nvme

/usr/sbin/nvme ns-rescan /dev/rnvme0 || fail "nvme ns-rescan /dev/rnvme0 failed"
sleep 1
attrs >/tmp/rust2
/usr/bin/cmp /tmp/rust /tmp/rust2 || fail "the rescan changed the disks"
! dmesg | grep -q "removed" || fail "the rescan removed a disk: $(dmesg | grep removed)"
log "rescan: the same 19 disks"

# Namespace 5 (512-byte blocks) to LBA format 4 (4096 bytes): every disk is revalidated with
# its I/O held; namespace 5's data is gone with the format, the others' stays.
/usr/sbin/nvme format /dev/rnvme0n5 --lbaf=4 --force >/tmp/format.out 2>&1 ||
	{ cat /tmp/format.out; fail "nvme format /dev/rnvme0n5 --lbaf=4 failed"; }
wait_for '[ "$(cat /sys/block/rnvme0n5/queue/logical_block_size)" = 4096 ]' 20
attrs >/tmp/rust3
check "rust_nvme after the format" /tmp/rust3 formatted
data_check "rust_nvme after the format" 5
unbind "$a"

bind "$a" nvme
wait_for '[ "$(disks_of "$a" | wc -l)" = 19 ]' 60
attrs >/tmp/c
check nvme /tmp/c formatted
sed 's/^/rust_nvme: /' /tmp/rust3 >/tmp/r.txt
sed 's/^/nvme: /' /tmp/c >/tmp/c.txt
# rust_nvme's attributes, after the format, are C's.
[ "$(cut -d' ' -f2- /tmp/r.txt)" = "$(cut -d' ' -f2- /tmp/c.txt)" ] ||
	{ cat /tmp/r.txt /tmp/c.txt; fail "rust_nvme's namespaces differ from nvme's"; }
data_check "nvme, reading rust_nvme's writes" 5
unbind "$a"

bind "$a" rust_nvme
wait_for '[ "$(disks_of "$a" | wc -l)" = 19 ]' 60
attrs >/tmp/rust4
/usr/bin/cmp /tmp/rust3 /tmp/rust4 || fail "rebound: the disks differ"
data_check "rust_nvme rebound" 5
unbind "$a"
unload_rust_driver
log "scan-batch done"
GUEST
