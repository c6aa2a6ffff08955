#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make bench': rust_nvme against the C nvme driver in QEMU VMs (one per round) under
# icount (guest time counts guest instructions), on identical emulated
# controllers, with null_blk as the no-device ceiling. See bench/README.md.
#
# Three targets in each VM, each measured with both drivers (null_blk alone) in
# every round:
#   null-co   two identical controllers on QEMU null-co nodes (read-zeroes=on);
#             one is bound to nvme, the other to rust_nvme, and the roles swap
#             every round (unbind both, rebind crossed), so the slot cannot
#             bias the result
#   ram       a third controller on a raw image in host RAM (/dev/shm), bound
#             to each driver in turn (the order alternates per round)
#   null_blk  /dev/nullb0 (irqmode=0: completed at submission, no device)
# Each target runs the same fixed-size fio jobs (sizes, never time), and the
# results are the medians over the rounds. Every round boots a VM of its own
# (--one-vm runs them all in one), so no round inherits another's VM state (the
# "idle waiting" that led to it was an idle spinner leaked by the QD128 job,
# bench/README.md). The guest prints every job's fio JSON (gzip + base64),
# interrupt counts and idle-spinner counts (for guest CPU time) on the
# console; QEMU's trace log counts the doorbell writes per job (the guest
# switches the log file through the QEMU monitor around each job). The host
# parses all of it into bench/results/<date>-linux-<kernel>-qemu-<version>.{json,md}.
#
# Usage: bench/bench.sh [--rounds N] [--scale F] [--out DIR] [--timeout S] [--one-vm]
# Environment: BENCH_ROUNDS, BENCH_SCALE, BENCH_OUT, BENCH_TIMEOUT, BENCH_ONE_VM=1 (same
# meaning; so 'make bench BENCH_ROUNDS=5' works), KDIR, RNVME_LOGDIR, and
# RNVME_MODULE (benchmark that rust_nvme.ko instead of building one).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$RNVME_ROOT"

usage() {
	cat <<'EOF'
usage: bench/bench.sh [--rounds N] [--scale F] [--out DIR] [--timeout S] [--one-vm]

  --rounds N    rounds (roles swap between rounds); medians over them (default 3, at least 3
                for the results directory; fewer is allowed for a try-out)
  --scale F     multiply every job's number of I/Os by F (default 1; e.g. 0.1 for a quick look,
                whose results go to build/bench/ and not to bench/results/)
  --out DIR     results directory (default bench/results)
  --timeout S   hard limit for each VM (default 7200 s)
  --one-vm      run every round in one VM (default: a VM per round)

Environment: BENCH_ROUNDS, BENCH_SCALE, BENCH_OUT, BENCH_TIMEOUT, BENCH_ONE_VM=1, KDIR, and RNVME_MODULE
(a rust_nvme.ko to benchmark instead of building one with 'make').
EOF
}

rounds=${BENCH_ROUNDS:-3}
scale=${BENCH_SCALE:-1}
outdir=${BENCH_OUT:-$RNVME_ROOT/bench/results}
vm_timeout=${BENCH_TIMEOUT:-7200}
one_vm=${BENCH_ONE_VM:-0}
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--scale) scale=${2:?--scale needs a factor}; shift 2 ;;
	--out) outdir=${2:?--out needs a directory}; shift 2 ;;
	--timeout) vm_timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--one-vm) one_vm=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1'; see bench/bench.sh --help" ;;
	esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds '$rounds' is not a positive number"
[[ "$scale" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--scale '$scale' is not a number"
[[ "$vm_timeout" =~ ^[0-9]+$ ]] || die "--timeout '$vm_timeout' is not a number of seconds"
command -v python3 >/dev/null || die "python3 not found (the host parses the results with it)"
# A try-out (fewer than 3 rounds, or scaled down) never lands in bench/results.
if [ "$outdir" = "$RNVME_ROOT/bench/results" ] && { [ "$rounds" -lt 3 ] || [ "$scale" != 1 ]; }; then
	outdir=$RNVME_ROOT/build/bench
	echo "bench: $rounds round(s) at scale $scale is a try-out: results go to build/bench/"
fi

t_start=$(date +%s)
scripts/setup.sh
[ -f rust_nvme.rs ] || die "there is no rust_nvme.rs: nothing to benchmark"
[ -f "${KDIR:-$(rnvme_kdir)}/fs/configfs/configfs.ko" ] ||
	die "the test kernel has no fs/configfs/configfs.ko (null_blk needs it); run 'make setup'"
if [ -n "${RNVME_MODULE:-}" ]; then
	[ -f "$RNVME_MODULE" ] || die "RNVME_MODULE=$RNVME_MODULE does not exist"
	say "benchmarking $RNVME_MODULE (RNVME_MODULE is set: no build)"
	module_src=$RNVME_MODULE
else
	say "building rust_nvme.ko"
	make -s || die "the module does not build; fix the errors above and re-run 'make bench'"
	module_src=$RNVME_ROOT/rust_nvme.ko
fi
KDIR=${KDIR:-$(rnvme_kdir)}
export KDIR

# --- job sizes (I/Os per job at scale 1) -------------------------------------
#
# Budget: the whole run should stay under an hour of wall time on a 2-core
# host. Under icount one second of busy guest time costs about 7 s of wall
# time, and every job costs fio's start-up and two monitor round trips
# besides: 3 rounds of the first 6 jobs took 14 minutes on a loaded 2-core host; 2 rounds of
# all 15 at scale 0.5 took 16 minutes on a host running two other VMs. Below about
# 20000 I/Os a job's guest CPU per I/O still carries its start-up costs.
ios() {
	python3 -c "import sys; print(max(64, int(float(sys.argv[1]) * float(sys.argv[2]))))" "$1" "$scale"
}
N_QD1=$(ios 20000)      # 4k random read, QD1, libaio
N_QD32R=$(ios 40000)    # 4k random read, QD32, one job per vCPU (split between them)
N_QD32W=$(ios 40000)    # 4k random write, QD32
N_SEQ=$(ios 8192)       # 128k sequential read, QD8 (64k: twice as many, 1M: a quarter)
N_POLL=$(ios 20000)     # 4k random read, QD1, io_uring --hipri (polled)
N_MIX=$(ios 40000)      # 4k random read/write 70/30, QD16
N_UCMD=$(ios 40000)     # 4k random read, QD16, io_uring passthrough (char device)
N_UCMDP=$(ios 20000)    # 4k random read, QD1, io_uring passthrough, polled

# --- host resources: the RAM-backed image and the doorbell traces --------------

shm=/dev/shm
{ [ -d "$shm" ] && [ -w "$shm" ]; } || die "$shm is not a writable directory: the RAM-backed image needs a tmpfs"
work=$(mktemp -d "$shm/rnvme-bench.XXXXXX")
cleanup() {
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ram_img=$work/ram.img
# 1 GiB allocated up front (tmpfs pages, zeroed), so reads hit real memory.
fallocate -l 1G "$ram_img" 2>/dev/null || dd if=/dev/zero of="$ram_img" bs=1M count=1024 status=none ||
	die "cannot create a 1 GiB image in $shm (free: $(df -h --output=avail "$shm" | tail -n 1))"
mkdir -p "$work/trace"
# The module as built now: a rebuild during the run changes nothing.
cp "$module_src" "$work/rust_nvme.ko"
export RNVME_MODULE=$work/rust_nvme.ko

# bench-idle (bench/bench-idle.c), the guest's counting idle spinners, built static here.
cc_for_guest=$(command -v "clang$RNVME_LLVM" || command -v cc || true)
[ -n "$cc_for_guest" ] || die "no C compiler (clang$RNVME_LLVM or cc) for the guest helper; run 'make setup'"
"$cc_for_guest" -O2 -static -o "$work/bench-idle" bench/bench-idle.c ||
	die "building the static guest helper bench-idle failed (a static libc, libc6-dev, is needed)"

kernel_release=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null || echo unknown)
qemu_version=$(qemu-system-x86_64 --version | head -n 1 | grep -o 'version [0-9.]*' | cut -d' ' -f2)
stamp="$(date +%F)-linux-$kernel_release-qemu-$qemu_version"
logdir=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
export RNVME_LOGDIR=$logdir
console=$logdir/bench.log

# --- the guest script -----------------------------------------------------------

# guest_script FIRST LAST: writes the guest script of a VM that runs rounds FIRST to LAST.
guest_script() {
	cat >"$work/guest-$1.sh" <<EOF
# Generated by bench/bench.sh: the run's settings, then bench/bench-guest.sh.
ROUNDS=$rounds FIRST_ROUND=$1 LAST_ROUND=$2
TRACE=$work/trace
N_QD1=$N_QD1 N_QD32R=$N_QD32R N_QD32W=$N_QD32W N_SEQ=$N_SEQ N_POLL=$N_POLL N_MIX=$N_MIX
N_UCMD=$N_UCMD N_UCMDP=$N_UCMDP
EOF
	cat bench/bench-guest.sh >>"$work/guest-$1.sh"
}

# --- the run ------------------------------------------------------------------------

# The run takes minutes and bash reads a script as it goes: run a private copy
# of vm.sh, so an edit to tests/harness/vm.sh meanwhile cannot break it. Its lib.sh
# is the real one (which sets RNVME_ROOT from its own path).
mkdir -p "$work/harness"
cp tests/harness/vm.sh "$work/harness/vm.sh"
echo ". '$RNVME_ROOT/tests/harness/lib.sh'" >"$work/harness/lib.sh"

# The commit measured, named now: the tree may move on during the run.
gitrev=$(git --no-optional-locks -C "$RNVME_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
# run_vm FIRST LAST: one VM for rounds FIRST to LAST; its console, bench-rFIRST.log, is
# appended to the run's.
run_vm() {
	local vm_rc=0
	guest_script "$1" "$2"
	"$work/harness/vm.sh" --name "bench-r$1" --icount --timeout "$vm_timeout" \
		--null nc0=2G --null nc1=2G \
		--qemu "-drive file=$ram_img,if=none,id=ram0,format=raw" \
		--file "$KDIR/fs/configfs/configfs.ko=/lib/modules/configfs.ko" \
		--file "$work/bench-idle=/usr/bin/bench-idle" \
		--nvme serial=rnb-null0,drive=nc0 --nvme serial=rnb-null1,drive=nc1 --nvme serial=rnb-ram,drive=ram0 \
		--qemu "-trace enable=pci_nvme_mmio_doorbell_*,file=$work/trace/boot-$1.log -trace enable=pci_nvme_mmio_read" \
		"$work/guest-$1.sh" || vm_rc=$?
	[ $vm_rc = 0 ] ||
		die "the benchmark VM of round $1 failed (see above and $logdir/bench-r$1.log); no results written"
	cat "$logdir/bench-r$1.log" >>"$console"
}

say "benchmark: $rounds rounds, scale $scale, icount, $([ $one_vm = 1 ] && echo 'one VM' || echo 'a VM per round'); console: $console"
mkdir -p "$logdir"
: >"$console"
if [ $one_vm = 1 ]; then
	run_vm 1 "$rounds"
else
	for r in $(seq 1 "$rounds"); do
		run_vm "$r" "$r"
	done
fi
t_end=$(date +%s)

mkdir -p "$outdir"
python3 bench/bench-report.py \
	"$console" "$work/trace" "$outdir" "$stamp" "$((t_end - t_start))" "$rounds" "$scale" \
	"$kernel_release" "$(qemu-system-x86_64 --version | head -n 1)" \
	"$gitrev" \
	"$(sha256sum "$RNVME_MODULE" | cut -c1-16)" \
	"{\"randread-4k-qd1\": $N_QD1, \"randread-4k-qd32x2\": $N_QD32R, \"randwrite-4k-qd32\": $N_QD32W, \"read-128k-qd8\": $N_SEQ, \"randread-4k-qd1-poll\": $N_POLL, \"randrw70-4k-qd16\": $N_MIX, \"randread-4k-qd16-uring-cmd\": $N_UCMD, \"randread-4k-qd1-uring-cmd-poll\": $N_UCMDP, \"randread-512-qd1\": $N_QD1, \"randread-512-qd32\": $N_QD32W, \"read-64k-qd8\": $((N_SEQ * 2)), \"write-64k-qd8\": $((N_SEQ * 2)), \"read-1m-qd4\": $((N_SEQ / 4)), \"write-1m-qd4\": $((N_SEQ / 4)), \"randread-4k-qd128x4\": $N_QD32R}"
python3 bench/bench-picture.py "$outdir/$stamp.json" "$outdir/$stamp.svg"
echo "bench: done in $((($(date +%s) - t_start) / 60)) min $((($(date +%s) - t_start) % 60)) s"
