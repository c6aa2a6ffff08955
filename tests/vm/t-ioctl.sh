#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The passthrough ioctls and nvme-cli on our nodes. nvme-cli's id-ctrl, id-ns, get-feature,
# smart-log and error-log print the same fields on /dev/rnvme0 and /dev/rnvme0n1 as on the C
# driver's nodes for the same QEMU controller (device names and live counters aside). Each
# ioctl error path gets its errno: an unmapped command structure or data buffer EFAULT, an
# oversized length, a metadata buffer or command flags EINVAL, an unprivileged admin command
# other than Identify EACCES, a Set Features of what the driver manages EACCES even for root;
# NVME_IOCTL_ID gives the nsid on a disk node and ENOTTY on the char device. I/O passthrough
# (NVME_IOCTL_IO_CMD) on the disk node reads and writes data (checked against dd), returns
# the NVMe status of a read past the end, has the same error paths, lets an unprivileged user
# read but not write through a read-only open, and is refused on the char device. Every probe
# case gives the same result on the C driver's nodes.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-ioctl-probe" tests/vm/tools/nvme-ioctl-probe.c
tests/harness/vm.sh --name ioctl --timeout 120 \
	--file "$tmp/nvme-ioctl-probe=/usr/bin/nvme-ioctl-probe" \
	--disk d0=64M --nvme serial=rni0,drive=d0 - <<'GUEST'
load_rust_driver
load_c_driver
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0 ] && [ -e /dev/rnvme0n1 ]' 20

expect() { # CASE DEV WANT
	got=$(nvme-ioctl-probe "$1" "$2")
	case "$got" in
	"$3"*) log "$1 on $2: $got" ;;
	*) fail "$1 on $2: got '$got', want '$3'" ;;
	esac
}
ADMIN_CASES="identify badstruct baddata biglen meta flags unpriv unpriv-log setfeat-nq"
IO_CASES="io-read io-write io-readback io-oor io-badstruct io-baddata io-biglen io-meta io-flags io-unpriv-read io-unpriv-write vec-io"
# record OUT CTRL DISK: every probe case on both nodes, one line each, for the comparison.
record() {
	local f=$1 dev c node
	: >"$f"
	for node in ctrl disk; do
		dev=$2
		[ $node = ctrl ] || dev=$3
		chmod 666 "$dev"
		for c in $ADMIN_CASES; do
			echo "$c $node: $(nvme-ioctl-probe "$c" "$dev")" >>"$f"
		done
	done
	for c in $IO_CASES; do
		echo "$c: $(nvme-ioctl-probe "$c" "$3")" >>"$f"
	done
	echo "id: $(nvme-ioctl-probe id "$3")" >>"$f"
}
for dev in /dev/rnvme0 /dev/rnvme0n1; do
	expect identify $dev "ret=0 errno=0 vid=1b36"
	expect badstruct $dev "ret=-1 errno=14"
	expect baddata $dev "ret=-1 errno=14"
	expect biglen $dev "ret=-1 errno=22"
	expect meta $dev "ret=-1 errno=22"
	expect flags $dev "ret=-1 errno=22"
	expect setfeat-nq $dev "ret=-1 errno=13"
	chmod 666 $dev
	expect unpriv $dev "ret=0 errno=0"
	expect unpriv-log $dev "ret=-1 errno=13"
done
expect id /dev/rnvme0n1 "ret=1 errno=0"
expect id /dev/rnvme0 "ret=-1 errno=25"

# I/O passthrough: data in both directions, checked against the block device.
d=/dev/rnvme0n1
/usr/bin/dd if=/dev/urandom of=/tmp/lba0 bs=4096 count=1 status=none
/usr/bin/dd if=/tmp/lba0 of=$d bs=4096 count=1 oflag=direct conv=notrunc status=none
want=$(nvme-ioctl-probe io-read $d)
expect io-read $d "ret=0 errno=0 sum="
expect io-unpriv-read $d "$want"
expect io-write $d "ret=0 errno=0"
expect io-readback $d "ret=0 errno=0 sum="
expect io-readback $d "$(nvme-ioctl-probe io-readback $d | sed 's/ pattern=.*//') pattern=ok"
/usr/bin/dd if=$d of=/tmp/lba2048 bs=512 skip=2048 count=8 iflag=direct status=none
nvme-ioctl-probe pattern - >/tmp/pattern
cmp /tmp/pattern /tmp/lba2048 || fail "the io-write pattern does not read back through the block device"
case "$(nvme-ioctl-probe io-oor $d)" in
"ret="[1-9]*" errno=0") log "io-oor: an NVMe status, $(nvme-ioctl-probe io-oor $d)" ;;
*) fail "io-oor: want a positive NVMe status, got $(nvme-ioctl-probe io-oor $d)" ;;
esac
expect io-badstruct $d "ret=-1 errno=14"
expect io-baddata $d "ret=-1 errno=14"
expect io-biglen $d "ret=-1 errno=22"
expect io-meta $d "ret=-1 errno=22"
expect io-flags $d "ret=-1 errno=22"
expect io-unpriv-write $d "ret=-1 errno=13"
expect io-read /dev/rnvme0 "ret=-1 errno=22"
expect vec-io $d "ret=0 errno=0 vec=ok"
# nvme-cli's read and write go through the same ioctl.
/usr/bin/dd if=/dev/urandom of=/tmp/cli-in bs=8192 count=1 status=none
/usr/sbin/nvme write $d -s 4096 -c 15 -z 8192 -d /tmp/cli-in >/tmp/cli.out 2>&1 || { cat /tmp/cli.out; fail "nvme write on $d failed"; }
/usr/sbin/nvme read $d -s 4096 -c 15 -z 8192 -d /tmp/cli-out >/tmp/cli.out 2>&1 || { cat /tmp/cli.out; fail "nvme read on $d failed"; }
cmp /tmp/cli-in /tmp/cli-out || fail "nvme read does not return what nvme write wrote"
/usr/bin/dd if=$d of=/tmp/cli-dd bs=512 skip=4096 count=16 iflag=direct status=none
cmp /tmp/cli-in /tmp/cli-dd || fail "nvme write's data does not read back through the block device"
log "nvme read/write: 8 KiB at LBA 4096 round-trips, and matches dd"
record /tmp/rust-probe /dev/rnvme0 /dev/rnvme0n1

cli() { # PREFIX CTRL DISK
	/usr/sbin/nvme id-ctrl "$2" >"/tmp/$1-id-ctrl"
	/usr/sbin/nvme id-ns "$3" >"/tmp/$1-id-ns"
	/usr/sbin/nvme get-feature "$2" -f 7 >"/tmp/$1-feature"
	/usr/sbin/nvme smart-log "$2" >"/tmp/$1-smart"
	/usr/sbin/nvme error-log "$2" -e 4 >"/tmp/$1-error"
}
cli rust /dev/rnvme0 /dev/rnvme0n1
unbind "$a"
bind "$a" nvme
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
c=$(ls "/sys/bus/pci/devices/$a/nvme/")
cli c "/dev/$c" "/dev/$(disks_of "$a")"
# The C driver takes I/O passthrough on its char device too (deprecated); ours refuses it,
# so that case is left out of the comparison (it is not in record).
record /tmp/c-probe "/dev/$c" "/dev/$(disks_of "$a")"
if ! cmp -s /tmp/rust-probe /tmp/c-probe; then
	diff /tmp/rust-probe /tmp/c-probe || true
	fail "the ioctl probe gives different results on the two drivers' nodes"
fi
log "every ioctl probe case gives the same result on both drivers ($(wc -l </tmp/rust-probe) cases)"
for f in id-ctrl id-ns feature; do
	cmp "/tmp/rust-$f" "/tmp/c-$f" || fail "nvme $f differs between the drivers"
done
# Device names and the controller's own command counters differ; every field must be there.
for f in smart error; do
	a_fields=$(sed 's/:.*//' "/tmp/rust-$f" | tail -n +2)
	b_fields=$(sed 's/:.*//' "/tmp/c-$f" | tail -n +2)
	[ "$a_fields" = "$b_fields" ] || fail "nvme $f: fields differ between the drivers"
	[ "$(wc -l <"/tmp/rust-$f")" -gt 3 ] || fail "nvme $f printed too little"
done
grep -q '^mn *: QEMU NVMe Ctrl' /tmp/rust-id-ctrl || fail "id-ctrl has no model"
grep -q '^sn *: rni0' /tmp/rust-id-ctrl || fail "id-ctrl has no serial"
log "nvme-cli prints the same on both drivers' nodes"
GUEST
