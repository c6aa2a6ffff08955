#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Probe under slab allocation failure (CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS,
# in the test kernel and the debug kernel; skipped on a kernel without them). Only the task that
# writes the controller's address to drivers_probe sees failures (the probe runs in it):
#   - systematic: /proc/self/fail-nth fails exactly its N-th fault-injection point, for 8
#     values of N spread over the first quarter of a bind (the count is measured first with
#     a bind that fails nothing), densest at the start of the probe;
#   - random: failslab's task-filter with /proc/self/make-it-fail, probability 10% or 25%,
#     past a "space" budget of 0 to 512 KiB of allocations, 14 times.
# Each attempt either binds with a working disk (a 1 MiB write and read-back compares
# equal), or binds with no disk and the driver saying why, or fails cleanly: not bound, no
# disk, the driver core's "probe with driver rust_nvme failed" line. Every attempt is
# unbound, after which a normal bind and a fio verify must work. The console must stay
# clean: no KASAN report, lockdep splat, warning, or kmemleak leak (scanned after the test
# by /init). The one report allowed is the kernel's own for an injected failure of an
# allocation made without __GFP_NOWARN (warn_alloc: "vmalloc error" or "page allocation
# failure" and its call trace), e.g. the block layer's vmalloc in the partition scan that
# add_disk runs: the report is the kernel's, printed whichever driver adds the disk. Also
# allowed: a Linux 7.3 bug that the same failures reach, SRCU's warning when
# blk_mq_alloc_tag_set() cleans up after failing to allocate its request maps (see
# tests/harness/scan-console.sh for the exact pattern). Two slab caches are spared, for two
# kernel bugs that injection reaches outside the driver (see below).
set -euo pipefail
cd "$(dirname "$0")/../.."

. tests/harness/lib.sh
kdir=${KDIR:-$(rnvme_kdir)}
rnvme_need_kconfig "$kdir" FAILSLAB FAULT_INJECTION_DEBUG_FS

rc=0
[ -f "$kdir/fs/configfs/configfs.ko" ] || { echo "no $kdir/fs/configfs/configfs.ko (null_blk needs it)"; exit 1; }
out=$(tests/harness/vm.sh --name failslab-probe --timeout 600 --append slab_nomerge --allow-alloc-warnings \
	--file "$kdir/fs/configfs/configfs.ko=/lib/modules/configfs.ko" \
	--disk d0=64M --nvme serial=rfs0,drive=d0 - 2>&1 <<'GUEST'
FS=/sys/kernel/debug/failslab
if [ ! -d $FS ] || [ ! -e /proc/self/fail-nth ]; then
	echo "RNVME-SKIP: the guest kernel has no $FS or /proc/self/fail-nth"
	exit 77
fi
# GFP_KERNEL allocations too; one log line per injected failure, never a stack dump (a
# "Call Trace" would fail the console scan); nothing fails unless a task asks for it.
echo N >$FS/ignore-gfp-wait
echo 1 >$FS/verbose
# Every slab cache may fail but two, whose failure the kernel itself does not survive
# cleanly; both are reports about the injection, not about the driver:
#   - proc_dir_entry: the /proc/irq code ignores a failure to create an IRQ's entries and
#     then WARNs when it removes them as the vectors are freed (fs/proc/generic.c
#     remove_proc_entry from unregister_irq_proc);
#   - maple_node: irq_insert_desc() (kernel/irq/irqdesc.c) only WARNs when it cannot store
#     a new IRQ descriptor in the sparse-IRQ maple tree, and the MSI-X allocation under
#     pci_alloc_irq_vectors() then dereferences the missing descriptor (a NULL pointer
#     oops in irq_domain_alloc_irqs_locked; seen once in CI, with the probe's vector
#     allocation as the caller).
# (slab_nomerge keeps every cache its own, so each one takes the flag.)
spared="proc_dir_entry maple_node"
for c in $spared; do
	[ -e /sys/kernel/slab/$c/failslab ] || fail "no /sys/kernel/slab/$c/failslab"
done
echo Y >$FS/cache-filter
ncache=0
for c in /sys/kernel/slab/*/failslab; do
	n=${c%/failslab}
	n=${n##*/}
	case " $spared " in *" $n "*) continue ;; esac
	if echo 1 >"$c" 2>/dev/null; then ncache=$((ncache + 1)); fi
done
for c in $spared; do
	[ "$(cat /sys/kernel/slab/$c/failslab)" = 0 ] || fail "$c is marked to fail"
done
[ $ncache -ge 50 ] || fail "only $ncache slab caches took the failslab flag"
log "failslab armed on $ncache slab caches (all but $spared)"
# A null_blk disk keeps the block layer's shared "bio-*" slab cache alive, so that a bind
# never has to create it under injection: a failed kmem_cache_create() dumps its stack.
insmod /lib/modules/configfs.ko || fail "insmod configfs.ko failed"
load_null_blk nr_devices=1
[ -e /sys/block/nullb0 ] || fail "null_blk made no nullb0"
echo Y >$FS/task-filter
echo 0 >$FS/probability
echo 1 >$FS/interval
echo 0 >$FS/space
echo -1 >$FS/times

load_rust_driver
a=$(pci_addr_of 0)
/usr/bin/dd if=/dev/urandom of=/tmp/pat.bin bs=1M count=1 status=none
bound_disk=0 bound_nodisk=0 failed=0 nowrite=0 injected=0 tries=0

# The subshells below open drivers_probe before they arm a fault, so the failures land in
# the write and the probe it runs, not in opening the file.
# probe_fail_nth N: writes to drivers_probe with the N-th fault-injection point of this
# subshell failing; prints the fail-nth countdown after the write (0 once injected). With
# kmemleak, each slab allocation is two points (the object, then kmemleak's record of it,
# whose failure kmemleak absorbs).
probe_fail_nth() {
	(
		exec 3>/sys/bus/pci/drivers_probe
		echo "$1" >/proc/self/fail-nth
		echo "$a" >&3 || echo "write-failed" >/tmp/probe.err
		read -r left </proc/self/fail-nth || left=unknown
		echo "$left"
	)
}
# probe_random SPACE: writes to drivers_probe with each allocation of this subshell past
# the first SPACE bytes failing with failslab's probability.
probe_random() {
	(
		exec 3>/sys/bus/pci/drivers_probe
		echo "$1" >$FS/space
		echo 1 >/proc/self/make-it-fail
		echo "$a" >&3 || echo "write-failed" >/tmp/probe.err
	) || echo "write-failed" >/tmp/probe.err
}
# attempt LABEL PROBE_CMD...: one bind attempt under PROBE_CMD, judged and undone.
attempt() {
	local label=$1 d drv why
	shift
	tries=$((tries + 1))
	dmesg -c >/dev/null
	rm -f /tmp/probe.err
	echo rust_nvme >/sys/bus/pci/devices/$a/driver_override
	"$@" >/tmp/probe.out
	drv=$(driver_of "$a")
	if [ "$drv" = rust_nvme ]; then
		# A disk comes with the probe, or not at all; give a slow debug kernel time.
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			[ -z "$(disks_of "$a")" ] || break
			sleep 0.25
		done
		d=$(disks_of "$a")
		if [ -n "$d" ]; then
			[ "$(echo "$d" | wc -l)" = 1 ] || fail "$label: bound with disks '$d'"
			/usr/bin/dd if=/tmp/pat.bin of=/dev/$d bs=1M seek=$((tries % 60)) oflag=direct conv=notrunc status=none ||
				fail "$label: bound with /dev/$d, but writing 1 MiB failed"
			/usr/bin/dd if=/dev/$d of=/tmp/back.bin bs=1M skip=$((tries % 60)) count=1 iflag=direct status=none ||
				fail "$label: bound with /dev/$d, but reading 1 MiB failed"
			/usr/bin/cmp -s /tmp/pat.bin /tmp/back.bin || fail "$label: /dev/$d read back other data than written"
			bound_disk=$((bound_disk + 1))
			why="bound, /dev/$d works"
		else
			why=$(dmesg | grep "rust_nvme $a: " | grep -iv ' I/O queues of depth ' | grep -i 'fail\|error\|skipped' |
				sed 's/^\[[^]]*\] //; s/^rust_nvme [^ ]* //' | tr '\n' ';')
			[ -n "$why" ] || fail "$label: bound without a disk, and the driver said nothing about it"
			bound_nodisk=$((bound_nodisk + 1))
			why="bound without a disk: $why"
		fi
		unbind "$a" >/dev/null
	else
		[ -z "$drv" ] || fail "$label: bound to $drv"
		[ -z "$(disks_of "$a")" ] || fail "$label: not bound, yet disks '$(disks_of "$a")'"
		if dmesg | grep -q "rust_nvme $a: probe with driver rust_nvme failed with error"; then
			failed=$((failed + 1))
			why="$(dmesg | grep "rust_nvme $a: " | grep -v 'probe with driver' | sed 's/^\[[^]]*\] //; s/^rust_nvme [^ ]* //' | tr '\n' ';')"
			why="probe failed with error ${why:+($why) }$(dmesg | grep -o 'probe with driver rust_nvme failed with error.*' | tail -n 1 | sed 's/.* //')"
		elif [ -s /tmp/probe.err ]; then
			nowrite=$((nowrite + 1))
			why="the write to drivers_probe itself failed (no probe)"
		else
			fail "$label: not bound, no probe failure logged and the write did not fail"
		fi
		echo none >/sys/bus/pci/devices/$a/driver_override
	fi
	[ -z "$(ls /sys/block | grep rnvme)" ] || fail "$label: disks left after unbind: $(ls /sys/block | grep rnvme)"
	log "$label: $why"
}

# How many fault-injection points a clean bind passes (the subshell's own few included).
echo rust_nvme >/sys/bus/pci/devices/$a/driver_override
left=$(probe_fail_nth 1000000)
[ "$(driver_of "$a")" = rust_nvme ] || fail "the measuring bind failed"
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
unbind "$a" >/dev/null
case "$left" in '' | *[!0-9]*) fail "could not read /proc/self/fail-nth back: '$left'" ;; esac
K=$((1000000 - left))
[ $K -ge 20 ] || fail "a bind passes only $K fault-injection points; is failslab counting GFP_KERNEL?"
log "a bind passes $K fault-injection points"

# geo K COUNT: COUNT increasing integers from 2 to about K, spaced geometrically (busybox
# awk has no exp/log: fixed-point arithmetic in the shell).
geo() {
	local k=$1 c=$2 r=1001 x j m n
	while :; do
		x=2000000 j=1
		while [ $j -lt $c ]; do x=$((x * r / 1000)) j=$((j + 1)); done
		[ $((x / 1000000)) -lt $k ] || break
		r=$((r + 1))
	done
	x=2000000 n=0 j=0
	while [ $j -lt $c ]; do
		m=$((x / 1000000))
		[ $m -gt $n ] || m=$((n + 1))
		echo $m
		n=$m x=$((x * r / 1000)) j=$((j + 1))
	done
}
# 8 points over the first quarter: dense early on, where the driver brings the controller
# up (BARs, admin queue, vectors, interrupts), sparser towards adding the disk. (Many of
# them hit allocations whose failure the kernel absorbs, such as kmemleak's own records,
# debugfs files or a smaller tag depth; the random runs below reach further.)
points=$(geo $((K / 4)) 8)
[ "$(echo "$points" | wc -l)" = 8 ] || fail "could not compute the fail-nth points: '$points'"
log "fail-nth points: $(echo $points)"
for n in $points; do
	attempt "fail-nth $n" probe_fail_nth $n
	[ "$(cat /tmp/probe.out)" != 0 ] || injected=$((injected + 1))
done
fi_nth=$injected

echo 100000 >$FS/times
i=0
for sp in 0 1024 2048 4096 8192 16384 32768 65536 98304 131072 196608 262144 393216 524288; do
	p=10
	[ $((i % 2)) = 0 ] || p=25
	echo $p >$FS/probability
	t0=$(cat $FS/times)
	attempt "probability $p%, space $sp" probe_random $sp
	t1=$(cat $FS/times)
	[ $t1 = $t0 ] || injected=$((injected + 1))
	log "  $((t0 - t1)) allocation(s) failed"
	i=$((i + 1))
done
echo 0 >$FS/probability
echo 0 >$FS/space
echo -1 >$FS/times

log "$tries attempts: $bound_disk bound with a working disk, $bound_nodisk bound without disk, $failed probe failures, $nowrite failed before the probe; faults injected in $injected ($fi_nth of 8 fail-nth)"
[ $injected -ge 12 ] || fail "faults were injected in only $injected of $tries attempts: the test exercised little"
[ $((failed + bound_nodisk)) -ge 4 ] || fail "only $((failed + bound_nodisk)) attempts saw the probe fail: the injected faults missed the driver"

log "a normal bind"
bind "$a" rust_nvme
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
fio_verify /dev/$(disks_of "$a") 8M
unbind "$a"
unload_rust_driver
GUEST
) || rc=$?
echo "$out"
if grep -q 'RNVME-SKIP: ' <<<"$out"; then
	grep -o 'RNVME-SKIP: .*' <<<"$out" | head -n 1 | sed 's/RNVME-SKIP: /skipped: /'
	exit 77
fi
exit $rc
