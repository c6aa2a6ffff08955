#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make bench': rust_nvme against the C nvme driver in one QEMU VM under
# icount (guest time counts guest instructions), on identical emulated
# controllers, with null_blk as the no-device ceiling. See bench/README.md.
#
# One VM, three targets, each measured with both drivers (null_blk alone) in
# every round:
#   null-co   two identical controllers on QEMU null-co nodes (read-zeroes=on);
#             one is bound to nvme, the other to rust_nvme, and the roles swap
#             every round (unbind both, rebind crossed), so the slot cannot
#             bias the result
#   ram       a third controller on a raw image in host RAM (/dev/shm), bound
#             to each driver in turn (the order alternates per round)
#   null_blk  /dev/nullb0 (irqmode=0: completed at submission, no device)
# Each target runs the same fixed-size fio jobs (sizes, never time), and the
# results are the medians over the rounds. The guest prints every job's fio
# JSON (gzip + base64), interrupt counts and idle-spinner counts (for guest
# CPU time) on the console;
# QEMU's trace log counts the doorbell writes per job (the guest switches the
# log file through the QEMU monitor around each job). The host parses all of
# it into bench/results/<date>-linux-<kernel>-qemu-<version>.{json,md}.
#
# Usage: bench/bench.sh [--rounds N] [--scale F] [--out DIR] [--timeout S]
# Environment: BENCH_ROUNDS, BENCH_SCALE, BENCH_OUT, BENCH_TIMEOUT (same
# meaning; so 'make bench BENCH_ROUNDS=5' works), KDIR, RNVME_LOGDIR, and
# RNVME_MODULE (benchmark that rust_nvme.ko instead of building one).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$RNVME_ROOT"

usage() {
	cat <<'EOF'
usage: bench/bench.sh [--rounds N] [--scale F] [--out DIR] [--timeout S]

  --rounds N    rounds (roles swap between rounds); medians over them (default 3, at least 3
                for the results directory; fewer is allowed for a try-out)
  --scale F     multiply every job's number of I/Os by F (default 1; e.g. 0.1 for a quick look,
                whose results go to build/bench/ and not to bench/results/)
  --out DIR     results directory (default bench/results)
  --timeout S   hard limit for the VM (default 2400 s)

Environment: BENCH_ROUNDS, BENCH_SCALE, BENCH_OUT, BENCH_TIMEOUT, KDIR, and RNVME_MODULE
(a rust_nvme.ko to benchmark instead of building one with 'make').
EOF
}

rounds=${BENCH_ROUNDS:-3}
scale=${BENCH_SCALE:-1}
outdir=${BENCH_OUT:-$RNVME_ROOT/bench/results}
vm_timeout=${BENCH_TIMEOUT:-2400}
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--scale) scale=${2:?--scale needs a factor}; shift 2 ;;
	--out) outdir=${2:?--out needs a directory}; shift 2 ;;
	--timeout) vm_timeout=${2:?--timeout needs seconds}; shift 2 ;;
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
# Budget: the whole run must stay under 20 minutes of wall time on a 2-core
# host. Under icount one second of busy guest time costs about 7 s of wall
# time, and every job costs fio's start-up and two monitor round trips
# besides: 3 rounds took 14 minutes on a loaded 2-core host. Below about
# 20000 I/Os a job's guest CPU per I/O still carries its start-up costs.
ios() {
	python3 -c "import sys; print(max(64, int(float(sys.argv[1]) * float(sys.argv[2]))))" "$1" "$scale"
}
N_QD1=$(ios 20000)      # 4k random read, QD1, libaio
N_QD32R=$(ios 40000)    # 4k random read, QD32, one job per vCPU (split between them)
N_QD32W=$(ios 40000)    # 4k random write, QD32
N_SEQ=$(ios 4096)       # 128k sequential read, QD8
N_POLL=$(ios 20000)     # 4k random read, QD1, io_uring --hipri (polled)
N_MIX=$(ios 40000)      # 4k random read/write 70/30, QD16

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

# bench-idle, a static helper for the guest. "spin CPU" is a SCHED_IDLE loop
# pinned to CPU that counts its iterations in /tmp/bench-idle.CPU: it keeps
# that CPU from ever halting (with icount sleep=off an all-idle guest jumps
# its clock to the next timer, which turns a wait for the emulated device
# into milliseconds), and what it counted is the CPU's idle time. "mark TAG"
# appends "TAG <CLOCK_MONOTONIC ns> <loops of CPU 0> ..." to
# /tmp/bench-idle.log. fio runs "start" (a detached spinner on the job's CPU,
# then a mark) right before each job's I/O and "stop" (a mark, then the
# spinner ends) right after it, so fio's own start-up and exit, where the
# guest sleeps, still let icount skip the idle time.
cat >"$work/bench-idle.c" <<'C'
// SPDX-License-Identifier: GPL-2.0
// bench-idle: idle spinners that count, for bench/bench.sh (see there).
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ncpus(void)
{
	return sysconf(_SC_NPROCESSORS_CONF);
}

// spin CPU: SCHED_IDLE on CPU, counting loops in /tmp/bench-idle.CPU.
static int spin(int cpu)
{
	struct sched_param sp = { 0 };
	volatile uint64_t *n;
	char path[64];
	cpu_set_t set;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) || sched_setscheduler(0, SCHED_IDLE, &sp)) {
		perror("bench-idle: affinity or SCHED_IDLE");
		return 1;
	}
	snprintf(path, sizeof(path), "/tmp/bench-idle.%d", cpu);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, 4096)) {
		perror(path);
		return 1;
	}
	n = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (n == MAP_FAILED) {
		perror("bench-idle: mmap");
		return 1;
	}
	for (;;)
		(*n)++;
}

// mark TAG: "TAG <CLOCK_MONOTONIC ns> <loops of CPU 0> ..." to /tmp/bench-idle.log.
static int mark(const char *tag)
{
	struct timespec ts;
	FILE *log;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	log = fopen("/tmp/bench-idle.log", "a");
	if (!log)
		return 1;
	fprintf(log, "%s %lld", tag, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	for (long c = 0; c < ncpus(); c++) {
		char path[64];
		uint64_t v = 0;
		int fd;

		snprintf(path, sizeof(path), "/tmp/bench-idle.%ld", c);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			if (pread(fd, &v, sizeof(v), 0) != sizeof(v))
				v = 0;
			close(fd);
		}
		fprintf(log, " %llu", (unsigned long long)v);
	}
	fputc('\n', log);
	return fclose(log) != 0;
}

// The CPU this process may run on (the first of its affinity mask).
static int my_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

static void kill_spinner(long cpu)
{
	char path[64];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "/tmp/bench-idle.pid.%ld", cpu);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid > 1)
		kill(pid, SIGKILL);
	fclose(f);
	unlink(path);
}

// start: a detached spinner on this process's CPU, then "mark preCPU".
// fio runs it as exec_prerun in the job process, after pinning the job.
static int start(void)
{
	int cpu = my_cpu();
	char tag[32];
	pid_t p;

	kill_spinner(cpu);
	p = fork();
	if (p == 0) {
		pid_t q;

		setsid();
		q = fork();
		if (q == 0) {
			int fd = open("/dev/null", O_RDWR);

			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			_exit(spin(cpu));
		} else if (q > 0) {
			char path[64];
			FILE *f;

			snprintf(path, sizeof(path), "/tmp/bench-idle.pid.%d", cpu);
			f = fopen(path, "w");
			if (f) {
				fprintf(f, "%d\n", q);
				fclose(f);
			}
		}
		_exit(q > 0 ? 0 : 1);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
	snprintf(tag, sizeof(tag), "pre%d", cpu);
	return mark(tag);
}

// stop: "mark postCPU", then end this CPU's spinner (fio's exec_postrun).
static int stop(void)
{
	int cpu = my_cpu();
	char tag[32];
	int rc;

	snprintf(tag, sizeof(tag), "post%d", cpu);
	rc = mark(tag);
	kill_spinner(cpu);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "spin"))
		return spin(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "mark"))
		return mark(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "start"))
		return start();
	if (argc == 2 && !strcmp(argv[1], "stop"))
		return stop();
	if (argc == 2 && !strcmp(argv[1], "reap")) {
		for (long c = 0; c < ncpus(); c++)
			kill_spinner(c);
		return 0;
	}
	fprintf(stderr, "usage: bench-idle spin CPU | mark TAG | start | stop | reap\n");
	return 2;
}
C
cc_for_guest=$(command -v "clang$RNVME_LLVM" || command -v cc || true)
[ -n "$cc_for_guest" ] || die "no C compiler (clang$RNVME_LLVM or cc) for the guest helper; run 'make setup'"
"$cc_for_guest" -O2 -static -o "$work/bench-idle" "$work/bench-idle.c" ||
	die "building the static guest helper bench-idle failed (a static libc, libc6-dev, is needed)"

kernel_release=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null || echo unknown)
qemu_version=$(qemu-system-x86_64 --version | head -n 1 | grep -o 'version [0-9.]*' | cut -d' ' -f2)
stamp="$(date +%F)-linux-$kernel_release-qemu-$qemu_version"
logdir=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
export RNVME_LOGDIR=$logdir
console=$logdir/bench.log

# --- the guest script -----------------------------------------------------------

guest=$work/guest.sh
cat >"$guest" <<EOF
# Generated by bench/bench.sh.
ROUNDS=$rounds
TRACE=$work/trace
N_QD1=$N_QD1 N_QD32R=$N_QD32R N_QD32W=$N_QD32W N_SEQ=$N_SEQ N_POLL=$N_POLL N_MIX=$N_MIX
EOF
cat >>"$guest" <<'GUEST'
JOBS="randread-4k-qd1 randread-4k-qd32x2 randwrite-4k-qd32 read-128k-qd8 randread-4k-qd1-poll randrw70-4k-qd16"
REGION=1G
ncpu=$(nproc)

ONE="--cpus_allowed=0"
ALL="--numjobs=$ncpu --cpus_allowed=0-$((ncpu - 1)) --cpus_allowed_policy=split --group_reporting"

# job_args JOB: fio arguments of that job (every size fixed, never a time).
# A one-job job runs on CPU 0; a job per vCPU runs one on each.
job_args() {
	case "$1" in
	randread-4k-qd1) echo "$ONE --rw=randread --bs=4k --iodepth=1 --ioengine=libaio --io_size=$((N_QD1 * 4))k" ;;
	randread-4k-qd32x2) echo "$ALL --rw=randread --bs=4k --iodepth=32 --ioengine=libaio --io_size=$((N_QD32R / ncpu * 4))k" ;;
	randwrite-4k-qd32) echo "$ONE --rw=randwrite --bs=4k --iodepth=32 --ioengine=libaio --io_size=$((N_QD32W * 4))k" ;;
	read-128k-qd8) echo "$ONE --rw=read --bs=128k --iodepth=8 --ioengine=libaio --io_size=$((N_SEQ * 128))k" ;;
	randread-4k-qd1-poll) echo "$ONE --rw=randread --bs=4k --iodepth=1 --ioengine=io_uring --hipri --io_size=$((N_POLL * 4))k" ;;
	randrw70-4k-qd16) echo "$ONE --rw=randrw --rwmixread=70 --bs=4k --iodepth=16 --ioengine=libaio --io_size=$((N_MIX * 4))k" ;;
	*) fail "unknown job $1" ;;
	esac
}

# spin_on CPU...: a SCHED_IDLE bench-idle spinner on each CPU; spin_off ends them.
spin_pids=''
spin_on() {
	local c
	for c in "$@"; do
		/usr/bin/bench-idle spin "$c" &
		spin_pids="$spin_pids $!"
	done
}
spin_off() {
	[ -n "$spin_pids" ] || return 0
	# shellcheck disable=SC2086
	kill $spin_pids
	# shellcheck disable=SC2086
	wait $spin_pids 2>/dev/null || true
	spin_pids=''
}

# irq_snap PCIADDR|-: per-CPU interrupt counts of the controller's vectors
# (rust_nvme names them rust_nvme, the C driver nvmeXqY; both lines carry
# the PCI address), summed as "ctrl", and of the local timer (LOC),
# function-call (CAL) and reschedule (RES) IPIs: "NAME <CPU 0> <CPU 1> ...".
irq_snap() {
	awk -v a="$1" 'NR == 1 { n = NF; next }
		{ k = $1; sub(":", "", k); if (a != "-" && index($0, a)) k = "ctrl" }
		k == "ctrl" || k == "LOC" || k == "CAL" || k == "RES" {
			seen[k] = 1
			for (i = 1; i <= n; i++) v[k, i] += $(i + 1)
		}
		END { for (k in seen) { printf "%s", k; for (i = 1; i <= n; i++) printf " %d", v[k, i]; printf "\n" } }' /proc/interrupts
}

# trace_to NAME: QEMU's trace log (the doorbell writes) goes to
# $TRACE/NAME.log from now on. host_do waits for the host; meanwhile a
# spinner keeps a vCPU busy, because with an idle guest icount (sleep=off)
# jumps guest time to the next timer, which could be host_do's own timeout.
# (It also keeps a rebind from seeing a jump.)
trace_to() {
	spin_on 0
	host_do "logfile $TRACE/$1.log" || { spin_off; fail "the host did not switch the trace log to $TRACE/$1.log"; }
	spin_off
}

nth=0
total=$((ROUNDS * 5 * $(echo $JOBS | wc -w)))

# run_job TARGET DRIVER PCIADDR|- DISK JOB: runs one fio job and prints its
# record (raw fio JSON, interrupts, guest uptime before and after) on the
# console for the host. Record lines start with '[' so the live output of
# tests/harness/vm.sh shows them only with RNVME_VERBOSE=1; the progress line is
# the one a person reads.
run_job() {
	local target=$1 drv=$2 addr=$3 disk=$4 job=$5 rc=0 s
	nth=$((nth + 1))
	rm -f /tmp/bench.json /tmp/bench.err /tmp/bench-idle.log
	[ "$addr" = - ] || trace_to "job-$nth"
	irq_snap "$addr" >/tmp/bench-irq0
	# shellcheck disable=SC2046 # job_args is split on purpose
	/usr/bin/fio --name="$job" --filename="/dev/$disk" --direct=1 --size=$REGION \
		--randrepeat=1 --clat_percentiles=1 --lat_percentiles=1 --percentile_list=50:99 \
		--disk_util=0 --eta=never --output-format=json --output=/tmp/bench.json \
		--exec_prerun='/usr/bin/bench-idle start; true' \
		--exec_postrun='/usr/bin/bench-idle stop; true' \
		$(job_args "$job") 2>/tmp/bench.err || rc=$?
	/usr/bin/bench-idle reap
	irq_snap "$addr" >/tmp/bench-irq1
	[ "$addr" = - ] || trace_to idle
	echo "[bench-job] n=$nth round=$round target=$target driver=$drv addr=$addr disk=$disk job=$job rc=$rc ncpu=$ncpu"
	sed 's/^/[bench-irq] before /' /tmp/bench-irq0
	sed 's/^/[bench-irq] after /' /tmp/bench-irq1
	[ ! -f /tmp/bench-idle.log ] || sed 's/^/[bench-idle] /' /tmp/bench-idle.log
	sed 's/^/[bench-err] /' /tmp/bench.err
	[ ! -s /tmp/bench.json ] || gzip -c /tmp/bench.json | base64 | sed 's/^/[bench-b64] /'
	echo "[bench-end] n=$nth"
	if [ "$rc" = 0 ]; then
		s=$(awk -F: '/"iops" :/ { gsub(/[^0-9.]/, "", $2); i += $2 }
			/"bw_bytes" :/ { gsub(/[^0-9.]/, "", $2); b += $2 }
			END { printf "%.1fk IOPS, %.0f MiB/s", i / 1000, b / 1048576 }' /tmp/bench.json)
	else
		s="fio failed (exit $rc): $(grep -m1 -o 'error=.*' /tmp/bench.err || head -n 1 /tmp/bench.err)"
	fi
	[ "$addr" = - ] || drv="$drv on $addr"
	log "[$nth/$total] round $round/$ROUNDS, $target, $drv: $job: $s"
}

# warm_up DISK: short unmeasured fio runs (4k libaio and io_uring, 128k
# libaio, on every CPU), so first-use costs (slab and pool growth, first page
# faults) stay out of the measured jobs.
warm_up() {
	local w
	for w in libaio,4k,4M io_uring,4k,4M libaio,128k,16M; do
		/usr/bin/fio --name=warm-up --filename="/dev/$1" --direct=1 --size=$REGION --rw=randread \
			--ioengine="${w%%,*}" --bs="$(echo "$w" | cut -d, -f2)" --io_size="${w##*,}" --iodepth=4 \
			--numjobs="$ncpu" --cpus_allowed=0-$((ncpu - 1)) --cpus_allowed_policy=split --eta=never \
			--output=/dev/null >/tmp/bench.err 2>&1 || { cat /tmp/bench.err; fail "warm-up fio ($w) on /dev/$1 failed"; }
	done
}

# bind_disk PCIADDR DRIVER: binds, waits for the disk and sets $disk to its name.
bind_disk() {
	bind "$1" "$2"
	wait_for '[ -n "$(disks_of '"$1"')" ]' 30
	disk=$(disks_of "$1" | head -n 1)
	wait_for '[ "$(cat /sys/block/$disk/size)" -gt 0 ]' 30
	warm_up "$disk"
}

load_c_driver poll_queues=1
load_rust_driver poll_queues=1
# null_blk needs configfs, a module in the test kernel that the initramfs
# does not carry: bench/bench.sh copies it in with --file.
[ -d /sys/module/configfs ] || insmod /lib/modules/configfs.ko || fail "insmod configfs.ko failed"
load_null_blk queue_mode=2 irqmode=0 submit_queues="$ncpu" poll_queues=1 gb=2 hw_queue_depth=1024 nr_devices=1
wait_for '[ -b /dev/nullb0 ]' 10
warm_up nullb0
nc0=$(pci_addr_of 0)
nc1=$(pci_addr_of 1)
ram=$(pci_addr_of 2)
# Calibration of the spinners: with both spinning and nothing else to do,
# guest time is (almost) all spinner instructions: ns per counted loop.
rm -f /tmp/bench-idle.log
# shellcheck disable=SC2046
spin_on $(seq 0 $((ncpu - 1)))
/usr/bin/bench-idle mark cal-start
sleep 0.5
/usr/bin/bench-idle mark cal-end
spin_off
sed 's/^/[bench-cal] /' /tmp/bench-idle.log
echo "[bench-guest] kernel=$(uname -r) ncpu=$ncpu mem_kb=$(awk '/MemTotal/ { print $2 }' /proc/meminfo) fio=$(/usr/bin/fio --version)"
log "$total jobs: $ROUNDS rounds x 5 targets x $(echo $JOBS | wc -w) jobs"

round=1
while [ $round -le "$ROUNDS" ]; do
	# null-co pair: odd rounds nvme on the first slot, even rounds crossed.
	if [ $((round % 2)) = 1 ]; then
		ca=$nc0 ra=$nc1 order="nvme rust_nvme"
	else
		ca=$nc1 ra=$nc0 order="rust_nvme nvme"
	fi
	bind_disk "$ca" nvme
	cd_=$disk
	bind_disk "$ra" rust_nvme
	rd_=$disk
	log "round $round/$ROUNDS: null-co: nvme on $ca ($cd_), rust_nvme on $ra ($rd_)"
	if [ $round = 1 ]; then
		dmesg | grep -E 'nvme|null_blk' | sed 's/^/[bench-dmesg] /'
	fi
	for j in $JOBS; do
		for drv in $order; do
			if [ $drv = nvme ]; then
				run_job null-co nvme "$ca" "$cd_" "$j"
			else
				run_job null-co rust_nvme "$ra" "$rd_" "$j"
			fi
		done
	done
	unbind "$ca"
	unbind "$ra"
	# RAM-backed controller: one driver after the other, order as above.
	for drv in $order; do
		bind_disk "$ram" $drv
		log "round $round/$ROUNDS: ram: $drv on $ram ($disk)"
		for j in $JOBS; do
			run_job ram $drv "$ram" "$disk" "$j"
		done
		unbind "$ram"
	done
	for j in $JOBS; do
		run_job null_blk null_blk - nullb0 "$j"
	done
	round=$((round + 1))
done
unload_rust_driver
unload_c_driver
log "bench done"
GUEST

# --- the run ------------------------------------------------------------------------

# The run takes minutes and bash reads a script as it goes: run a private copy
# of vm.sh, so an edit to tests/harness/vm.sh meanwhile cannot break it. Its lib.sh
# is the real one (which sets RNVME_ROOT from its own path).
mkdir -p "$work/harness"
cp tests/harness/vm.sh "$work/harness/vm.sh"
echo ". '$RNVME_ROOT/tests/harness/lib.sh'" >"$work/harness/lib.sh"

say "benchmark: $rounds rounds, scale $scale, icount; console: $console"
vm_rc=0
"$work/harness/vm.sh" --name bench --icount --timeout "$vm_timeout" \
	--null nc0=2G --null nc1=2G \
	--qemu "-drive file=$ram_img,if=none,id=ram0,format=raw" \
	--file "$KDIR/fs/configfs/configfs.ko=/lib/modules/configfs.ko" \
	--file "$work/bench-idle=/usr/bin/bench-idle" \
	--nvme serial=rnb-null0,drive=nc0 --nvme serial=rnb-null1,drive=nc1 --nvme serial=rnb-ram,drive=ram0 \
	--qemu "-trace enable=pci_nvme_mmio_doorbell_*,file=$work/trace/boot.log -trace enable=pci_nvme_mmio_read" \
	"$guest" || vm_rc=$?
[ $vm_rc = 0 ] || die "the benchmark VM failed (see above and $console); no results written"
t_end=$(date +%s)

mkdir -p "$outdir"
python3 - "$console" "$work/trace" "$outdir" "$stamp" "$((t_end - t_start))" "$rounds" "$scale" \
	"$kernel_release" "$(qemu-system-x86_64 --version | head -n 1)" \
	"$(git --no-optional-locks -C "$RNVME_ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
	"$(sha256sum "$RNVME_MODULE" | cut -c1-16)" \
	"{\"randread-4k-qd1\": $N_QD1, \"randread-4k-qd32x2\": $N_QD32R, \"randwrite-4k-qd32\": $N_QD32W, \"read-128k-qd8\": $N_SEQ, \"randread-4k-qd1-poll\": $N_POLL, \"randrw70-4k-qd16\": $N_MIX}" <<'PY'
import base64, gzip, json, math, os, re, statistics, sys

(console, tracedir, outdir, stamp, wall, rounds, scale, krel, qemu, gitrev, modsum, sizes) = sys.argv[1:]

JOBS = [
    ("randread-4k-qd1", "4k random read, QD1"),
    ("randread-4k-qd32x2", "4k random read, QD32, 1 job per vCPU"),
    ("randwrite-4k-qd32", "4k random write, QD32"),
    ("read-128k-qd8", "128k sequential read, QD8"),
    ("randread-4k-qd1-poll", "4k random read, QD1, polled (io_uring --hipri)"),
    ("randrw70-4k-qd16", "4k random read/write 70/30, QD16"),
]
JOB_DESC = dict(JOBS)
TARGETS = [
    ("null-co", "two identical controllers on QEMU null-co (read-zeroes=on), driver roles swapped every round"),
    ("ram", "one controller on a raw 1 GiB image in host RAM (/dev/shm), bound to each driver in turn"),
]
DRIVERS = ("nvme", "rust_nvme")
# key: (description, better: "hi" or "lo")
METRICS = {
    "iops": ("I/Os per second of guest time (reads + writes)", "hi"),
    "mib_s": ("MiB per second of guest time (reads + writes)", "hi"),
    "clat_p50_us": ("completion latency p50 (fio clat: submitted to completed), us", "lo"),
    "clat_p99_us": ("completion latency p99, us", "lo"),
    "lat_p50_us": ("total latency p50 (fio lat: submission started to completed), us", "lo"),
    "lat_p99_us": ("total latency p99, us", "lo"),
    "slow_pct": ("share of I/Os that took 1 ms or more, %", "lo"),
    "cpu_us_per_io": ("fio's usr+sys CPU time per I/O, us", "lo"),
    "busy_us_per_io": ("guest CPU time per I/O on all CPUs (job window minus spinner time), us", "lo"),
    "busy_nosleep_us_per_io": ("busy_us_per_io minus the fitted cost of fio's sleeps (ctx_per_io times "
                               "sleep_wake_us), us", "lo"),
    "irqs_per_io": ("interrupts of the controller per I/O", "lo"),
    "ipis_per_io": ("function-call and reschedule IPIs per I/O (all CPUs)", "lo"),
    "ctx_per_io": ("context switches of the fio job per I/O (it slept waiting for a completion)", "lo"),
    "mmio_reads_per_io": ("MMIO register reads of the controller per I/O", "lo"),
    "sq_db_per_io": ("SQ tail doorbell MMIO writes per I/O (I/O queues)", "lo"),
    "cq_db_per_io": ("CQ head doorbell MMIO writes per I/O (I/O queues)", "lo"),
}


def kv(s):
    return dict(w.split("=", 1) for w in s.split() if "=" in w)


# --- the console records --------------------------------------------------------------
records, cur, guest, dmesg, cal = [], None, {}, [], {}
with open(console, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith("[bench-guest] "):
            head, _, fio_version = line[len("[bench-guest] "):].partition(" fio=")
            guest = kv(head)
            guest["fio"] = fio_version
        elif line.startswith("[bench-cal] "):
            w = line.split()[1:]
            cal[w[0]] = [int(x) for x in w[1:]]
        elif line.startswith("[bench-dmesg] "):
            dmesg.append(line[len("[bench-dmesg] "):])
        elif line.startswith("[bench-job] "):
            cur = {"meta": kv(line[len("[bench-job] "):]), "err": [], "b64": [], "idle": [], "irq": {}}
        elif cur is None:
            continue
        elif line.startswith("[bench-idle] "):
            w = line.split()[1:]
            cur["idle"].append((w[0], [int(x) for x in w[1:]]))
        elif line.startswith("[bench-irq] "):
            w = line.split()[1:]
            cur["irq"][(w[0], w[1])] = [int(x) for x in w[2:]]
        elif line.startswith("[bench-err] "):
            cur["err"].append(line[len("[bench-err] "):])
        elif line.startswith("[bench-b64] "):
            cur["b64"].append(line[len("[bench-b64] "):].strip())
        elif line.startswith("[bench-end] "):
            records.append(cur)
            cur = None
if not records:
    sys.exit("bench: no job records on the console log " + console)
# ns of guest time per spinner loop (icount: 1 ns = 1 instruction).
if "cal-start" not in cal or "cal-end" not in cal:
    sys.exit("bench: no spinner calibration on the console log " + console)
a, b = cal["cal-start"], cal["cal-end"]
NS_PER_LOOP = (b[0] - a[0]) / max(1, sum(b[1:]) - sum(a[1:]))


def doorbells(n):
    """SQ and CQ doorbell writes on I/O queues (qid != 0) and register reads in job n's
    QEMU trace."""
    path = os.path.join(tracedir, "job-%d.log" % n)
    if not os.path.exists(path):
        return None, None, None
    sq = cq = reads = 0
    pat = re.compile(r"pci_nvme_mmio_doorbell_(sq|cq) (?:sq|cq)id (\d+)")
    with open(path, errors="replace") as f:
        for line in f:
            if "pci_nvme_mmio_read" in line:
                reads += 1
                continue
            m = pat.search(line)
            if m and m.group(2) != "0":
                if m.group(1) == "sq":
                    sq += 1
                else:
                    cq += 1
    return sq, cq, reads


def pct(d, kind, p):
    v = (d.get(kind) or {}).get("percentile") or {}
    for k, x in v.items():
        if abs(float(k) - p) < 1e-6:
            return x / 1000.0
    return None


runs = []
for r in records:
    m = r["meta"]
    run = {k: m.get(k) for k in ("target", "driver", "addr", "disk", "job")}
    run["n"], run["round"] = int(m["n"]), int(m["round"])
    run["fio_exit"] = int(m.get("rc", "1"))
    run["fio_stderr"] = [e for e in r["err"] if e.strip()][:5]
    job = None
    if r["b64"]:
        try:
            raw = gzip.decompress(base64.b64decode("".join(r["b64"]))).decode(errors="replace")
            job = json.loads(raw[raw.index("{"):])["jobs"][0]
        except Exception as e:  # a kernel line cut into the block, or no JSON at all
            run["parse_error"] = str(e)
    runs.append(run)
    if not job:
        continue
    rd, wr = job["read"], job["write"]
    ios = rd["total_ios"] + wr["total_ios"]
    run["fio_error"] = job.get("error", 0)
    run["ios"] = ios
    run["runtime_ms"] = max(rd["runtime"], wr["runtime"])
    run["job_runtime_ms"] = job["job_runtime"]
    if run["fio_exit"] != 0 or run["fio_error"] != 0 or ios == 0:
        continue
    main = wr if run["job"].startswith("randwrite") else rd
    run["iops"] = rd["iops"] + wr["iops"]
    run["mib_s"] = (rd["bw_bytes"] + wr["bw_bytes"]) / 1048576.0
    for kind, name in (("clat_ns", "clat"), ("lat_ns", "lat")):
        run[name + "_p50_us"], run[name + "_p99_us"] = pct(main, kind, 50), pct(main, kind, 99)
    if rd["total_ios"] and wr["total_ios"]:
        run["write_clat_p50_us"], run["write_clat_p99_us"] = pct(wr, "clat_ns", 50), pct(wr, "clat_ns", 99)
    run["slow_pct"] = sum(float(v) for v in (job.get("latency_ms") or {}).values())
    run["usr_cpu_pct"], run["sys_cpu_pct"] = job["usr_cpu"], job["sys_cpu"]
    run["ctx"] = job.get("ctx", 0)
    run["ctx_per_io"] = run["ctx"] / ios
    # usr_cpu and sys_cpu are shares of job_runtime (summed over the jobs of a group).
    run["cpu_us_per_io"] = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * job["job_runtime"] * 1000.0 / ios
    pre = [v for t, v in r["idle"] if t.startswith("pre")]
    post = [v for t, v in r["idle"] if t.startswith("post")]
    if pre and post:
        a, b = min(pre, key=lambda v: v[0]), max(post, key=lambda v: v[0])
        idle_ns = NS_PER_LOOP * sum(max(0, y - x) for x, y in zip(a[1:], b[1:]))
        run["window_ms"] = (b[0] - a[0]) / 1e6
        run["idle_ms"] = idle_ns / 1e6
        run["busy_us_per_io"] = max(0.0, b[0] - a[0] - idle_ns) / 1000.0 / ios
    irq = {}
    for (when, name), v in r["irq"].items():
        if when == "after":
            before = r["irq"].get(("before", name), [0] * len(v))
            irq[name] = [y - x for x, y in zip(before, v)]
    run["interrupts_per_cpu"] = irq
    run["ipis_per_io"] = (sum(irq.get("CAL", [])) + sum(irq.get("RES", []))) / ios
    if run["addr"] != "-":
        run["irqs"] = sum(irq.get("ctrl", []))
        run["irqs_per_io"] = run["irqs"] / ios
        sq, cq, reads = doorbells(run["n"])
        if sq is not None:
            run["sq_doorbells"], run["cq_doorbells"], run["mmio_reads"] = sq, cq, reads
            run["sq_db_per_io"], run["cq_db_per_io"] = sq / ios, cq / ios
            run["mmio_reads_per_io"] = reads / ios


# --- medians and ratios -----------------------------------------------------------------
def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    med = statistics.median(vals)
    return {"median": med, "min": min(vals), "max": max(vals), "n": len(vals),
            "spread_pct": (max(vals) - min(vals)) / med * 100.0 if med else 0.0}


def failure(rs):
    bad = [r for r in rs if r.get("iops") is None]
    if not bad:
        return None
    msg = " / ".join(sorted({e for r in bad for e in r["fio_stderr"]})) or "fio exit %d" % bad[0]["fio_exit"]
    return {"failed_rounds": len(bad), "message": msg}


# Each time fio sleeps for a completion (a context switch) the guest pays for the sleep, the
# wake-up and two switches. How often that happens depends on whether QEMU (host time) posted
# the completion before fio asked for it, so it varies between rounds, mostly at QD1. Its cost
# is fitted across rounds (the slope of guest CPU per I/O over context switches per I/O within
# each target, job and driver, pooled) and taken out of busy_nosleep_us_per_io.
def fit_sleep_cost():
    groups = {}
    for r in runs:
        if r.get("busy_us_per_io") is not None and r.get("ctx_per_io") is not None:
            groups.setdefault((r["target"], r["job"], r["driver"]), []).append(r)
    num = den = 0.0
    for rs in groups.values():
        if len(rs) < 2:
            continue
        mb = sum(r["busy_us_per_io"] for r in rs) / len(rs)
        mc = sum(r["ctx_per_io"] for r in rs) / len(rs)
        for r in rs:
            num += (r["ctx_per_io"] - mc) * (r["busy_us_per_io"] - mb)
            den += (r["ctx_per_io"] - mc) ** 2
    return num / den if den > 1e-4 else None


SLEEP_WAKE_US = fit_sleep_cost()
for r in runs:
    if SLEEP_WAKE_US is not None and r.get("busy_us_per_io") is not None:
        r["busy_nosleep_us_per_io"] = r["busy_us_per_io"] - SLEEP_WAKE_US * r["ctx_per_io"]

summary = {}
for tname in [t for t, _ in TARGETS] + ["null_blk"]:
    summary[tname] = {}
    drivers = DRIVERS if tname != "null_blk" else ("null_blk",)
    for jname, _ in JOBS:
        row = {}
        for drv in drivers:
            rs = [r for r in runs if r["target"] == tname and r["job"] == jname and r["driver"] == drv]
            row[drv] = {"metrics": {k: stats([r.get(k) for r in rs]) for k in METRICS},
                        "failure": failure(rs), "rounds": len(rs)}
        if tname != "null_blk":
            ratio = {}
            for k in METRICS:
                c, rr = row["nvme"]["metrics"][k], row["rust_nvme"]["metrics"][k]
                ratio[k] = rr["median"] / c["median"] if c and rr and c["median"] else None
            row["ratio_rust_over_nvme"] = ratio
        summary[tname][jname] = row


def geomean(vals):
    vals = [v for v in vals if v]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


overall = {}
for tname, _ in TARGETS:
    rows = summary[tname].values()
    overall[tname] = {
        "iops_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["iops"] for r in rows]),
        "cpu_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["busy_us_per_io"] for r in rows]),
        "cpu_nosleep_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["busy_nosleep_us_per_io"] for r in rows]),
        "lat_p50_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["lat_p50_us"] for r in rows]),
    }


# --- Markdown ----------------------------------------------------------------------------
def med(row, drv, k):
    s = row[drv]["metrics"][k]
    return s["median"] if s else None


def fmt_us(v):
    return None if v is None else ("%.1f" % v if v < 100 else "%.0f" % v)


def fmt_n(v, digits=2):
    return None if v is None else "%.*f" % (digits, v)


def fmt_ratio(v):
    return "–" if v is None else "%.2f" % v


def fmt_tp(row, drv, job):
    if job.startswith("read-128k"):
        v = med(row, drv, "mib_s")
        return None if v is None else "%.0f MiB/s" % v
    v = med(row, drv, "iops")
    return None if v is None else ("%.1fk" % (v / 1000) if v >= 1000 else "%.0f" % v)


def cell(row, drv, job, text):
    """text, or why there is none."""
    if text is not None:
        return text
    if row[drv]["failure"]:
        return "failed"
    return "–"


def pair(row, job, k, f, ratio=True):
    out = [cell(row, d, job, f(med(row, d, k))) for d in DRIVERS]
    if ratio:
        out.append(fmt_ratio(row["ratio_rust_over_nvme"][k]))
    return out


def doorbell_pair(row, d):
    sq, cq = med(row, d, "sq_db_per_io"), med(row, d, "cq_db_per_io")
    return None if sq is None or cq is None else "%.2f + %.2f" % (sq, cq)


def table(head, align, rows):
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"] + \
        ["| " + " | ".join(r) + " |" for r in rows]


wall_s = int(wall)
md = ["# rust_nvme vs nvme: %s" % stamp, ""]
md.append("QEMU %s, TCG with `-icount shift=0,sleep=off` (guest time counts guest instructions, 1 ns each), "
          "2 vCPUs, 1 GiB; guest Linux %s; %s; rust_nvme.ko from `%s` (sha256 %s…). "
          "%s rounds, medians over rounds; `make bench` took %d min %02d s of wall time. "
          "bench/README.md explains every column and what emulation does and does not measure."
          % (qemu.replace("QEMU emulator version ", ""), guest.get("kernel", krel), guest.get("fio", "fio"),
             gitrev, modsum, rounds, wall_s // 60, wall_s % 60))
md.append("")
md.append("Ratios are rust_nvme / nvme: above 1 is better for throughput; below 1 is better for latency, "
          "CPU, interrupts and doorbells. Both drivers run with `poll_queues=1`, which the polled "
          "job uses.")
md.append("")
md.append("Guest CPU per I/O \"without sleeps\" takes out the cost of fio sleeping for a completion "
          "(%s µs of guest CPU per sleep, fitted over the rounds), whose frequency depends on host "
          "timing." % ("–" if SLEEP_WAKE_US is None else "%.2f" % SLEEP_WAKE_US))
md.append("")
md.append("Geometric means of the ratios over the jobs both drivers ran: " + "; ".join(
    "%s: IOPS %s, guest CPU per I/O %s (without sleeps %s), p50 total latency %s" % (
        t, fmt_ratio(o["iops_ratio_geomean"]), fmt_ratio(o["cpu_ratio_geomean"]),
        fmt_ratio(o["cpu_nosleep_ratio_geomean"]), fmt_ratio(o["lat_p50_ratio_geomean"]))
    for t, o in overall.items()) + ".")
R = "--:"
for tname, tdesc in TARGETS:
    md += ["", "## %s: %s" % (tname, tdesc), ""]
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        tk = "mib_s" if job.startswith("read-128k") else "iops"
        rows.append([jdesc] + [cell(row, d, job, fmt_tp(row, d, job)) for d in DRIVERS]
                    + [fmt_ratio(row["ratio_rust_over_nvme"][tk])]
                    + pair(row, job, "clat_p50_us", fmt_us) + pair(row, job, "clat_p99_us", fmt_us))
    md += table(["job", "IOPS or MiB/s: nvme", "rust_nvme", "ratio", "clat p50 µs: nvme", "rust_nvme", "ratio",
                 "clat p99 µs: nvme", "rust_nvme", "ratio"], ["---"] + [R] * 9, rows)
    md.append("")
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        rows.append([jdesc] + pair(row, job, "lat_p50_us", fmt_us) + pair(row, job, "lat_p99_us", fmt_us))
    md += table(["job", "lat p50 µs: nvme", "rust_nvme", "ratio", "lat p99 µs: nvme", "rust_nvme", "ratio"],
                ["---"] + [R] * 6, rows)
    md.append("")
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        rows.append([jdesc] + pair(row, job, "busy_us_per_io", lambda v: fmt_n(v, 2))
                    + pair(row, job, "busy_nosleep_us_per_io", lambda v: fmt_n(v, 2))
                    + pair(row, job, "cpu_us_per_io", lambda v: fmt_n(v, 2))
                    + pair(row, job, "ctx_per_io", fmt_n, ratio=False))
    md += table(["job", "guest CPU µs/IO: nvme", "rust_nvme", "ratio", "without sleeps: nvme", "rust_nvme", "ratio",
                 "fio CPU µs/IO: nvme", "rust_nvme", "ratio", "fio sleeps/IO: nvme", "rust_nvme"],
                ["---"] + [R] * 11, rows)
    md.append("")
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        rows.append([jdesc] + pair(row, job, "irqs_per_io", fmt_n)
                    + pair(row, job, "sq_db_per_io", fmt_n) + pair(row, job, "cq_db_per_io", fmt_n)
                    + pair(row, job, "mmio_reads_per_io", lambda v: fmt_n(v, 3), ratio=False))
    md += table(["job", "irq/IO: nvme", "rust_nvme", "ratio", "SQ doorbells/IO: nvme", "rust_nvme", "ratio",
                 "CQ doorbells/IO: nvme", "rust_nvme", "ratio", "MMIO reads/IO: nvme", "rust_nvme"],
                ["---"] + [R] * 11, rows)

md += ["", "## null_blk: the no-device ceiling", "",
       "`null_blk queue_mode=2 irqmode=0 submit_queues=%s poll_queues=1`: requests complete inside "
       "submission, with no device, no interrupt and no doorbell." % guest.get("ncpu", "?"), ""]
rows = []
for job, jdesc in JOBS:
    row = summary["null_blk"][job]
    rows.append([jdesc, cell(row, "null_blk", job, fmt_tp(row, "null_blk", job))]
                + [cell(row, "null_blk", job, fmt_us(med(row, "null_blk", k)))
                   for k in ("clat_p50_us", "clat_p99_us", "lat_p50_us", "lat_p99_us")]
                + [cell(row, "null_blk", job, fmt_n(med(row, "null_blk", k)))
                   for k in ("busy_us_per_io", "busy_nosleep_us_per_io", "cpu_us_per_io")])
md += table(["job", "IOPS or MiB/s", "clat p50 µs", "clat p99 µs", "lat p50 µs", "lat p99 µs",
             "guest CPU µs/IO", "without sleeps", "fio CPU µs/IO"], ["---"] + [R] * 8, rows)

md += ["", "## Spread across rounds", "",
       "(max - min) / median over the rounds, of IOPS / guest CPU per I/O / guest CPU per I/O without "
       "sleeps: how far the rounds agree.", ""]
cols = [(t, d) for t, _ in TARGETS for d in DRIVERS] + [("null_blk", "null_blk")]
rows = []
for job, jdesc in JOBS:
    cells = [jdesc]
    for t, d in cols:
        m = summary[t][job][d]["metrics"]
        a, b, c = m["iops"], m["busy_us_per_io"], m["busy_nosleep_us_per_io"]
        cells.append("–" if not a else "%.0f%% / %.1f%% / %s" % (
            a["spread_pct"], b["spread_pct"], "–" if not c else "%.1f%%" % c["spread_pct"]))
    rows.append(cells)
md += table(["job"] + ["%s %s" % (t, d) if t != d else t for t, d in cols], ["---"] + [R] * len(cols), rows)

fails = sorted({(t, j, d, row[d]["failure"]["message"]) for t in summary for j, row in summary[t].items()
                for d in row if d in DRIVERS + ("null_blk",) and row[d]["failure"]})
if fails:
    md += ["", "## Jobs that did not run", ""]
    for t, j, d, msg in fails:
        md.append("- %s, %s, %s: `%s`" % (t, d, j, msg))
md.append("")

result = {
    "schema": "rust-nvme-bench/1",
    "stamp": stamp,
    "wall_seconds": wall_s,
    "rounds": int(rounds),
    "scale": float(scale),
    "io_counts": json.loads(sizes),
    "qemu": {"version": qemu, "accel": "tcg", "icount": "shift=0,sleep=off", "smp": 2, "mem": "1G",
             "null_co": "driver=null-co,read-zeroes=on,size=2G",
             "ram_image": "raw, 1 GiB in /dev/shm (tmpfs), cache=writeback, aio=threads"},
    "guest": guest,
    "kernel_release": krel,
    "module": {"git": gitrev, "sha256_16": modsum},
    "drivers": {"nvme": "insmod nvme.ko poll_queues=1", "rust_nvme": "insmod rust_nvme.ko poll_queues=1",
                "null_blk": "queue_mode=2 irqmode=0 submit_queues=NCPU poll_queues=1 gb=2 hw_queue_depth=1024"},
    "jobs": JOB_DESC,
    "metrics": {k: {"meaning": v[0], "better": "higher" if v[1] == "hi" else "lower"} for k, v in METRICS.items()},
    "ns_per_spinner_loop": NS_PER_LOOP,
    "sleep_wake_us": SLEEP_WAKE_US,
    "probe_messages": dmesg,
    "overall": overall,
    "summary": summary,
    "runs": runs,
}
os.makedirs(outdir, exist_ok=True)
base = os.path.join(outdir, stamp)
with open(base + ".json.tmp", "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
with open(base + ".md.tmp", "w") as f:
    f.write("\n".join(md))
os.rename(base + ".json.tmp", base + ".json")
os.rename(base + ".md.tmp", base + ".md")
print("\n".join(md))
print("bench: results in %s.json and %s.md" % (os.path.relpath(base), os.path.relpath(base)))
PY
echo "bench: done in $((($(date +%s) - t_start) / 60)) min $((($(date +%s) - t_start) % 60)) s"
