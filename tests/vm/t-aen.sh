#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Asynchronous events and namespace rescan. A controller in an NVMe subsystem has namespace 1
# (64 MiB), namespace 2 (128 MiB, detached) and namespace 3 (32 MiB in 128 KiB blocks, above
# what the block layer takes: skipped). A SMART critical warning set through the QEMU monitor reaches the kernel log
# as an asynchronous event, twice (the event is cleared and the request resubmitted).
# Namespace 2 attached at run time (Namespace Attachment: QEMU sends a Namespace Attribute
# Changed notice) appears as a disk of the right size that passes a fio verify, and
# disappears when detached. Namespace 3 formatted to 512-byte blocks (no notice from QEMU)
# appears as soon as the Format NVM ioctl returns (the driver rescans after a command with
# namespace-changing effects, as the C driver does), and stays through NVME_IOCTL_RESCAN
# (nvme ns-rescan). After a controller reset the requests
# are outstanding again (a new warning arrives); unbind with them outstanding is clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name aen --timeout 200 \
	--disk d1=64M --disk d2=128M --disk d3=32M \
	--qemu '-device nvme-subsys,id=subsys0,nqn=rnaen' \
	--nvme 'id=nv0,serial=rnaen,subsys=subsys0' \
	--qemu '-device nvme-ns,drive=d1,nsid=1,bus=nv0 -device nvme-ns,drive=d2,nsid=2,bus=nv0,detached=true -device nvme-ns,drive=d3,nsid=3,bus=nv0,logical_block_size=131072,physical_block_size=131072' - <<'GUEST'
load_rust_driver
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0 ] && [ -e /dev/rnvme0n1 ]' 20

bytes() { /usr/bin/lsblk -bdn -o SIZE "/dev/$1" | tr -d ' '; }
disks() { echo $(disks_of "$a" | sort); }
seen() { dmesg | grep "rust_nvme $a: " | grep -q -- "$1"; }
expect_disks() {
	[ "$(disks)" = "$1" ] || fail "$2: disks are '$(disks)', want '$1'"
}
expect_disks rnvme0n1 "at probe"
[ "$(bytes rnvme0n1)" = 67108864 ] || fail "rnvme0n1 is $(bytes rnvme0n1) bytes, want 64 MiB"
seen "namespace 3: unsupported format" || fail "namespace 3 (128 KiB blocks) was not skipped with a warning"
feat=$(/usr/sbin/nvme get-feature /dev/rnvme0 -f 0xb | grep -o 'Current value:0x[0-9a-f]*')
[ "$feat" = "Current value:0x0000011f" ] || fail "Asynchronous Event Configuration: $feat, want 0x11f"
log "Asynchronous Event Configuration: ${feat#Current value:}"

# SMART / Health: each new critical warning bit is an event; the second one arrives only if the
# first was cleared (SMART log read) and the request submitted again.
host_do qom-set /machine/peripheral/nv0 smart_critical_warning 2 >/dev/null
wait_for 'seen "critical warning 0x02: temperature out of range"' 15
host_do qom-set /machine/peripheral/nv0 smart_critical_warning 3 >/dev/null
wait_for 'seen "available spare below threshold): critical warning 0x03"' 15
log "SMART events: $(dmesg | grep -c 'rust_nvme.*critical warning')"

# Namespace Attachment (opcode 15h) of namespace 2 to this controller, then detachment.
cntlid=$(/usr/sbin/nvme id-ctrl /dev/rnvme0 | sed -n 's/^cntlid *: *//p')
[ "$cntlid" = 0 ] || fail "controller id $cntlid, the test writes a list for id 0"
printf '\001\000\000\000' >/tmp/ctrl-list
/usr/bin/dd if=/dev/zero bs=4092 count=1 2>/dev/null >>/tmp/ctrl-list
attach() { # NSID SEL(0 attach, 1 detach)
	/usr/sbin/nvme admin-passthru /dev/rnvme0 --opcode=0x15 --namespace-id=$1 --cdw10=$2 \
		--data-len=4096 --input-file=/tmp/ctrl-list -w >/dev/null ||
		fail "Namespace Attachment nsid $1 sel $2 failed"
}
attach 2 0
wait_for '[ -e /dev/rnvme0n2 ]' 15
expect_disks "rnvme0n1 rnvme0n2" "after attaching namespace 2"
[ "$(bytes rnvme0n2)" = 134217728 ] || fail "rnvme0n2 is $(bytes rnvme0n2) bytes, want 128 MiB"
seen "namespace 2: disk rnvme0n2 added" || fail "no message for the new disk"
fio_verify /dev/rnvme0n2 16M
attach 2 1
wait_for '[ ! -e /dev/rnvme0n2 ]' 15
expect_disks rnvme0n1 "after detaching namespace 2"
seen "namespace 2 is gone: disk rnvme0n2 removed" || fail "no message for the removed disk"
n=$(dmesg | grep -c "rust_nvme $a: namespace 3: unsupported format" || true)
[ "$n" = 1 ] || fail "namespace 3's format was warned about $n times over three scans, want once"
fio_verify /dev/rnvme0n1 4M

# Format NVM (opcode 80h) of namespace 3 to LBA format 0 (512 bytes): QEMU sends
# no notice, but the command's effects (namespace capability change) make the driver rescan
# once it completed, as the C driver does, so the disk is there when the ioctl returns.
/usr/sbin/nvme admin-passthru /dev/rnvme0 --opcode=0x80 --namespace-id=3 --cdw10=0 >/dev/null ||
	fail "Format NVM of namespace 3 failed"
expect_disks "rnvme0n1 rnvme0n3" "after formatting namespace 3"
[ "$(bytes rnvme0n3)" = 33554432 ] || fail "rnvme0n3 is $(bytes rnvme0n3) bytes, want 32 MiB"
seen "namespace 3: disk rnvme0n3 added" || fail "no message for the formatted namespace's disk"
/usr/sbin/nvme ns-rescan /dev/rnvme0 || fail "nvme ns-rescan /dev/rnvme0 failed"
expect_disks "rnvme0n1 rnvme0n3" "after NVME_IOCTL_RESCAN"
/usr/sbin/nvme ns-rescan /dev/rnvme0 || fail "a second rescan failed"
expect_disks "rnvme0n1 rnvme0n3" "after a rescan without changes"
fio_verify /dev/rnvme0n3 4M

# A controller reset drops the outstanding requests; they are submitted again.
/usr/sbin/nvme reset /dev/rnvme0 || fail "nvme reset failed"
wait_for 'seen "controller reset complete"' 30
host_do qom-set /machine/peripheral/nv0 smart_critical_warning 7 >/dev/null
wait_for 'seen "NVM subsystem reliability): critical warning 0x07"' 15
attach 2 0
wait_for '[ -e /dev/rnvme0n2 ]' 15
fio_verify /dev/rnvme0n2 4M

# Unbind with the requests outstanding and three disks, bind again, unload.
unbind "$a"
bind "$a" rust_nvme
wait_for '[ "$(disks)" = "rnvme0n1 rnvme0n2 rnvme0n3" ]' 20
unbind "$a"
unload_rust_driver
dmesg | grep "rust_nvme $a: " | grep -e 'asynchronous event' -e 'namespace [0-9]' | sed 's/^/   /'
GUEST
