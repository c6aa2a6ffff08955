#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Power loss: every write the driver acknowledged as durable survives a sudden stop.
#
# The controllers have a volatile write cache (write-cache=on) over qcow2 images opened
# with cache=writeback: QEMU keeps a qcow2 image's cluster mappings in memory until the
# guest flushes, so after a kill -9 of QEMU a write into a newly allocated cluster that
# was never flushed reads back as zeroes, as with a drive losing its cache at power loss.
#
# VM 1 (rust_nvme): first writes 24 control records to the second controller with
# O_DIRECT and no flush, then loops writing numbered 4 KiB records (a header and random
# bytes, each into a new 64 KiB cluster) to the first controller, alternately with
# O_DIRECT|O_DSYNC (a FUA write) and O_DIRECT plus fsync (a write, then a Flush), and
# prints a line with the record's sha256 once the call returned. The host kills QEMU with
# SIGKILL once it has seen enough of those lines. VM 2 (rust_nvme again) attaches the same
# images: every acknowledged record must read back intact, and at least one control record
# must be lost, which proves that the kill dropped what was not made durable.
set -euo pipefail
cd "$(dirname "$0")/../.."

RECORDS=${PL_RECORDS:-80}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-power-loss.XXXXXX")
vmpid=''
cleanup() {
	if [ -n "$vmpid" ] && kill -0 "$vmpid" 2>/dev/null; then
		[ ! -s "$tmp/qemu.pid" ] || kill -9 "$(cat "$tmp/qemu.pid")" 2>/dev/null || true
		wait "$vmpid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
logdir=${RNVME_LOGDIR:-build/logs}
log1=$logdir/power-loss-1.log

qemu-img create -q -f qcow2 "$tmp/data.qcow2" 512M
qemu-img create -q -f qcow2 "$tmp/ctl.qcow2" 64M
drives="-drive file=$tmp/data.qcow2,if=none,id=pl,format=qcow2,cache=writeback
	-drive file=$tmp/ctl.qcow2,if=none,id=ctl,format=qcow2,cache=writeback"

echo "== VM 1: records until QEMU is killed after $RECORDS acknowledged ones"
rm -f "$log1"
tests/harness/vm.sh --name power-loss-1 --timeout 150 \
	--qemu "-pidfile $tmp/qemu.pid $drives" \
	--nvme serial=rpl0,drive=pl,write-cache=on \
	--nvme serial=rpl1,drive=ctl,write-cache=on - >"$tmp/vm1.out" 2>&1 <<'GUEST' &
load_rust_driver
a=$(pci_addr_of 0)
c=$(pci_addr_of 1)
bind "$a" rust_nvme
bind "$c" rust_nvme
wait_for '[ -n "$(disks_of '"$a"')" ] && [ -n "$(disks_of '"$c"')" ]' 20
d=$(disks_of "$a")
k=$(disks_of "$c")
for x in $d $k; do
	[ "$(cat /sys/block/$x/queue/write_cache)" = "write back" ] ||
		fail "$x: write_cache is '$(cat /sys/block/$x/queue/write_cache)', want 'write back' (write-cache=on)"
	[ "$(cat /sys/block/$x/queue/fua)" = 1 ] || fail "$x: no FUA support advertised"
done
# mkrec N: record N in /tmp/rec (a header naming it, random bytes) and its sha256.
mkrec() {
	{
		printf 'rnvme power-loss record %d\n' $1
		head -c 4096 /dev/urandom
	} | head -c 4096 >/tmp/rec
	/usr/bin/sha256sum </tmp/rec | cut -d' ' -f1
}
# Lines starting with '[' are kept off vm.sh's live output (as kernel lines are).
i=1
while [ $i -le 24 ]; do
	s=$(mkrec $i)
	/usr/bin/dd if=/tmp/rec of=/dev/$k bs=4k seek=$((i * 16)) oflag=direct conv=notrunc status=none ||
		fail "control record $i: write failed"
	echo "[pl] NOSYNC $i $s"
	i=$((i + 1))
done
echo "PL-WRITING /dev/$d"
i=1
while :; do
	s=$(mkrec $i)
	echo "[pl] WRITE $i $s"
	if [ $((i % 2)) = 1 ]; then
		/usr/bin/dd if=/tmp/rec of=/dev/$d bs=4k seek=$((i * 16)) oflag=direct,dsync conv=notrunc status=none ||
			fail "record $i: O_DSYNC write failed"
	else
		/usr/bin/dd if=/tmp/rec of=/dev/$d bs=4k seek=$((i * 16)) oflag=direct conv=notrunc,fsync status=none ||
			fail "record $i: write or fsync failed"
	fi
	echo "[pl] ACK $i $s"
	i=$((i + 1))
	[ $i -lt 8000 ] || fail "the host never stopped the VM"
done
GUEST
vmpid=$!

# Wait for RECORDS acknowledged records, then pull the plug. (The debug kernel is several
# times slower: the same stretch as vm.sh applies to its time limits.)
slow=1
[ "${RNVME_VARIANT:-}" != debug ] || slow=${RNVME_DEBUG_SLOWDOWN:-6}
end=$((SECONDS + 120 * slow))
acks=0
while :; do
	acks=$(grep -aEc '^\[pl\] ACK [0-9]+ [0-9a-f]{64}' "$log1" 2>/dev/null) || acks=0
	[ "$acks" -lt "$RECORDS" ] || break
	if ! kill -0 "$vmpid" 2>/dev/null; then
		cat "$tmp/vm1.out"
		echo "FAIL: VM 1 ended by itself after $acks acknowledged records"
		exit 1
	fi
	if [ $SECONDS -ge $end ]; then
		cat "$tmp/vm1.out"
		echo "FAIL: only $acks acknowledged records after $((120 * slow)) s"
		exit 1
	fi
	sleep 0.2
done
[ -s "$tmp/qemu.pid" ] || { echo "FAIL: QEMU wrote no pid file"; exit 1; }
kill -9 "$(cat "$tmp/qemu.pid")"
rc=0
wait "$vmpid" || rc=$?
vmpid=''
echo "   (QEMU was killed on purpose: vm.sh's verdict on VM 1 below is expected to be a FAIL)"
sed 's/^/    /' "$tmp/vm1.out"
[ $rc != 0 ] || { echo "FAIL: vm.sh passed a VM that was killed"; exit 1; }
grep -aq '^RNVME-EXIT' "$log1" && { echo "FAIL: VM 1's guest script ended before the kill"; exit 1; }
grep -aq '^RNVME-FAIL' "$log1" && { echo "FAIL: VM 1's guest script failed: $(grep -a '^RNVME-FAIL' "$log1")"; exit 1; }
tests/harness/scan-console.sh "$log1" || { echo "FAIL: kernel reports on VM 1's console"; exit 1; }
# The kill can cut the console's last line short: an ACK line counts only with its whole
# sha256 (64 hex digits), as a line the guest printed in full.
sed 's/\r$//' "$log1" | awk '$1 == "[pl]" && $2 == "ACK" && length($4) == 64 && $4 !~ /[^0-9a-f]/ { print $3, $4 }' >"$tmp/acks"
sed 's/\r$//' "$log1" | awk '$1 == "[pl]" && $2 == "NOSYNC" { print $3, $4 }' >"$tmp/nosync"
n=$(wc -l <"$tmp/acks")
last=$(tail -n 1 "$tmp/acks" | cut -d' ' -f1)
[ "$n" -ge "$RECORDS" ] && [ "$last" = "$n" ] || { echo "FAIL: acknowledged records are not 1..$n (last $last)"; exit 1; }
[ "$(wc -l <"$tmp/nosync")" = 24 ] || { echo "FAIL: VM 1 did not write its 24 control records"; exit 1; }
inflight=$(sed 's/\r$//' "$log1" | awk '$1 == "[pl]" && $2 == "WRITE" { w = $3 } END { print w }')
echo "   killed QEMU after $n acknowledged records (record $inflight was the last one started)"
qemu-img check -q "$tmp/data.qcow2" >"$tmp/check.out" 2>&1 || echo "   qemu-img check after the kill (informational): $(tr '\n' ' ' <"$tmp/check.out")"

echo "== VM 2: every acknowledged record must read back"
tests/harness/vm.sh --name power-loss-2 --timeout 120 \
	--file "$tmp/acks=/pl-acks" --file "$tmp/nosync=/pl-nosync" \
	--qemu "$drives" \
	--nvme serial=rpl0,drive=pl,write-cache=on \
	--nvme serial=rpl1,drive=ctl,write-cache=on - <<'GUEST'
load_rust_driver
a=$(pci_addr_of 0)
c=$(pci_addr_of 1)
bind "$a" rust_nvme
bind "$c" rust_nvme
wait_for '[ -n "$(disks_of '"$a"')" ] && [ -n "$(disks_of '"$c"')" ]' 20
d=$(disks_of "$a")
k=$(disks_of "$c")
# rec DEV N: sha256 of the 4 KiB at record N's place.
rec() {
	/usr/bin/dd if=/dev/$1 bs=4k skip=$(($2 * 16)) count=1 iflag=direct status=none | /usr/bin/sha256sum | cut -d' ' -f1
}
n=0 bad=0
while read -r i s; do
	got=$(rec $d $i)
	if [ "$got" != "$s" ]; then
		echo "record $i: lost or damaged: $(/usr/bin/dd if=/dev/$d bs=4k skip=$((i * 16)) count=1 iflag=direct status=none | head -c 40 | tr -c '[:print:]' '.')"
		bad=$((bad + 1))
	fi
	n=$((n + 1))
done </pl-acks
[ $n -gt 0 ] || fail "no acknowledged records to check"
[ $bad = 0 ] || fail "$bad of $n acknowledged records did not survive the power loss"
log "all $n acknowledged records read back intact"
lost=0
while read -r i s; do
	[ "$(rec $k $i)" = "$s" ] || lost=$((lost + 1))
done </pl-nosync
log "$lost of 24 control records written without a flush were lost"
[ $lost -gt 0 ] || fail "no unflushed control record was lost: the kill does not simulate a power loss, so this test proves nothing"
unbind "$a"
unbind "$c"
unload_rust_driver
GUEST
