#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The verify suite's core with the hot-path options on and off: rust_nvme is
# loaded four times, with poll queues (0, 1 or 2), shadow doorbells (use_dbbuf)
# on and off, and sgl_threshold 32768 (the default), 1 (SGLs for all scattered
# data) and 0 (PRPs unless they cannot describe the data), on a 512-byte and a
# 4096-byte controller.
# Each time:
#   - the probe line reports the poll queues and the shadow doorbell state asked
#     for, and queue/io_poll says whether the disk takes polled I/O;
#   - crc32c write+verify with libaio at depth 32 (interrupts), and with io_uring
#     --hipri at depth 1 and 16 when there are poll queues (io_uring without
#     --hipri otherwise, where polled I/O must fail with EOPNOTSUPP), block sizes
#     from the LBA size to 256 KiB, must pass with no error and all data moved;
#   - on the 512-byte disk, O_DIRECT pwritev/preadv of eight 512-byte pieces in separate
#     pages (gaps inside a controller page, which PRPs cannot describe) must read back,
#     and go by SGL whatever sgl_threshold says;
#   - with debug_stats, the per-queue counters logged at unbind must show every
#     command completed, and with poll queues, completions reaped on the polled
#     queues (the queues past the interrupt-driven ones).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-ioctl-probe" tests/vm/tools/nvme-ioctl-probe.c
tests/harness/vm.sh --name fio-modes --timeout 300 \
	--file "$tmp/nvme-ioctl-probe=/usr/bin/nvme-ioctl-probe" \
	--disk d0=48M --disk d1=48M \
	--nvme serial=rfm0,drive=d0,logical_block_size=512,physical_block_size=512 \
	--nvme serial=rfm1,drive=d1,logical_block_size=4096,physical_block_size=4096 - <<'GUEST'
ncpu=$(grep -c '^processor' /proc/cpuinfo)
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)

# verify DEV TAG FIO_ARGS...: crc32c write+verify of 8 MiB; exit 0, error 0, all data.
verify() {
	local dev=$1 tag=$2 out=/tmp/fio.out rc=0
	shift 2
	/usr/bin/fio --name="$tag" --filename="$dev" --size=8M --rw=randwrite --direct=1 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" >$out 2>&1 || rc=$?
	[ $rc = 0 ] || { cat $out; fail "fio $tag on $dev ($*) exited with $rc"; }
	grep '^3;' $out | awk -F';' '$5 != 0 || $6 != 8192 || $47 != 8192 { bad = 1 } END { exit bad || NR != 1 }' ||
		{ cat $out; fail "fio $tag on $dev ($*) reported an error or short I/O"; }
}

mode=0
for m in "0 true 32768" "1 true 1" "2 false 0" "0 false 32768"; do
	set -- $m
	pq=$1 db=$2 st=$3
	mode=$((mode + 1))
	dmesg -c >/dev/null
	load_rust_driver poll_queues=$pq use_dbbuf=$db sgl_threshold=$st debug_stats=true
	bind "$a0" rust_nvme
	bind "$a1" rust_nvme
	wait_for '[ -n "$(disks_of '"$a0"')" ] && [ -n "$(disks_of '"$a1"')" ]' 20
	case $db in true) dbs=on ;; *) dbs=off ;; esac
	for a in $a0 $a1; do
		l=$(dmesg | grep "rust_nvme $a: .* I/O queues of depth " | tail -n 1)
		case "$l" in
		*"; $pq poll queues, shadow doorbells $dbs"*) ;;
		*) fail "mode $mode: probe line of $a does not say '$pq poll queues, shadow doorbells $dbs': $l" ;;
		esac
		d=$(disks_of "$a")
		want=0
		[ "$pq" = 0 ] || want=1
		got=$(cat /sys/block/$d/queue/io_poll)
		[ "$got" = $want ] || fail "mode $mode: $d queue/io_poll is $got, want $want"
		lbs=$(cat /sys/block/$d/queue/logical_block_size)
		split=4k/40:8k/20:64k/20:256k/20
		[ "$lbs" = 4096 ] || split=512/10:3584/10:4k/30:8k/10:64k/20:256k/20
		verify /dev/$d libaio-qd32 --ioengine=libaio --iodepth=32 --bssplit=$split --blockalign=$lbs
		if [ "$pq" != 0 ]; then
			verify /dev/$d hipri-qd1 --ioengine=io_uring --hipri --iodepth=1 --bssplit=$split --blockalign=$lbs
			verify /dev/$d hipri-qd16 --ioengine=io_uring --hipri --iodepth=16 --bssplit=$split --blockalign=$lbs
		else
			# Without poll queues the block layer refuses polled I/O, as with the C driver.
			rc=0
			/usr/bin/fio --name=nopoll --filename=/dev/$d --size=1M --rw=randread --direct=1 \
				--ioengine=io_uring --hipri --bs=4k >/tmp/nopoll.out 2>&1 || rc=$?
			[ $rc != 0 ] && grep -q 'Operation not supported' /tmp/nopoll.out ||
				{ cat /tmp/nopoll.out; fail "mode $mode: polled I/O on $d without poll queues did not fail with EOPNOTSUPP"; }
			verify /dev/$d uring-qd1 --ioengine=io_uring --iodepth=1 --bssplit=$split --blockalign=$lbs
			verify /dev/$d uring-qd16 --ioengine=io_uring --iodepth=16 --bssplit=$split --blockalign=$lbs
		fi
		if [ "$lbs" = 512 ]; then
			# Eight 512-byte pieces, each in its own page: a request with gaps inside a
			# controller page, which only an SGL describes.
			r=$(nvme-ioctl-probe vec-io /dev/$d)
			[ "$r" = "ret=0 errno=0 vec=ok" ] || fail "mode $mode: vectored I/O with gaps on $d: $r"
		fi
		log "mode $mode (poll_queues=$pq use_dbbuf=$db sgl_threshold=$st): $d (lbs $lbs, io_poll $got) verified"
	done
	unbind "$a0"
	unbind "$a1"
	unload_rust_driver
	# "queue Q: C commands, N completions, S SQ and Q CQ doorbell MMIO writes"
	for a in $a0 $a1; do
		stats=$(dmesg | grep "rust_nvme $a: queue [0-9]*: " | sed 's/.*: queue //')
		[ -n "$stats" ] || fail "mode $mode: no queue counters for $a at unbind"
		echo "$stats" | sed "s/^/[t] $a queue /"
		nq=$(echo "$stats" | wc -l)
		echo "$stats" | awk '$2 != $4 { print "queue " $1 " " $2 " commands but " $4 " completions"; bad = 1 } END { exit bad }' ||
			fail "mode $mode: $a: a queue's commands and completions differ"
		# "..., N by SGL": QEMU's controller takes SGLs, so with sgl_threshold=1 every
		# scattered transfer goes by SGL; with the default, only those whose pages happen to
		# be physically contiguous enough for a 32 KiB average segment (not asserted).
		nsgl=$(echo "$stats" | sed -n 's/.* \([0-9]*\) by SGL$/\1/p' | awk '{ n += $1 } END { print n + 0 }')
		# The gapped vectored I/O on the 512-byte disk goes by SGL whatever the threshold.
		if [ "$st" = 1 ] || [ "$a" = "$a0" ]; then
			[ "$nsgl" -gt 0 ] || fail "mode $mode: $a: no command went by SGL with sgl_threshold=$st"
		fi
		log "mode $mode: $a: $nsgl commands by SGL (sgl_threshold=$st)"
		if [ "$pq" != 0 ]; then
			[ "$nq" -gt "$pq" ] || fail "mode $mode: $a has $nq queues, want interrupt queues and $pq polled"
			polled=$(echo "$stats" | tail -n "$pq" | awk '{ n += $4 } END { print n + 0 }')
			[ "$polled" -gt 0 ] || fail "mode $mode: $a: no completion on the polled queues"
			log "mode $mode: $a: $polled completions reaped by polling on $pq poll queue(s)"
		fi
	done
done
log "all modes verified ($ncpu CPUs)"
GUEST
