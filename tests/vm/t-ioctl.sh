#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The passthrough ioctls and nvme-cli on our nodes. nvme-cli's id-ctrl, id-ns, get-feature,
# smart-log and error-log print the same fields on /dev/rnvme0 and /dev/rnvme0n1 as on the C
# driver's nodes for the same QEMU controller (device names and live counters aside). Each
# ioctl error path gets its errno: an unmapped command structure or data buffer EFAULT, an
# oversized length, a metadata buffer or command flags EINVAL, an unprivileged admin command
# EACCES; NVME_IOCTL_ID gives the nsid on a disk node and ENOTTY on the char device.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-ioctl-probe" tests/vm/tools/nvme-ioctl-probe.c
scripts/vm.sh --name ioctl --timeout 120 \
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
for dev in /dev/rnvme0 /dev/rnvme0n1; do
	expect identify $dev "ret=0 errno=0 vid=1b36"
	expect badstruct $dev "ret=-1 errno=14"
	expect baddata $dev "ret=-1 errno=14"
	expect biglen $dev "ret=-1 errno=22"
	expect meta $dev "ret=-1 errno=22"
	expect flags $dev "ret=-1 errno=22"
	chmod 666 $dev
	expect unpriv $dev "ret=-1 errno=13"
done
expect id /dev/rnvme0n1 "ret=1 errno=0"
expect id /dev/rnvme0 "ret=-1 errno=25"

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
