#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Every data mapping through bounce buffers (swiotlb=force), on both drivers.
# rust_nvme maps scattered data one bio vector at a time where the device's
# mappings are direct, and decides that at bind, before any mapping: with
# swiotlb=force the first bounce makes the mappings need undoing, and the
# bounced data of a read reaches the caller's pages only when the mapping is
# undone. So on a 512-byte and a 4096-byte namespace, crc32c write-and-verify
# runs (O_DIRECT, libaio and io_uring, iodepth 1 and 16, block sizes from the
# LBA size to 1 MiB, buffers 8 bytes past a page boundary in one run), then
# sha256 of data written through the page cache read back O_DIRECT; the
# bounce buffer slots in use (debugfs) must be back where they started after
# the controllers are unbound. The C driver runs the same on the same
# controllers first.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name swiotlb --timeout 300 --append 'swiotlb=force' \
	--disk d0=48M --disk d1=48M \
	--nvme serial=rsw0,drive=d0,logical_block_size=512,physical_block_size=512 \
	--nvme serial=rsw1,drive=d1,logical_block_size=4096,physical_block_size=4096 \
	- <<'GUEST'
grep -qw swiotlb=force /proc/cmdline || fail "the kernel was not booted with swiotlb=force"
used=/sys/kernel/debug/swiotlb/io_tlb_used
[ -r $used ] || fail "no $used: the kernel has no swiotlb debugfs"

# check_terse OUT WANT_KIB: the terse line (version 3) in OUT has error 0 and
# wrote and verified WANT_KIB.
check_terse() {
	local out=$1 want=$2
	grep '^3;' "$out" | awk -F';' -v want="$want" '
		{ n++ }
		$5 != 0 { print "error " $5; bad = 1 }
		$47 != want { print "wrote " $47 " KiB, want " want; bad = 1 }
		$6 != want { print "verified " $6 " KiB, want " want; bad = 1 }
		END { exit bad || n != 1 }' || { cat "$out"; fail "fio reported errors or short I/O"; }
}

# run_fio TAG DEV FIO_ARGS...: one 6 MiB crc32c write+verify job.
run_fio() {
	local tag=$1 dev=$2 out=/tmp/fio.out rc=0
	shift 2
	/usr/bin/fio --name="$tag" --filename="$dev" --size=6M --rw=randwrite \
		--direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" >"$out" 2>&1 || rc=$?
	[ $rc = 0 ] || { cat "$out"; fail "fio $tag on $dev ($*) exited with $rc"; }
	check_terse "$out" $((6 * 1024))
	log "$tag $dev: ok"
}

# exercise DRIVER: binds both controllers to DRIVER, runs every check on each
# disk (noting its transfer size limit in /tmp/mhw.DRIVER), unbinds them.
exercise() {
	local drv=$1 a0 a1 d lbs split engine qd
	a0=$(pci_addr_of 0)
	a1=$(pci_addr_of 1)
	bind "$a0" "$drv"
	bind "$a1" "$drv"
	wait_for '[ -n "$(disks_of '"$a0"')" ] && [ -n "$(disks_of '"$a1"')" ]' 20
	for d in $(disks_of "$a0") $(disks_of "$a1"); do
		lbs=$(cat /sys/block/$d/queue/logical_block_size)
		echo "$lbs $(cat /sys/block/$d/queue/max_hw_sectors_kb)" >>/tmp/mhw.$drv
		case $lbs in
		512) split=512/10:3584/10:4k/20:12k/10:64k/15:128k/15:512k/10:1m/10 ;;
		4096) split=4k/30:12k/10:64k/15:128k/15:512k/15:1m/15 ;;
		*) fail "$d: unexpected logical block size $lbs" ;;
		esac
		for engine in libaio io_uring; do
			for qd in 1 16; do
				run_fio "$drv-$engine-qd$qd" /dev/$d --ioengine=$engine \
					--iodepth=$qd --bssplit=$split --blockalign=$lbs
			done
		done
		run_fio "$drv-misaligned" /dev/$d --ioengine=libaio --iodepth=16 \
			--bssplit=$split --blockalign=$lbs --iomem_align=8
		# Through the page cache (multi-page requests from writeback and
		# readahead), read back past it.
		dd if=/dev/urandom of=/tmp/pc.bin bs=1M count=4 2>/dev/null
		dd if=/tmp/pc.bin of=/dev/$d bs=1M seek=8 conv=fsync 2>/dev/null ||
			fail "$drv: buffered write to $d failed"
		echo 3 >/proc/sys/vm/drop_caches
		[ "$(dd if=/dev/$d bs=1M skip=8 count=4 2>/dev/null | sha256sum)" = \
			"$(sha256sum </tmp/pc.bin)" ] || fail "$drv: $d read back other data"
		[ "$(dd if=/dev/$d bs=1M skip=8 count=4 iflag=direct 2>/dev/null | sha256sum)" = \
			"$(sha256sum </tmp/pc.bin)" ] || fail "$drv: $d read back (O_DIRECT) other data"
		log "$drv: $d page cache round trip ok"
	done
	unbind "$a0"
	unbind "$a1"
}

before=$(cat $used)
log "bounce slots in use at start: $before"
load_c_driver
exercise nvme
unload_c_driver
after_c=$(cat $used)
[ "$after_c" = "$before" ] || fail "after the C driver: $after_c bounce slots in use, $before at start"

load_rust_driver
exercise rust_nvme
unload_rust_driver
# A contiguous buffer is one segment, and a bounce buffer holds at most
# dma_opt_mapping_size() (256 KiB): both drivers cap their transfers there.
[ "$(cat /tmp/mhw.rust_nvme)" = "$(cat /tmp/mhw.nvme)" ] ||
	fail "max_hw_sectors_kb: rust_nvme $(cat /tmp/mhw.rust_nvme | tr '\n' ' '), nvme $(cat /tmp/mhw.nvme | tr '\n' ' ')"
while read -r lbs kb; do
	[ "$kb" -le 256 ] || fail "max_hw_sectors_kb $kb with bounce buffers of 256 KiB"
done </tmp/mhw.rust_nvme
after=$(cat $used)
[ "$after" = "$before" ] ||
	fail "after rust_nvme: $after bounce slots in use, $before at start (a mapping never undone)"
log "bounce slots in use at the end: $after"
GUEST
