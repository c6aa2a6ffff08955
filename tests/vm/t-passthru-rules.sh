#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Who may send which passthrough command, on which node. One controller, two namespaces, an
# MBR partition on namespace 1. Each case below is one ioctl (tests/vm/tools/nvme-fd-probe.c)
# with its outcome for rust_nvme and for the C driver (7.3) on the same controller, both
# checked, the C driver first:
# - I/O passthrough (NVME_IOCTL_IO_CMD and NVME_IOCTL_IO64_CMD) naming another namespace than
#   the node's (2, 0, 0xffffffff on namespace 1's disk) is EINVAL, for root and for uid 1000;
#   a Write naming namespace 2 leaves namespace 2's data alone.
# - On a partition an unprivileged user may send nothing (EACCES: the command could reach
#   outside the partition); root may. The C driver refuses NVME_IOCTL_IO64_CMD only: its
#   NVME_IOCTL_IO_CMD and admin ioctls do not see the partition (upstream nvme_ioctl hands
#   flags=0 on). NVME_IOCTL_ID on the partition gives the namespace's id.
# - uid 1000 on a disk opened read-only: Read (data checked), nothing that changes blocks
#   (Write, Write Zeroes, Dataset Management, Flush: EACCES); opened read-write: Write and Write
#   Zeroes (data read back, through the block device too) and Flush. Vendor specific (0x81,
#   0xc1) and fabrics (0x7f) opcodes: EACCES even read-write. Admin: Identify CNS 00h, 01h,
#   05h, 06h, 08h allowed; Identify CNS 02h, Get Log Page, Get Features, vendor: EACCES.
# - A data length that does not match the transfer (a one-block Read with an 8-byte buffer,
#   a one-block Read or Write with none): EINVAL on ours. The C driver passes the caller's
#   buffer on as it is: for 8 bytes QEMU answers Data SGL Length Invalid (status 0x400f) and
#   writes nothing into the caller's memory (the probe would report a "spill" past the 8
#   bytes); with no buffer the command goes out without a data pointer and succeeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-fd-probe" tests/vm/tools/nvme-fd-probe.c
tests/harness/vm.sh --name passthru-rules --timeout 180 \
	--file "$tmp/nvme-fd-probe=/usr/bin/nvme-fd-probe" \
	--disk d1=64M --disk d2=32M \
	--nvme serial=rnpr0,id=c0 \
	--qemu '-device nvme-ns,drive=d1,nsid=1,bus=c0 -device nvme-ns,drive=d2,nsid=2,bus=c0' - <<'GUEST'
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)

# One case a line: name | outcome on rust_nvme | outcome on the C driver | probe arguments ($D
# the disk of namespace 1, $P its partition, $C the controller's char device; "-u 1000" drops
# to uid 1000 before opening). An outcome is the probe's line; "allowed" is "ok" or an NVMe
# status (the controller's answer, whatever it is: the driver let the command through).
CASES='
nsid2-io-root         | EINVAL      | EINVAL      | -o $D io opc=2 nsid=2 cdw10=100 len=512
nsid2-io64-root       | EINVAL      | EINVAL      | -o $D io64 opc=2 nsid=2 cdw10=100 len=512
nsid0-io-root         | EINVAL      | EINVAL      | -o $D io opc=2 nsid=0 cdw10=100 len=512
nsid0-io64-root       | EINVAL      | EINVAL      | -o $D io64 opc=2 nsid=0 cdw10=100 len=512
nsidall-io-root       | EINVAL      | EINVAL      | -o $D io opc=2 nsid=0xffffffff cdw10=100 len=512
nsidall-io64-root     | EINVAL      | EINVAL      | -o $D io64 opc=2 nsid=0xffffffff cdw10=100 len=512
nsid2-write-root      | EINVAL      | EINVAL      | -w $D io opc=1 nsid=2 cdw10=200 len=512 fill=0x77
nsid2-io-user         | EINVAL      | EINVAL      | -u 1000 -o $D io opc=2 nsid=2 cdw10=100 len=512
nsid2-io64-user       | EINVAL      | EINVAL      | -u 1000 -o $D io64 opc=2 nsid=2 cdw10=100 len=512
nsid0-io-user         | EINVAL      | EINVAL      | -u 1000 -o $D io opc=2 nsid=0 cdw10=100 len=512
nsid0-io64-user       | EINVAL      | EINVAL      | -u 1000 -o $D io64 opc=2 nsid=0 cdw10=100 len=512
nsidall-io-user       | EINVAL      | EINVAL      | -u 1000 -o $D io opc=2 nsid=0xffffffff cdw10=100 len=512
nsidall-io64-user     | EINVAL      | EINVAL      | -u 1000 -o $D io64 opc=2 nsid=0xffffffff cdw10=100 len=512
part-io-read-user     | EACCES      | ok data=ok  | -u 1000 -o $P io opc=2 nsid=1 cdw10=100 len=512 check=0xa5
part-io64-read-user   | EACCES      | EACCES      | -u 1000 -o $P io64 opc=2 nsid=1 cdw10=100 len=512 check=0xa5
part-identify-user    | EACCES      | ok          | -u 1000 -o $P admin opc=6 cdw10=1 len=4096
part-identify64-user  | EACCES      | ok          | -u 1000 -o $P admin64 opc=6 cdw10=1 len=4096
part-id-user          | ok id=1     | ok id=1     | -u 1000 -o $P id
part-io-read-root     | ok data=ok  | ok data=ok  | -o $P io opc=2 nsid=1 cdw10=100 len=512 check=0xa5
part-io64-read-root   | ok data=ok  | ok data=ok  | -o $P io64 opc=2 nsid=1 cdw10=100 len=512 check=0xa5
part-identify-root    | ok          | ok          | -o $P admin opc=6 cdw10=1 len=4096
part-id-root          | ok id=1     | ok id=1     | -o $P id
ro-read               | ok data=ok  | ok data=ok  | -u 1000 -o $D io opc=2 nsid=1 cdw10=100 len=512 check=0xa5
ro-read64             | ok data=ok  | ok data=ok  | -u 1000 -o $D io64 opc=2 nsid=1 cdw10=100 len=512 check=0xa5
ro-write              | EACCES      | EACCES      | -u 1000 -o $D io opc=1 nsid=1 cdw10=300 len=512 fill=0x3c
ro-write64            | EACCES      | EACCES      | -u 1000 -o $D io64 opc=1 nsid=1 cdw10=300 len=512 fill=0x3c
ro-write-zeroes       | EACCES      | EACCES      | -u 1000 -o $D io opc=8 nsid=1 cdw10=310
ro-dsm                | EACCES      | EACCES      | -u 1000 -o $D io opc=9 nsid=1 cdw10=0 cdw11=4 len=16
ro-flush              | EACCES      | EACCES      | -u 1000 -o $D io opc=0 nsid=1
rw-write              | ok          | ok          | -u 1000 -w $D io opc=1 nsid=1 cdw10=300 len=512 fill=0x3c
rw-write-readback     | ok data=ok  | ok data=ok  | -u 1000 -o $D io opc=2 nsid=1 cdw10=300 len=512 check=0x3c
rw-write64            | ok          | ok          | -u 1000 -w $D io64 opc=1 nsid=1 cdw10=301 len=512 fill=0x3d
rw-write-zeroes       | ok          | ok          | -u 1000 -w $D io opc=8 nsid=1 cdw10=302 cdw12=1
rw-zeroes-readback    | ok data=ok  | ok data=ok  | -u 1000 -o $D io opc=2 nsid=1 cdw10=302 cdw12=1 len=1024 check=0
rw-flush              | ok          | ok          | -u 1000 -w $D io opc=0 nsid=1
rw-vendor-81          | EACCES      | EACCES      | -u 1000 -w $D io opc=0x81 nsid=1
rw-vendor-c1          | EACCES      | EACCES      | -u 1000 -w $D io opc=0xc1 nsid=1
rw-fabrics-7f         | EACCES      | EACCES      | -u 1000 -w $D io opc=0x7f nsid=1
admin-id-cns00-user   | ok          | ok          | -u 1000 -o $C admin opc=6 nsid=1 cdw10=0 len=4096
admin-id-cns01-user   | ok          | ok          | -u 1000 -o $C admin opc=6 cdw10=1 len=4096
admin-id-cns05-user   | allowed     | allowed     | -u 1000 -o $C admin opc=6 nsid=1 cdw10=5 len=4096
admin-id-cns06-user   | allowed     | allowed     | -u 1000 -o $C admin opc=6 cdw10=6 len=4096
admin-id-cns08-user   | allowed     | allowed     | -u 1000 -o $C admin opc=6 nsid=1 cdw10=8 len=4096
admin-id-cns02-user   | EACCES      | EACCES      | -u 1000 -o $C admin opc=6 cdw10=2 len=4096
admin-getlog-user     | EACCES      | EACCES      | -u 1000 -o $C admin opc=2 nsid=0xffffffff cdw10=0x7f0002 len=512
admin-getfeat-user    | EACCES      | EACCES      | -u 1000 -o $C admin opc=0xa cdw10=7
admin-vendor-user     | EACCES      | EACCES      | -u 1000 -o $C admin opc=0xc0
disk-id-cns01-user    | ok          | ok          | -u 1000 -o $D admin opc=6 cdw10=1 len=4096
disk-getlog-user      | EACCES      | EACCES      | -u 1000 -o $D admin opc=2 nsid=0xffffffff cdw10=0x7f0002 len=512
short-read-8          | EINVAL      | status=0x400f data=bad | -o $D io opc=2 nsid=1 cdw10=100 len=8 check=0xa5
short-read64-8        | EINVAL      | status=0x400f data=bad | -o $D io64 opc=2 nsid=1 cdw10=100 len=8 check=0xa5
nolen-read            | EINVAL      | ok          | -o $D io opc=2 nsid=1 cdw10=100
nolen-write           | EINVAL      | ok          | -w $D io opc=1 nsid=1 cdw10=400
'

# fill BYTE LBA COUNT DISK: writes COUNT 512-byte blocks of BYTE (octal) at LBA through the
# block device.
fill() {
	tr '\000' "\\$1" </dev/zero | /usr/bin/dd of=/tmp/fill bs=512 count="$3" iflag=fullblock status=none
	/usr/bin/dd if=/tmp/fill of="/dev/$4" bs=512 seek="$2" oflag=direct conv=notrunc status=none
}
# block_is BYTE LBA COUNT DISK: the blocks read back through the block device hold only BYTE.
block_is() {
	tr '\000' "\\$1" </dev/zero | /usr/bin/dd of=/tmp/want bs=512 count="$3" iflag=fullblock status=none
	/usr/bin/dd if="/dev/$4" of=/tmp/got bs=512 skip="$2" count="$3" iflag=direct status=none
	/usr/bin/cmp -s /tmp/want /tmp/got
}

# trim TEXT: TEXT without leading and trailing blanks.
trim() {
	local v=$1
	v=${v#"${v%%[! ]*}"}
	printf '%s' "${v%"${v##*[! ]}"}"
}
# outcome_is GOT WANT: the probe's line GOT is the outcome WANT (see CASES).
outcome_is() {
	case "$2" in
	allowed) case "$1" in ok | ok\ * | status=*) return 0 ;; esac ;;
	*) [ "$1" = "$2" ] && return 0 ;;
	esac
	return 1
}

# run_cases DRIVER(rust|c) DISK CHARDEV: every case on these nodes; writes "name outcome"
# lines to /tmp/DRIVER.out.
run_cases() {
	D=/dev/$2 P=/dev/${2}p1 C=/dev/$3
	chmod 666 "$D" "$P" "$C"
	fill 245 100 8 "$2" # 0xa5: what the read cases check for
	fill 000 200 1 "$ns2"
	: >/tmp/$1.out
	echo "$CASES" | while IFS='|' read -r name ours cres args; do
		name=$(trim "$name")
		[ -n "$name" ] || continue
		got=$(eval "nvme-fd-probe $args")
		echo "$name $got" >>/tmp/$1.out
	done
	# Data the cases wrote, seen through the block device.
	block_is 074 300 1 "$2" || fail "$1: uid 1000's passthrough Write (0x3c at LBA 300) does not read back through /dev/$2"
	block_is 075 301 1 "$2" || fail "$1: uid 1000's IO64 Write (0x3d at LBA 301) does not read back through /dev/$2"
	block_is 000 302 2 "$2" || fail "$1: Write Zeroes at LBA 302 does not read back as zeroes through /dev/$2"
	if block_is 167 200 1 "$ns2"; then
		echo "nsid2-write-landed yes" >>/tmp/$1.out
	else
		echo "nsid2-write-landed no" >>/tmp/$1.out
	fi
	log "$1: $(wc -l </tmp/$1.out) cases on $D, $P, $C"
}

# The C driver first, on the same controller; it also writes the partition table.
bind "$a" nvme
wait_for '[ "$(disks_of '"$a"' | wc -w)" = 2 ]' 20
for d in $(disks_of "$a"); do
	case "$(cat /sys/block/$d/nsid)" in 1) cd1=$d ;; 2) cd2=$d ;; esac
done
# An MBR with one Linux partition: 4 MiB from LBA 2048.
{
	/usr/bin/dd if=/dev/zero bs=446 count=1 status=none
	printf '\000\000\000\000\203\000\000\000\000\010\000\000\000\040\000\000'
	/usr/bin/dd if=/dev/zero bs=48 count=1 status=none
	printf '\125\252'
} >/tmp/mbr
[ "$(wc -c </tmp/mbr)" = 512 ] || fail "the MBR is $(wc -c </tmp/mbr) bytes"
/usr/bin/dd if=/tmp/mbr of=/dev/$cd1 bs=512 count=1 oflag=direct conv=notrunc status=none
blockdev --rereadpt /dev/$cd1
wait_for '[ -e /dev/${cd1}p1 ]' 10
[ "$(cat /sys/block/$cd1/${cd1}p1/size)" = 8192 ] || fail "the partition is $(cat /sys/block/$cd1/${cd1}p1/size) sectors, want 8192"
ns2=$cd2
run_cases c "$cd1" "$(ls /sys/bus/pci/devices/$a/nvme/)"
unbind "$a"

bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0n1 ] && [ -e /dev/rnvme0n2 ]' 20
wait_for '[ -e /dev/rnvme0n1p1 ]' 10
[ "$(cat /sys/block/rnvme0n1/rnvme0n1p1/size)" = 8192 ] || fail "rnvme0n1p1 is $(cat /sys/block/rnvme0n1/rnvme0n1p1/size) sectors, want 8192"
ns2=rnvme0n2
run_cases rust rnvme0n1 rnvme0
unbind "$a"

# The table: each driver's outcome against what it must (or, for the C driver, is known to) be.
printf '%-21s %-24s %-24s\n' case rust_nvme "C nvme"
{
	echo "$CASES"
	echo 'nsid2-write-landed | no | no |'
} | while IFS='|' read -r name ours cres args; do
	name=$(trim "$name") ours=$(trim "$ours") cres=$(trim "$cres")
	[ -n "$name" ] || continue
	r=$(sed -n "s/^$name //p" /tmp/rust.out)
	c=$(sed -n "s/^$name //p" /tmp/c.out)
	mark=''
	outcome_is "$r" "$ours" || mark=" <- rust_nvme: want $ours"
	outcome_is "$c" "$cres" || mark="$mark <- C: want $cres"
	printf '%-21s %-24s %-24s%s\n' "$name" "$r" "$c" "$mark"
	[ -z "$mark" ] || echo "$name" >>/tmp/bad
done
if [ -s /tmp/bad ]; then
	fail "$(wc -l </tmp/bad) cases have an unexpected outcome: $(tr '\n' ' ' </tmp/bad)"
fi
log "every case has its expected outcome on both drivers"
unload_rust_driver
GUEST
