#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Discard, write zeroes, the write cache and flushes, with QEMU tracing every
# I/O command it receives (pci_nvme_io_cmd) into a log the host reads after
# the run. Three controllers, one namespace each, on distinct nsids so the
# trace tells them apart:
#   nsid 1, write-cache=on, 512-byte blocks: discard and write-zeroes limits
#     are non-zero, blkdiscard and blkdiscard -z (one range not 4 KiB
#     aligned) leave the -z ranges zero and everything outside the ranges as
#     written, and reach the device as DSM and Write Zeroes; the queue says
#     "write back" and every fsync reaches the device as a Flush.
#   nsid 2, write-cache=off: the queue's write_cache follows the controller's
#     VWC bit, read with nvme-cli through the C driver (QEMU 10 sets VWC
#     present whatever write-cache says), and agrees with the C driver's.
#   nsid 3, write-cache=on, 4096-byte blocks: set to "write through" in
#     sysfs, fsyncs must send no Flush at all; a write-zeroes there works.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-dz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
FSYNCS=3
rc=0
tests/harness/vm.sh --name discard-zeroes --timeout 150 \
	--disk d0=64M,discard=unmap --disk d1=16M --disk d2=16M \
	--nvme serial=rdz0,drive=d0,write-cache=on \
	--nvme id=nv1,serial=rdz1 \
	--qemu '-device nvme-ns,drive=d1,bus=nv1,nsid=2,write-cache=off' \
	--nvme id=nv2,serial=rdz2 \
	--qemu '-device nvme-ns,drive=d2,bus=nv2,nsid=3,write-cache=on,logical_block_size=4096,physical_block_size=4096' \
	--qemu "-trace pci_nvme_io_cmd -D $tmp/trace.log" - <<'GUEST' || rc=$?
M=1048576
FSYNCS=3
# same DEV OFF LEN FILE: LEN bytes of DEV at OFF equal those of FILE at OFF.
same() {
	/usr/bin/dd if=$1 bs=64k iflag=direct,skip_bytes,count_bytes skip=$2 count=$3 status=none >/tmp/dev.part
	/usr/bin/dd if=$4 bs=64k iflag=skip_bytes,count_bytes skip=$2 count=$3 status=none >/tmp/file.part
	/usr/bin/cmp -s /tmp/dev.part /tmp/file.part
}
# zero DEV OFF LEN: LEN bytes of DEV at OFF are all zero.
zero() {
	[ -z "$(/usr/bin/dd if=$1 bs=64k iflag=direct,skip_bytes,count_bytes skip=$2 count=$3 status=none |
		od -v -An -tx1 | tr -d ' 0\n')" ]
}
# fsync_dev DEV: one fsync() of DEV, with nothing to write.
fsync_dev() {
	/usr/bin/dd if=/dev/null of=$1 conv=fsync,notrunc status=none || fail "fsync of $1 failed"
}
# discards DISK: completed discard requests of DISK (stat field 12).
discards() {
	awk '{print $12}' /sys/block/$1/stat
}

load_rust_driver
load_c_driver
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
a2=$(pci_addr_of 2)

# nsid 2 through the C driver first: the controller's VWC bit and the C
# driver's view of the cache.
bind "$a1" nvme
wait_for '[ -n "$(disks_of '"$a1"')" ]' 20
cdisk=$(disks_of "$a1")
cdev=$(basename /sys/bus/pci/devices/$a1/nvme/nvme*)
vwc=$(/usr/sbin/nvme id-ctrl /dev/$cdev | awk '$1 == "vwc" {print $3}')
[ -n "$vwc" ] || fail "nvme id-ctrl /dev/$cdev shows no vwc field"
c_wc=$(cat /sys/block/$cdisk/queue/write_cache)
unbind "$a1"
if [ $((vwc & 1)) = 1 ]; then want_wc="write back"; else want_wc="write through"; fi
log "nsid 2 (write-cache=off): VWC $vwc, so '$want_wc'; the C driver says '$c_wc'"

for a in "$a0" "$a1" "$a2"; do
	bind "$a" rust_nvme
	wait_for '[ -n "$(disks_of '"$a"')" ]' 20
done
d0=$(disks_of "$a0")
d1=$(disks_of "$a1")
d2=$(disks_of "$a2")
[ "$d0 $d1 $d2" = "rnvme0n1 rnvme1n2 rnvme2n3" ] || fail "disks are '$d0 $d1 $d2', want rnvme0n1 rnvme1n2 rnvme2n3"

for d in $d0 $d1 $d2; do
	dmb=$(cat /sys/block/$d/queue/discard_max_bytes)
	wzb=$(cat /sys/block/$d/queue/write_zeroes_max_bytes)
	[ "$dmb" -gt 0 ] || fail "$d: discard_max_bytes is $dmb"
	[ "$wzb" -gt 0 ] || fail "$d: write_zeroes_max_bytes is $wzb"
	log "$d: discard_max_bytes $dmb, write_zeroes_max_bytes $wzb, write_cache '$(cat /sys/block/$d/queue/write_cache)'"
done

# --- nsid 1: discard and write zeroes -----------------------------------
[ "$(cat /sys/block/$d0/queue/write_cache)" = "write back" ] ||
	fail "$d0 (write-cache=on): write_cache is '$(cat /sys/block/$d0/queue/write_cache)', want 'write back'"
/usr/bin/dd if=/dev/urandom of=/tmp/pat.bin bs=1M count=8 status=none
# Random data: a range that reads as zero afterwards was zeroed by the device.
/usr/bin/dd if=/tmp/pat.bin of=/dev/$d0 bs=1M count=4 oflag=direct conv=fsync status=none || fail "writing $d0 failed"
/usr/bin/dd if=/tmp/pat.bin of=/dev/$d0 bs=1M skip=4 seek=4 count=4 oflag=direct conv=fsync status=none ||
	fail "writing $d0 failed"
fsync_dev /dev/$d0
same /dev/$d0 0 $((8 * M)) /tmp/pat.bin || fail "$d0 does not read back the pattern"
n0=$(discards $d0)
/usr/sbin/blkdiscard -o $((1 * M)) -l $((2 * M)) /dev/$d0 || fail "blkdiscard 1M+2M on $d0 failed"
n1=$(discards $d0)
[ $((n1 - n0)) -ge 1 ] || fail "blkdiscard made no discard request on $d0"
z1=$((4 * M)) l1=$((2 * M))
z2=$((7 * M + 1024)) l2=3072
/usr/sbin/blkdiscard -z -o $z1 -l $l1 /dev/$d0 || fail "blkdiscard -z 4M+2M on $d0 failed"
/usr/sbin/blkdiscard -z -o $z2 -l $l2 /dev/$d0 || fail "blkdiscard -z 7M+1K+3K on $d0 failed"
echo 3 >/proc/sys/vm/drop_caches
zero /dev/$d0 $z1 $l1 || fail "$d0: the blkdiscard -z range $z1+$l1 is not all zero"
zero /dev/$d0 $z2 $l2 || fail "$d0: the blkdiscard -z range $z2+$l2 is not all zero"
same /dev/$d0 0 $((1 * M)) /tmp/pat.bin || fail "$d0: data before the discarded range changed"
same /dev/$d0 $((3 * M)) $((1 * M)) /tmp/pat.bin || fail "$d0: data between the discard and the first -z range changed"
same /dev/$d0 $((6 * M)) $((M + 1024)) /tmp/pat.bin || fail "$d0: data between the two -z ranges changed"
same /dev/$d0 $((z2 + l2)) $((8 * M - z2 - l2)) /tmp/pat.bin || fail "$d0: data after the second -z range changed"
log "$d0: discard of 1M+2M ($((n1 - n0)) requests), zeroes at $z1+$l1 and $z2+$l2 read as zero, the rest unchanged"

# --- nsid 2: write cache as the controller reports it --------------------
wc=$(cat /sys/block/$d1/queue/write_cache)
[ "$wc" = "$want_wc" ] || fail "$d1 (write-cache=off, VWC $vwc): write_cache is '$wc', want '$want_wc'"
[ "$wc" = "$c_wc" ] || fail "$d1: write_cache is '$wc', the C driver says '$c_wc'"

# --- nsid 3: write through set in sysfs: no flushes -----------------------
echo "write through" >/sys/block/$d2/queue/write_cache
[ "$(cat /sys/block/$d2/queue/write_cache)" = "write through" ] || fail "$d2: write_cache did not become 'write through'"
/usr/bin/dd if=/tmp/pat.bin of=/dev/$d2 bs=1M count=2 oflag=direct conv=fsync status=none || fail "writing $d2 failed"
i=0
while [ $i -lt $FSYNCS ]; do fsync_dev /dev/$d2; i=$((i + 1)); done
/usr/sbin/blkdiscard -z -o $((4096 * 3)) -l $((4096 * 5)) /dev/$d2 || fail "blkdiscard -z on $d2 failed"
zero /dev/$d2 $((4096 * 3)) $((4096 * 5)) || fail "$d2: the blkdiscard -z range is not all zero"
same /dev/$d2 0 $((4096 * 3)) /tmp/pat.bin || fail "$d2: data before the -z range changed"
same /dev/$d2 $((4096 * 8)) $((2 * M - 4096 * 8)) /tmp/pat.bin || fail "$d2: data after the -z range changed"
log "$d2: write through; $FSYNCS fsyncs and a write-zeroes done"

for a in "$a0" "$a1" "$a2"; do unbind "$a"; done
unload_rust_driver
unload_c_driver
GUEST

log=${RNVME_LOGDIR:-build/logs}/discard-zeroes.log
[ $rc = 0 ] || { echo "FAIL: the VM run failed (see $log)"; exit 1; }
trace=$tmp/trace.log
[ -s "$trace" ] || { echo "FAIL: QEMU wrote no trace to $trace"; exit 1; }
# count NSID OPNAME: commands of that kind QEMU received for that nsid.
count() {
	grep -c "pci_nvme_io_cmd .*nsid $1 .*opname '$2'" "$trace" || true
}
fail=0
check() { # WHAT GOT OP WANT
	if ! [ "$2" "$3" "$4" ]; then
		echo "FAIL: $1: $2 (want $3 $4)"
		fail=1
	else
		echo "ok: $1: $2"
	fi
}
# nsid 1: three fsyncs after writing (two dd conv=fsync, one bare fsync).
check "nsid 1 (write back) Flush commands after $FSYNCS fsyncs" "$(count 0x1 NVME_NVM_CMD_FLUSH)" -ge $FSYNCS
check "nsid 1 Dataset Management (discard) commands" "$(count 0x1 NVME_NVM_CMD_DSM)" -ge 1
check "nsid 1 Write Zeroes commands (two blkdiscard -z)" "$(count 0x1 NVME_NVM_CMD_WRITE_ZEROES)" -ge 2
check "nsid 3 Write commands" "$(count 0x3 NVME_NVM_CMD_WRITE)" -ge 1
check "nsid 3 Write Zeroes commands" "$(count 0x3 NVME_NVM_CMD_WRITE_ZEROES)" -ge 1
check "nsid 3 (write through) Flush commands after $((FSYNCS + 1)) fsyncs" "$(count 0x3 NVME_NVM_CMD_FLUSH)" -eq 0
check "broadcast-nsid Flush commands" "$(count 0xffffffff NVME_NVM_CMD_FLUSH)" -eq 0
[ $fail = 0 ] || { echo "FAIL: see the checks above; trace summary:"; sed 's/cid [0-9]* //' "$trace" | sort | uniq -c; exit 1; }
echo "PASS: discard-zeroes"
