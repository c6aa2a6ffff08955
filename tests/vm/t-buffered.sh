#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Buffered (page cache) I/O through rust_nvme: 16 MiB of random data written
# with dd at an offset that is not page aligned (the page cache must read the
# partial pages first), synced, caches dropped, read back and compared, with
# the bytes around it still zero and the disk's read counter proving the
# read-back came from the device. Then an ext2 file system on each of two
# namespaces (512-byte blocks: 1 KiB fs blocks; 4096-byte blocks): files
# copied in, synced, unmounted, e2fsck clean, caches dropped, mounted again
# and every file's sha256 compared.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name buffered --timeout 180 \
	--disk d0=64M --disk d1=64M \
	--nvme serial=rbf0,drive=d0,logical_block_size=512,physical_block_size=512 \
	--nvme serial=rbf1,drive=d1,logical_block_size=4096,physical_block_size=4096 - <<'GUEST'
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
# sectors_read DISK: sectors read from DISK so far (/sys/block/DISK/stat field 3).
sectors_read() {
	awk '{print $3}' /sys/block/$1/stat
}

grep -qw ext2 /proc/filesystems || fail "the kernel has no ext2 (/proc/filesystems: $(awk '{print $NF}' /proc/filesystems | tr '\n' ' '))"
load_rust_driver
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
bind "$a0" rust_nvme
bind "$a1" rust_nvme
wait_for '[ -n "$(disks_of '"$a0"')" ] && [ -n "$(disks_of '"$a1"')" ]' 20
d0=$(disks_of "$a0")
d1=$(disks_of "$a1")

# --- raw block device, buffered -------------------------------------------
off=$((1024 * 1024 + 1536)) # 1 MiB + 1.5 KiB: not page aligned
len=$((16 * 1024 * 1024))
/usr/bin/dd if=/dev/urandom of=/tmp/rand.bin bs=1M count=16 status=none
want=$(/usr/bin/sha256sum </tmp/rand.bin | cut -d' ' -f1)
/usr/bin/dd if=/tmp/rand.bin of=/dev/$d0 bs=1M oflag=seek_bytes seek=$off status=none ||
	fail "buffered dd write to /dev/$d0 failed"
drop_caches
r0=$(sectors_read $d0)
got=$(/usr/bin/dd if=/dev/$d0 bs=1M iflag=skip_bytes,count_bytes skip=$off count=$len status=none |
	/usr/bin/sha256sum | cut -d' ' -f1)
r1=$(sectors_read $d0)
[ "$got" = "$want" ] || fail "/dev/$d0: buffered read-back of 16 MiB at $off has sha256 $got, wrote $want"
[ $((r1 - r0)) -ge $((len / 512)) ] ||
	fail "/dev/$d0: the read-back read only $((r1 - r0)) sectors from the device (caches not dropped?)"
# The 1 MiB + 1.5 KiB before the region and 1 MiB after it are still zero.
/usr/bin/dd if=/dev/zero of=/tmp/zero.bin bs=1 count=$off status=none
/usr/bin/dd if=/dev/$d0 bs=1M iflag=count_bytes count=$off status=none >/tmp/before.bin
/usr/bin/cmp /tmp/before.bin /tmp/zero.bin || fail "/dev/$d0: the bytes before the written region changed"
/usr/bin/dd if=/dev/$d0 bs=1M iflag=skip_bytes,count_bytes skip=$((off + len)) count=1048576 status=none |
	/usr/bin/cmp -n 1048576 - /dev/zero || fail "/dev/$d0: the bytes after the written region changed"
log "/dev/$d0: 16 MiB buffered write at offset $off read back after drop_caches ($((r1 - r0)) sectors from the device), surroundings intact"
rm -f /tmp/zero.bin /tmp/before.bin

# --- ext2 ---------------------------------------------------------------
mkdir -p /tmp/src
cp /tmp/rand.bin /tmp/src/big.bin
/usr/bin/dd if=/dev/urandom of=/tmp/src/odd.bin bs=1 count=12345 status=none
mkdir -p /tmp/src/dir/sub
i=0
while [ $i -lt 40 ]; do
	/usr/bin/dd if=/dev/urandom of=/tmp/src/dir/f$i bs=$((i * 997 + 1)) count=1 status=none
	i=$((i + 1))
done
/usr/bin/dd if=/dev/urandom of=/tmp/src/dir/sub/mid.bin bs=64k count=50 status=none
(cd /tmp/src && find . -type f | sort | xargs /usr/bin/sha256sum) >/tmp/sums
nfiles=$(wc -l </tmp/sums)

for d in $d0 $d1; do
	/usr/sbin/mkfs.ext2 -q -F /dev/$d || fail "mkfs.ext2 /dev/$d failed"
	mkdir -p /mnt/$d
	mount -t ext2 /dev/$d /mnt/$d || fail "mounting /dev/$d failed"
	cp -a /tmp/src/. /mnt/$d/ || fail "copying files to /dev/$d failed"
	sync
	umount /mnt/$d
	/usr/sbin/e2fsck -f -n /dev/$d >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "e2fsck finds /dev/$d inconsistent"; }
	drop_caches
	r0=$(sectors_read $d)
	mount -t ext2 -o ro /dev/$d /mnt/$d || fail "mounting /dev/$d again failed"
	(cd /mnt/$d && /usr/bin/sha256sum -c --quiet /tmp/sums) || fail "files on /dev/$d differ after remount"
	r1=$(sectors_read $d)
	[ $((r1 - r0)) -ge $((len / 512)) ] || fail "/dev/$d: the checksums read only $((r1 - r0)) sectors from the device"
	lbs=$(/usr/bin/lsblk -n -d -o LOG-SEC /dev/$d | tr -d ' ')
	fsbs=$(stat -f -c %S /mnt/$d)
	umount /mnt/$d
	log "/dev/$d (lbs $lbs, fs block $fsbs): ext2 with $nfiles files: written, fsck clean, checksums match after remount"
done

unbind "$a0"
unbind "$a1"
unload_rust_driver
GUEST
