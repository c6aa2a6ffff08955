#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make scale': bring-up time and memory at scale, rust_nvme against the C nvme driver in the
# same VM, under icount (guest time counts guest instructions, so host load does not move it).
#
# For each number of vCPUs (SCALE_CPUS, default "1 4 8") and of namespaces (SCALE_NS, default
# "1 32 256"), one VM with one controller whose namespaces are QEMU null-co nodes (16 MiB,
# 4 KiB blocks). In it each driver, in turn and SCALE_REPS times (default 2, alternating which
# goes first): the time from the write to drivers_probe (bind) until every namespace's disk
# is in /sys/block with its size, and what the bound controller costs in memory: the growth
# of Slab (kmalloc, slab caches) and of used memory (MemTotal - MemFree: pages, DMA-coherent
# buffers included) from before the bind to once every disk is there, after the caches
# settled (drop_caches). The medians go into a Markdown table, build/scale/<date>.md
# (SCALE_OUT= another directory), and on stdout.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$RNVME_ROOT"

cpus_list=${SCALE_CPUS:-1 4 8}
ns_list=${SCALE_NS:-1 32 256}
reps=${SCALE_REPS:-2}
outdir=${SCALE_OUT:-$RNVME_ROOT/build/scale}
stamp=$(date +%Y-%m-%d)
make -s || die "the module does not build"
mkdir -p "$outdir"
res=$outdir/$stamp.records
: >"$res"

for cpus in $cpus_list; do
	for nns in $ns_list; do
		args=(--nvme id=nv0,serial=rnsc0)
		nulls=()
		ns_devs=''
		for i in $(seq 1 "$nns"); do
			nulls+=(--null "n$i=16M")
			ns_devs+=" -device nvme-ns,drive=n$i,bus=nv0,nsid=$i,logical_block_size=4096,physical_block_size=4096"
		done
		say "scale: $cpus vCPUs, $nns namespaces"
		{
			echo "N=$nns REPS=$reps"
			cat <<'GUEST'
# kib FIELD: a /proc/meminfo field in KiB.
kib() { awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo; }
used() { echo $(($(kib MemTotal) - $(kib MemFree))); }
settle() { sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.2; }
# now_us: guest time in microseconds (the monotonic clock, from /proc/timer_list's "now at").
now_us() { awk '/^now at/ { printf "%d\n", $3 / 1000; exit }' /proc/timer_list; }
# ready: every namespace's disk of the function is in /sys/block. One ls: a check that forks
# per disk takes a third of a second at 256 disks on one vCPU, which would be the resolution
# of the measurement. Both drivers set a disk's size before they add it; sized checks that.
ready() {
	[ "$(ls -l /sys/block | grep -c "/$a/")" = "$N" ]
}
# sized: every disk of the function has a size.
sized() {
	local d
	for d in $(disks_of "$a"); do
		[ "$(cat "/sys/block/$d/size")" != 0 ] || return 1
	done
}
measure() {
	local drv=$1 t0 t1 s0 s1 u0 u1
	settle
	s0=$(kib Slab) u0=$(used)
	echo "$drv" >"/sys/bus/pci/devices/$a/driver_override"
	t0=$(now_us)
	echo "$a" >/sys/bus/pci/drivers_probe
	while ! ready; do sleep 0.005; done
	t1=$(now_us)
	sized || fail "$drv: a disk of $a has no size when it appears"
	settle
	s1=$(kib Slab) u1=$(used)
	echo "[scale] drv=$drv us=$((t1 - t0)) slab_kib=$((s1 - s0)) used_kib=$((u1 - u0))"
	unbind "$a"
}
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)
r=1
while [ $r -le "$REPS" ]; do
	if [ $((r % 2)) = 1 ]; then measure nvme; measure rust_nvme; else measure rust_nvme; measure nvme; fi
	r=$((r + 1))
done
unload_rust_driver
GUEST
		} >"$outdir/guest.sh"
		out=$(tests/harness/vm.sh --name "scale-$cpus-$nns" --icount --smp "$cpus" --mem 2G \
			--timeout $((600 + nns * 4)) "${nulls[@]}" "${args[@]}" --qemu "$ns_devs" "$outdir/guest.sh" 2>&1) ||
			{ echo "$out" | tail -n 20; die "the scale VM ($cpus vCPUs, $nns namespaces) failed"; }
		# The guest's "[scale]" lines are on the console log (vm.sh keeps them off its output).
		sed 's/\r$//' "${RNVME_LOGDIR:-build/logs}/scale-$cpus-$nns.log" |
			sed -n "s/^\[scale\] /cpus=$cpus ns=$nns /p" | tee -a "$res"
	done
done

python3 - "$res" "$outdir/$stamp.md" <<'PY'
import re, statistics, sys
recs = {}
for line in open(sys.argv[1]):
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    if "drv" in kv:
        recs.setdefault((int(kv["cpus"]), int(kv["ns"]), kv["drv"]), []).append(kv)
def med(key, k):
    v = [int(r[k]) for r in recs.get(key, [])]
    return statistics.median(v) if v else None
def f(v):
    return "–" if v is None else "%.0f" % v
def ms(v):
    return "–" if v is None else "%.1f" % (v / 1000.0)
def ratio(a, b):
    return "–" if not a or not b else "%.2f" % (a / b)
md = ["| vCPUs | namespaces | bind to ready, ms: nvme | rust_nvme | ratio | Slab KiB: nvme | rust_nvme | used KiB: nvme | rust_nvme |",
      "|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
for c, n in sorted({(k[0], k[1]) for k in recs}):
    C, R = (c, n, "nvme"), (c, n, "rust_nvme")
    md.append("| %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
        c, n, ms(med(C, "us")), ms(med(R, "us")), ratio(med(R, "us"), med(C, "us")),
        f(med(C, "slab_kib")), f(med(R, "slab_kib")), f(med(C, "used_kib")), f(med(R, "used_kib"))))
open(sys.argv[2], "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
say "scale: table in ${outdir#"$RNVME_ROOT"/}/$stamp.md"
