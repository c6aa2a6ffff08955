#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Soak test ('make soak'): SOAK_MINUTES (default 30) of crc32c-verified mixed I/O on two
# rust_nvme controllers at once, in one VM, interleaved with disruptions, in turn:
#   rebind  controller A is unbound and bound again while a verify job runs on B
#   reset   controller B's backend is stalled (QEMU I/O throttling) past io_timeout while
#           a verify job runs on A: B's controller is reset, A's job is untouched
#   reload  both are unbound, the module is unloaded and loaded again with the next set
#           of parameters (queue depth, poll queues, no shadow doorbells, one queue, ...)
# Each round starts with a verify job on both disks at once (randrw, block sizes from 4 KiB
# to 1 MiB, verify backlog), and after every disruption a 4 MiB pattern kept on each disk
# outside the fio range must read back unchanged. Every verify job must finish with no
# error; I/O failed by a stall past the retry budget is allowed in the reset job only.
# The run passes when the guest script does and the console has no kernel report.
# At least one round of each disruption runs, however short SOAK_MINUTES is.
# Not part of 'make test'.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$RNVME_ROOT"

minutes=${SOAK_MINUTES:-30}
[[ "$minutes" =~ ^[0-9]+$ ]] && [ "$minutes" -gt 0 ] || die "SOAK_MINUTES='$minutes' is not a positive number of minutes"
secs=$((minutes * 60))
say "soak: $minutes min of verified I/O on two controllers with rebinds, resets and reloads"
exec tests/harness/vm.sh --name soak --timeout $((secs + 900)) --append "rnvme.soak_secs=$secs" \
	--disk sa=256M --disk sb=256M \
	--nvme id=nva,serial=rsoak0,drive=sa \
	--nvme id=nvb,serial=rsoak1,drive=sb - <<'GUEST'
SECS=$(rnvme_param soak_secs)
[ -n "$SECS" ] || fail "no rnvme.soak_secs= on the kernel command line"
# Module parameter sets, one per load, in turn; io_timeout stays short for the resets.
PARAMS="io_timeout=3
io_timeout=3 io_queue_depth=64
io_timeout=3 poll_queues=1
io_timeout=3 use_dbbuf=0 max_io_queues=1
io_timeout=3 debug_stats=1 io_queue_depth=16"
NPARAMS=$(echo "$PARAMS" | wc -l)
KEEP=$((200 * 1048576))
A=$(pci_addr_of 0)
B=$(pci_addr_of 1)
loads=0 rebinds=0 resets=0 reloads=0 jobs=0 mib=0 stall_errs=0

disk_of() {
	wait_for '[ -n "$(disks_of '"$1"')" ]' 30
	disks_of "$1"
}
# load_and_bind: loads the module with the next parameter set and binds both controllers.
load_and_bind() {
	local p
	p=$(echo "$PARAMS" | sed -n "$((loads % NPARAMS + 1))p")
	loads=$((loads + 1))
	load_rust_driver $p
	bind "$A" rust_nvme >/dev/null
	bind "$B" rust_nvme >/dev/null
	DA=$(disk_of "$A")
	DB=$(disk_of "$B")
	log "module loaded ($p); /dev/$DA, /dev/$DB"
}
# keep_write DISK / keep_check DISK WHAT: the 4 MiB pattern outside the fio range.
keep_write() {
	/usr/bin/dd if=/tmp/keep.bin of=/dev/$1 bs=1M oflag=direct,seek_bytes seek=$KEEP conv=notrunc status=none ||
		fail "writing the kept pattern to /dev/$1 failed"
}
keep_check() {
	local s
	s=$(/usr/bin/dd if=/dev/$1 bs=1M iflag=direct,skip_bytes skip=$KEEP count=4 status=none | /usr/bin/sha256sum | cut -d' ' -f1)
	[ "$s" = "$KEEP_SHA" ] || fail "/dev/$1: the kept 4 MiB pattern changed after $2"
}
# fio_job OUT NAME=DISK...: one fio run, a verified randrw job per disk; returns fio's
# status, output in OUT.
fio_job() {
	local out=$1 j args=''
	shift
	for j in "$@"; do
		args="$args --name=${j%%=*} --filename=/dev/${j#*=}"
	done
	/usr/bin/fio --direct=1 --ioengine=libaio --iodepth=16 --rw=randrw --rwmixread=40 \
		--bssplit=4k/40:16k/20:64k/20:256k/15:1m/5 --size=32M --offset=0 \
		--verify=crc32c --verify_fatal=1 --verify_backlog=64 \
		--randseed=$(($(uptime_ms) % 100000 + 1)) --output-format=terse --terse-version=3 \
		$args >"$out" 2>&1
}
# verify_job NAME=DISK...: fio_job that must pass, every job with error 0 and data moved.
verify_job() {
	local out=/tmp/fio-$$.out rc=0
	fio_job $out "$@" || rc=$?
	if [ $rc != 0 ] || ! grep '^3;' $out | awk -F';' -v n=$# '
		$5 != 0 || $47 == 0 { bad = 1 } END { exit bad || NR != n }'; then
		cat $out
		fail "verify job $* failed (fio exit $rc)"
	fi
	jobs=$((jobs + $#))
	mib=$((mib + $(grep '^3;' $out | awk -F';' '{ s += $6 + $47 } END { printf "%d", s / 1024 }')))
}
# bg_verify NAME=DISK: verify_job in the background; its status lands in /tmp/bg.rc.
bg_verify() {
	rm -f /tmp/bg.rc /tmp/bg.out
	(
		rc=0
		fio_job /tmp/bg.out "$@" || rc=$?
		[ $rc != 0 ] || grep '^3;' /tmp/bg.out | awk -F';' '$5 != 0 || $47 == 0 { bad = 1 } END { exit bad || NR != 1 }' || rc=99
		echo $rc >/tmp/bg.rc
	) &
	BGPID=$!
}
bg_wait() {
	wait $BGPID || true
	[ "$(cat /tmp/bg.rc 2>/dev/null)" = 0 ] || { cat /tmp/bg.out; fail "background verify job ($1) failed"; }
	jobs=$((jobs + 1))
}
count() {
	dmesg | grep -c "$1" || true
}

/usr/bin/dd if=/dev/urandom of=/tmp/keep.bin bs=1M count=4 status=none
KEEP_SHA=$(/usr/bin/sha256sum </tmp/keep.bin | cut -d' ' -f1)
load_and_bind
keep_write $DA
keep_write $DB
t0=$(uptime_ms)
round=0
while :; do
	el=$((($(uptime_ms) - t0) / 1000))
	[ $el -lt "$SECS" ] || [ $round -lt 3 ] || break
	round=$((round + 1))
	verify_job a=$DA b=$DB
	case $((round % 3)) in
	1)
		bg_verify b=$DB
		sleep 1
		unbind "$A" >/dev/null
		[ -z "$(disks_of "$A")" ] || fail "round $round: /dev/$DA still there after unbind"
		bind "$A" rust_nvme >/dev/null
		DA=$(disk_of "$A")
		keep_check $DA "a rebind"
		bg_wait "b=$DB during the rebind of $A"
		verify_job a=$DA
		rebinds=$((rebinds + 1))
		what="rebind of $A"
		;;
	2)
		r0=$(count "rust_nvme $B: resetting controller")
		c0=$(count "rust_nvme $B: controller reset complete")
		bg_verify a=$DA
		/usr/bin/fio --name=stall --filename=/dev/$DB --direct=1 --ioengine=libaio --rw=randwrite \
			--bs=4k --iodepth=8 --size=32M --offset=64M --time_based --runtime=14 \
			--output-format=terse --terse-version=3 >/tmp/stall.out 2>&1 &
		sp=$!
		sleep 1
		host_do block_set_io_throttle sb 0 0 0 1 0 0 >/dev/null
		sleep 8
		host_do block_set_io_throttle sb 0 0 0 0 0 0 >/dev/null
		wait $sp || stall_errs=$((stall_errs + 1))
		bg_wait "a=$DA during the reset of $B"
		r1=$(count "rust_nvme $B: resetting controller")
		c1=$(count "rust_nvme $B: controller reset complete")
		[ $r1 -gt $r0 ] || fail "round $round: an 8 s stall with io_timeout=3 caused no reset of $B"
		[ $c1 -gt $c0 ] || fail "round $round: the reset of $B did not complete"
		if dmesg | grep -q "rust_nvme $B: controller is dead"; then
			fail "round $round: $B was declared dead"
		fi
		if dmesg | grep -q "rust_nvme $A: resetting controller"; then
			fail "round $round: $A was reset, but only $B was stalled"
		fi
		keep_check $DB "a controller reset"
		verify_job b=$DB
		resets=$((resets + r1 - r0))
		what="$((r1 - r0)) reset(s) of $B"
		;;
	0)
		unbind "$A" >/dev/null
		unbind "$B" >/dev/null
		unload_rust_driver
		[ ! -e /sys/module/rust_nvme ] || fail "round $round: rust_nvme still loaded after rmmod"
		load_and_bind
		keep_check $DA "a module reload"
		keep_check $DB "a module reload"
		reloads=$((reloads + 1))
		what="module reload"
		;;
	esac
	log "round $round at $(($(uptime_ms) - t0))ms: verify on both, $what; $jobs jobs, $mib MiB verified so far"
done
verify_job a=$DA b=$DB
unbind "$A" >/dev/null
unbind "$B" >/dev/null
unload_rust_driver
log "soak done: $round rounds in $((($(uptime_ms) - t0) / 1000)) s; $jobs verify jobs, $mib MiB moved, 0 verify errors; $rebinds rebinds, $resets resets ($stall_errs stall jobs saw errors), $reloads reloads, $loads loads"
GUEST
