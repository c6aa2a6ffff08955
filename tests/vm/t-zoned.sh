#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Zoned namespaces (issue 15): one controller (zone append size limit ZASL 5: 128 KiB) with a
# zoned namespace of 64 MiB in 4 MiB zones of 3 MiB capacity, at most 6 open and 8 active,
# and a plain namespace beside it. The C driver first, then ours, in the same VM:
#   - the zoned disk's size, zone model, chunk_sectors, nr_zones, max_open_zones,
#     max_active_zones and zone_append_max_bytes (sysfs, lsblk): ours must equal C's;
#   - blkzone report of the disk reset (zones keep their state from one driver to the
#     other): ours must equal C's line for line;
#   - a crc32c-verified fio job with --zonemode=zbd writing 3 zones sequentially, then the
#     report (write pointers where fio left them): equal to C's;
#   - blkzone reset of the whole disk: every zone empty again; blkzone open, close and finish
#     of single zones, each visible in the report;
#   - zone append through nvme-cli (passthrough of Zone Append) into an empty zone: the LBA the
#     device returns, and the data read back there with dd;
#   - the plain namespace keeps working (fio verify).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name zoned --timeout 300 \
	--disk z1=64M --disk z2=16M --nvme serial=rzn0,id=c0,zoned.zasl=5 \
	--qemu '-device nvme-ns,drive=z1,bus=c0,nsid=1,zoned=on,zoned.zone_size=4M,zoned.zone_capacity=3M,zoned.max_open=6,zoned.max_active=8' \
	--qemu '-device nvme-ns,drive=z2,bus=c0,nsid=2' - <<'GUEST'
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)

# describe DISK: what the block layer says about the zoned disk.
describe() {
	local q=/sys/block/$1/queue f out
	out="size=$(/usr/bin/lsblk -bdn -o SIZE /dev/$1 | tr -d ' ') zoned=$(/usr/bin/lsblk -dn -o ZONED /dev/$1 | tr -d ' ')"
	for f in zoned chunk_sectors nr_zones max_open_zones max_active_zones zone_append_max_bytes; do
		out="$out $f=$(cat $q/$f)"
	done
	echo "$out"
}

# report DISK: blkzone's report without the device name.
report() {
	/usr/sbin/blkzone report /dev/$1 | sed 's/^ *//'
}

pass() {
	local drv=$1 d p lba
	bind "$a" "$drv"
	wait_for '[ "$(disks_of '"$a"' | wc -l)" = 2 ]' 20
	d=$(disk_nsid "$a" 1)
	p=$(disk_nsid "$a" 2)
	describe "$d" >/tmp/desc.$drv
	log "$drv: $(cat /tmp/desc.$drv)"
	# The zones keep their state across drivers: start from empty ones.
	/usr/sbin/blkzone reset /dev/$d || fail "$drv: blkzone reset failed"
	report "$d" >/tmp/rep0.$drv
	[ "$(wc -l </tmp/rep0.$drv)" = 16 ] || fail "$drv: $(wc -l </tmp/rep0.$drv) zones reported, want 16"
	/usr/bin/fio --name=zbd --filename=/dev/$d --zonemode=zbd --direct=1 --ioengine=libaio \
		--iodepth=1 --rw=write --bs=64k --size=12M --verify=crc32c --do_verify=1 \
		--output-format=terse >/tmp/fio.out 2>&1 ||
		fail "$drv: fio --zonemode=zbd failed: $(tail -n 3 /tmp/fio.out)"
	report "$d" >/tmp/rep1.$drv
	/usr/sbin/blkzone reset /dev/$d || fail "$drv: blkzone reset failed"
	report "$d" >/tmp/rep2.$drv
	grep -v 'cond: *1(em)' /tmp/rep2.$drv && fail "$drv: zones not empty after the reset (above)"
	/usr/sbin/blkzone open -o 8192 -c 1 /dev/$d || fail "$drv: blkzone open failed"
	/usr/sbin/blkzone finish -o 16384 -c 1 /dev/$d || fail "$drv: blkzone finish failed"
	/usr/sbin/blkzone open -o 24576 -c 1 /dev/$d && /usr/sbin/blkzone close -o 24576 -c 1 /dev/$d ||
		fail "$drv: blkzone open and close failed"
	report "$d" >/tmp/rep3.$drv
	/usr/bin/dd if=/dev/urandom of=/tmp/app bs=4096 count=2 2>/dev/null
	/usr/sbin/nvme zns zone-append /dev/$d -s 0 -z 8192 -d /tmp/app >/tmp/app.out 2>&1 ||
		fail "$drv: nvme zns zone-append failed: $(cat /tmp/app.out)"
	lba=$(sed -n 's/.*to LBA \([0-9a-fx]*\).*/\1/p' /tmp/app.out | head -n 1)
	[ -n "$lba" ] || fail "$drv: no LBA in nvme zns zone-append's output: $(cat /tmp/app.out)"
	/usr/bin/dd if=/dev/$d of=/tmp/app.rd bs=512 skip=$((lba)) count=16 iflag=direct 2>/dev/null &&
		/usr/bin/cmp -s /tmp/app /tmp/app.rd || fail "$drv: the zone append at LBA $lba does not read back"
	echo "$lba" >/tmp/lba.$drv
	fio_verify "/dev/$p" 4M
	unbind "$a"
}

pass nvme
pass rust_nvme
[ "$(cat /tmp/desc.rust_nvme)" = "$(cat /tmp/desc.nvme)" ] ||
	fail "zoned disk: ours $(cat /tmp/desc.rust_nvme); C $(cat /tmp/desc.nvme)"
for r in rep0 rep1 rep3; do
	/usr/bin/cmp -s /tmp/$r.rust_nvme /tmp/$r.nvme || {
		diff /tmp/$r.nvme /tmp/$r.rust_nvme || true
		fail "zone report $r: ours differs from C's (above)"
	}
done
log "zone reports equal to C's: fresh, after fio (3 zones written), after open/finish/close"
sed -n '1,4p' /tmp/rep3.rust_nvme
log "zone append: ours at LBA $(cat /tmp/lba.rust_nvme), C at LBA $(cat /tmp/lba.nvme), both read back"
GUEST
