# SPDX-License-Identifier: GPL-2.0
#
# The guest script of 'make bench' (bench/bench.sh), run by busybox sh in the benchmark VM
# with tests/vm/guest-lib.sh sourced. bench.sh puts the run's settings in front of it:
# ROUNDS, the rounds this VM runs (FIRST_ROUND to LAST_ROUND: one when every round boots its own
# VM, all of them with --one-vm), TRACE (the host directory for QEMU's doorbell trace logs) and
# the I/Os of each job (N_QD1, N_QD32R, N_QD32W, N_SEQ, N_POLL, N_MIX, N_UCMD, N_UCMDP). It prints
# the records that bench/bench-report.py reads on the console.

JOBS="randread-4k-qd1 randread-4k-qd32x2 randwrite-4k-qd32 read-128k-qd8 randread-4k-qd1-poll randrw70-4k-qd16
	randread-512-qd1 randread-512-qd32 read-64k-qd8 write-64k-qd8 read-1m-qd4 write-1m-qd4 randread-4k-qd128x4
	randread-4k-qd16-uring-cmd randread-4k-qd1-uring-cmd-poll"
JOBS=$(echo $JOBS)
# Jobs through the namespace's generic char device (io_uring passthrough), which null_blk lacks.
CHAR_JOBS="randread-4k-qd16-uring-cmd randread-4k-qd1-uring-cmd-poll"
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
	randread-512-qd1) echo "$ONE --rw=randread --bs=512 --iodepth=1 --ioengine=libaio --io_size=$((N_QD1 / 2))k" ;;
	randread-512-qd32) echo "$ONE --rw=randread --bs=512 --iodepth=32 --ioengine=libaio --io_size=$((N_QD32W / 2))k" ;;
	read-64k-qd8) echo "$ONE --rw=read --bs=64k --iodepth=8 --ioengine=libaio --io_size=$((N_SEQ * 2 * 64))k" ;;
	write-64k-qd8) echo "$ONE --rw=write --bs=64k --iodepth=8 --ioengine=libaio --io_size=$((N_SEQ * 2 * 64))k" ;;
	read-1m-qd4) echo "$ONE --rw=read --bs=1m --iodepth=4 --ioengine=libaio --io_size=$((N_SEQ / 4))m" ;;
	write-1m-qd4) echo "$ONE --rw=write --bs=1m --iodepth=4 --ioengine=libaio --io_size=$((N_SEQ / 4))m" ;;
	randread-4k-qd128x4) echo "--numjobs=4 --cpus_allowed=0-$((ncpu - 1)) --cpus_allowed_policy=split --group_reporting --rw=randread --bs=4k --iodepth=128 --ioengine=libaio --io_size=$((N_QD32R / 4 * 4))k" ;;
	randread-4k-qd16-uring-cmd) echo "$ONE --rw=randread --bs=4k --iodepth=16 --ioengine=io_uring_cmd --cmd_type=nvme --direct=0 --io_size=$((N_UCMD * 4))k" ;;
	randread-4k-qd1-uring-cmd-poll) echo "$ONE --rw=randread --bs=4k --iodepth=1 --ioengine=io_uring_cmd --cmd_type=nvme --direct=0 --hipri --io_size=$((N_UCMDP * 4))k" ;;
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

# Jobs per round, numbered on across the run's VMs (their trace logs are job-N.log).
per_round=$((5 * $(echo $JOBS | wc -w) - $(echo $CHAR_JOBS | wc -w)))
total=$((ROUNDS * per_round))
nth=$(((FIRST_ROUND - 1) * per_round))

# run_job TARGET DRIVER PCIADDR|- DISK JOB: runs one fio job and prints its
# record (raw fio JSON, interrupts, guest uptime before and after) on the
# console for the host. Record lines start with '[' so the live output of
# tests/harness/vm.sh shows them only with RNVME_VERBOSE=1; the progress line is
# the one a person reads.
run_job() {
	local target=$1 drv=$2 addr=$3 disk=$4 job=$5 rc=0 s node
	case " $CHAR_JOBS " in
	*" $job "*)
		# The disk's char device: C's nvmeXnY has ngXnY, our rnvmeXnY has rngXnY.
		[ "$target" != null_blk ] || return 0
		node=/dev/$(echo "$disk" | sed 's/nvme/ng/')
		;;
	*) node=/dev/$disk ;;
	esac
	nth=$((nth + 1))
	rm -f /tmp/bench.json /tmp/bench.err /tmp/bench-idle.log
	[ "$addr" = - ] || trace_to "job-$nth"
	irq_snap "$addr" >/tmp/bench-irq0
	# shellcheck disable=SC2046 # job_args is split on purpose
	/usr/bin/fio --name="$job" --filename="$node" --direct=1 --size=$REGION \
		--randrepeat=1 --clat_percentiles=1 --lat_percentiles=1 --percentile_list=50:99 \
		--disk_util=0 --eta=never --output-format=json --output=/tmp/bench.json \
		--exec_prerun='/usr/bin/bench-idle start; true' \
		--exec_postrun='/usr/bin/bench-idle stop; true' \
		$(job_args "$job") 2>/tmp/bench.err || rc=$?
	# (A spinner still running here is killed and named in the job's record: bench-report.py
	# warns about the jobs it overlapped.)
	/usr/bin/bench-idle reap 2>>/tmp/bench.err
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
log "$total jobs: $ROUNDS rounds x 5 targets x $(echo $JOBS | wc -w) jobs (null_blk without the char device ones)"

round=$FIRST_ROUND
while [ $round -le "$LAST_ROUND" ]; do
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
