#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# fio crc32c write-and-verify runs (O_DIRECT) on every namespace of two
# controllers: one namespace with 512-byte blocks, and an nvme-subsys
# controller with three namespaces of 4096-byte blocks. On each namespace:
# libaio and io_uring, each at iodepth 1 and 32, with block sizes from the
# LBA size to 1 MiB (odd sizes included); one with I/O buffers 8 bytes past
# a page boundary; one run with bs=1m, above the
# 512 KiB MDTS, where the block layer must split (checked in the disk's
# write count); then one job file with a job per disk, all at once. Every
# run must exit 0, report error 0 and have written and verified all of its
# data (fio's terse output).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name fio-verify --timeout 240 \
	--disk d0=64M --disk n1=32M --disk n2=32M --disk n3=48M \
	--nvme serial=rfv0,drive=d0,logical_block_size=512,physical_block_size=512 \
	--qemu '-device nvme-subsys,id=subsys0,nqn=rnvme-fio' \
	--nvme id=nvs1,serial=rfv1,subsys=subsys0 \
	--qemu '-device nvme-ns,drive=n1,bus=nvs1,nsid=1,logical_block_size=4096,physical_block_size=4096' \
	--qemu '-device nvme-ns,drive=n2,bus=nvs1,nsid=2,logical_block_size=4096,physical_block_size=4096' \
	--qemu '-device nvme-ns,drive=n3,bus=nvs1,nsid=3,logical_block_size=4096,physical_block_size=4096' \
	- <<'GUEST'
# check_terse OUT WANT_KIB [JOBS]: every job's terse line (version 3) in OUT
# has error 0 (field 5), wrote WANT_KIB (field 47) and read back WANT_KIB for
# the verify (field 6); there are JOBS (default 1) such lines.
check_terse() {
	local out=$1 want=$2 jobs=${3:-1} n
	n=$(grep -c '^3;' "$out" || true)
	[ "$n" = "$jobs" ] || { cat "$out"; fail "fio printed $n terse job lines, want $jobs"; }
	grep '^3;' "$out" | awk -F';' -v want="$want" '
		$5 != 0 { print "job " $3 ": error " $5; bad = 1 }
		$47 != want { print "job " $3 ": wrote " $47 " KiB, want " want; bad = 1 }
		$6 != want { print "job " $3 ": verified (read) " $6 " KiB, want " want; bad = 1 }
		END { exit bad }' || { cat "$out"; fail "fio reported errors or short I/O"; }
}

# run_fio TAG DEV SIZE_MIB FIO_ARGS...: one crc32c write+verify job.
run_fio() {
	local tag=$1 dev=$2 mib=$3 out=/tmp/fio.out t0 rc=0
	shift 3
	t0=$(uptime_ms)
	/usr/bin/fio --name="$tag" --filename="$dev" --size="${mib}M" --rw=randwrite \
		--direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" >"$out" 2>&1 || rc=$?
	[ $rc = 0 ] || { cat "$out"; fail "fio $tag on $dev ($*) exited with $rc"; }
	check_terse "$out" $((mib * 1024))
	log "$tag $dev ${mib}M: ok ($(($(uptime_ms) - t0)) ms)"
}

load_rust_driver
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
bind "$a0" rust_nvme
bind "$a1" rust_nvme
wait_for '[ "$(disks_of '"$a0"' | wc -l)" = 1 ] && [ "$(disks_of '"$a1"' | wc -l)" = 3 ]' 20
disks="$(disks_of "$a0") $(disks_of "$a1")"
[ "$(echo $disks)" = "rnvme0n1 rnvme1n1 rnvme1n2 rnvme1n3" ] || fail "unexpected disks: $disks"

for d in $disks; do
	lbs=$(cat /sys/block/$d/queue/logical_block_size)
	mhw=$(cat /sys/block/$d/queue/max_hw_sectors_kb)
	[ "$mhw" -le 512 ] || fail "$d: max_hw_sectors_kb is $mhw, the device's MDTS allows 512"
	case $lbs in
	512) split=512/10:1k/5:3584/5:4k/20:12k/10:64k/15:132k/10:512k/15:1m/10 ;;
	4096) split=4k/30:8k/10:12k/10:64k/15:132k/10:512k/15:1m/10 ;;
	*) fail "$d: unexpected logical block size $lbs" ;;
	esac
	for engine in libaio io_uring; do
		for qd in 1 32; do
			run_fio "$engine-qd$qd" /dev/$d 8 --ioengine=$engine --iodepth=$qd \
				--bssplit=$split --blockalign=$lbs
		done
	done
	# Buffers 8 bytes past a page boundary (dma_alignment is 4 bytes): each
	# segment starts and ends inside a page.
	run_fio misaligned-buf /dev/$d 8 --ioengine=libaio --iodepth=16 \
		--bssplit=$split --blockalign=$lbs --iomem_align=8
	# 1 MiB requests: twice max_hw_sectors_kb, so each must be split.
	w0=$(awk '{print $5}' /sys/block/$d/stat)
	run_fio bs1m /dev/$d 16 --ioengine=libaio --iodepth=8 --bs=1m
	w1=$(awk '{print $5}' /sys/block/$d/stat)
	want=$((16 * 1024 / mhw))
	[ $((w1 - w0)) -ge $want ] ||
		fail "$d: 16 MiB written in 1 MiB I/Os made $((w1 - w0)) write requests, want at least $want (max_hw_sectors_kb $mhw)"
	log "$d: lbs $lbs, max_hw_sectors_kb $mhw, 16 x 1 MiB writes became $((w1 - w0)) requests"
done

# All namespaces at once, one job each, block sizes from 4 KiB to 1 MiB.
{
	echo "[global]"
	echo "rw=randwrite"
	echo "direct=1"
	echo "ioengine=io_uring"
	echo "iodepth=16"
	echo "bsrange=4k-1m"
	echo "size=8M"
	echo "verify=crc32c"
	echo "verify_fatal=1"
	for d in $disks; do
		echo "[$d]"
		echo "filename=/dev/$d"
	done
} >/tmp/all.fio
t0=$(uptime_ms)
rc=0
/usr/bin/fio --output-format=terse --terse-version=3 /tmp/all.fio >/tmp/all.out 2>&1 || rc=$?
[ $rc = 0 ] || { cat /tmp/all.out; fail "the concurrent fio run exited with $rc"; }
check_terse /tmp/all.out 8192 4
log "all 4 namespaces at once: ok ($(($(uptime_ms) - t0)) ms)"

unbind "$a0"
unbind "$a1"
unload_rust_driver
GUEST
