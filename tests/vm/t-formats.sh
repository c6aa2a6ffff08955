#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Namespace formats (issue 15): one controller with 14 namespaces of 16 MiB, each formatted
# differently through QEMU's nvme-ns properties (ms, mset, pi, pil, pif, logical_block_size):
# metadata in separate buffers without PI, with T10 PI types 1, 2 and 3 at the start or the
# end of 8, 16 and 64 bytes of metadata, with the 16-bit and the 64-bit guard; interleaved
# (extended LBA) metadata that is all PI, and interleaved metadata that is not; 8, 16 and
# 64 KiB logical blocks; 4096 + 8 with PI. The C driver runs first in the same VM on the same
# controller, then ours. For each namespace and each driver:
#   - the disk's size and block sizes (lsblk) and its integrity attributes
#     (/sys/block/*/integrity/{format,tag_size,protection_interval_bytes,
#     device_is_integrity_capable}) are recorded: ours must equal C's line for line;
#     a few are also checked against what the format must give (T10-DIF-TYPE1-CRC and
#     EXT-DIF-TYPE1-CRC64 profiles, "nop" metadata, no capacity where interleaved metadata
#     is not all PI, the large block sizes);
#   - a disk with capacity gets a crc32c-verified fio job (4 MiB, O_DIRECT, blocks of the
#     logical block size or 4 KiB), which must pass on both;
#   - on every namespace with PI, a block is written and read back, then its guard (and on
#     types 1 and 2, in another block, its reference tag) is corrupted on the backing image
#     from the host (the monitor's qemu-io writes two bytes of the tuple where QEMU keeps
#     the block's metadata), and the block read again: ours
#     must fail the read (EIO, "end-to-end guard check error" in the log), never return
#     the data. C's outcome is recorded: it fails the read where the block layer carries
#     the metadata, and returns the data unchecked where the metadata is interleaved (it
#     asks the controller to strip the PI without checking it; ours asks it to check).
set -euo pipefail
cd "$(dirname "$0")/../.."

# nsid lbs ms mset pi pil pif
FORMATS="1 512 8 0 0 0 0
2 512 8 0 1 0 0
3 512 8 0 2 1 0
4 512 16 0 3 0 0
5 512 16 0 1 0 2
6 512 64 0 3 1 2
7 512 8 1 1 0 0
8 512 16 1 1 1 2
9 512 8 1 0 0 0
10 512 64 1 2 0 0
11 8192 0 0 0 0 0
12 16384 0 0 0 0 0
13 65536 0 0 0 0 0
14 4096 8 0 1 1 0"

args=(--name formats --timeout 420 --nvme serial=rfmt0,id=c0)
while read -r nsid lbs ms mset pi pil pif; do
	args+=(--disk "f$nsid=16M")
	props="drive=f$nsid,bus=c0,nsid=$nsid,logical_block_size=$lbs,physical_block_size=$lbs"
	[ "$ms" = 0 ] || props+=",ms=$ms,mset=$mset,pi=$pi,pil=$pil,pif=$pif"
	args+=(--qemu "-device nvme-ns,$props")
done <<<"$FORMATS"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-ioctl-probe" tests/vm/tools/nvme-ioctl-probe.c
args+=(--file "$tmp/nvme-ioctl-probe=/usr/bin/nvme-ioctl-probe")
{
	printf 'FORMATS="%s"\n' "$FORMATS"
	cat <<'GUEST'
IMG=16777216
echo "$FORMATS" >/tmp/formats
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)

# describe DISK: size, block sizes and integrity attributes.
describe() {
	local i=/sys/block/$1/integrity f out
	out="$(/usr/bin/lsblk -bdn -o SIZE,LOG-SEC,PHY-SEC /dev/$1 | tr -s ' ' | sed 's/^ //')"
	if [ -d $i ]; then
		for f in format tag_size protection_interval_bytes device_is_integrity_capable; do
			out="$out $f=$(cat $i/$f)"
		done
	fi
	echo "$out"
}

# corrupt DRV DISK NSID LBA OFFSET WHAT: writes block LBA of DISK and reads it back, has the
# host overwrite two bytes at OFFSET of namespace NSID's backing image (WHAT of the block's
# PI tuple), reads the block again and records what came back.
corrupt() {
	local drv=$1 d=$2 nsid=$3 lba=$4 off=$5 what=$6 out
	/usr/bin/dd if=/dev/urandom of=/tmp/blk bs=$lbs count=1 2>/dev/null
	/usr/bin/dd if=/tmp/blk of=/dev/$d bs=$lbs seek=$lba count=1 oflag=direct conv=fsync 2>/dev/null ||
		fail "$drv: namespace $nsid: writing block $lba failed"
	/usr/bin/dd if=/dev/$d of=/tmp/rd bs=$lbs skip=$lba count=1 iflag=direct 2>/dev/null &&
		/usr/bin/cmp -s /tmp/blk /tmp/rd || fail "$drv: namespace $nsid: block $lba does not read back"
	host_do "qemu-io f$nsid \"write -P 0x5a $off 2\"" >/dev/null
	dmesg -c >/dev/null
	if /usr/bin/dd if=/dev/$d of=/tmp/rd bs=$lbs skip=$lba count=1 iflag=direct 2>/tmp/dd.err; then
		/usr/bin/cmp -s /tmp/blk /tmp/rd && out=returned-the-data || out=returned-other-data
	elif grep -q 'multibyte' /tmp/dd.err; then
		# A protection error is EILSEQ ("Invalid or incomplete multibyte ...").
		out="read-failed(EILSEQ)"
	elif grep -q 'Input/output error' /tmp/dd.err; then
		out="read-failed(EIO)"
	else
		out="read-failed($(head -n 1 /tmp/dd.err))"
	fi
	echo "$nsid $(echo "$what" | tr ' ' -) $out" >>/tmp/corrupt.$drv
	[ "$drv" = rust_nvme ] || return 0
	case "$out" in "read-failed(E"*) ;; *) false ;; esac ||
		fail "ours: namespace $nsid ($lbs+$ms pi $pi mset $mset pif $pif): a corrupted $what: $out"
	dmesg | grep -q "end-to-end $what check error" ||
		fail "ours: namespace $nsid: no $what check error in the log: $(dmesg | tail -n 3)"
}

# pass DRV: everything above, for one driver.
pass() {
	local drv=$1 d size bs pi_size pi_off nsze
	bind "$a" "$drv"
	wait_for '[ "$(disks_of '"$a"' | wc -l)" = 14 ]' 30
	: >/tmp/desc.$drv
	: >/tmp/corrupt.$drv
	while read -r nsid lbs ms mset pi pil pif; do
		d=$(disk_nsid "$a" "$nsid")
		[ -n "$d" ] || fail "$drv: no disk for namespace $nsid"
		echo "$nsid $(describe "$d")" >>/tmp/desc.$drv
		size=$(/usr/bin/lsblk -bdn -o SIZE /dev/$d | tr -d ' ')
		[ "$size" != 0 ] || continue
		bs=$lbs
		[ "$bs" -ge 4096 ] || bs=4096
		/usr/bin/fio --name=fmt --filename=/dev/$d --rw=randwrite --bs=$bs --size=4M --ioengine=libaio \
			--iodepth=8 --direct=1 --verify=crc32c --do_verify=1 \
			--output-format=terse >/tmp/fio.out 2>&1 ||
			fail "$drv: namespace $nsid ($d, $lbs+$ms pi $pi): fio failed: $(tail -n 3 /tmp/fio.out)"
	done </tmp/formats
	log "$drv: 14 disks; fio verified on every one with capacity"
	# Passthrough with metadata: a block and its 8 bytes of metadata written and read back
	# through nvme-cli, separate (namespace 2) and interleaved (namespace 7), no PI checks.
	for nsid in 2 7; do
		d=$(disk_nsid "$a" $nsid)
		/usr/bin/dd if=/dev/urandom of=/tmp/pd bs=520 count=1 2>/dev/null
		# nvme-cli writes into an existing file without truncating it.
		rm -f /tmp/pd1 /tmp/pm1
		if [ $nsid = 2 ]; then
			head -c 512 /tmp/pd >/tmp/pd0
			tail -c 8 /tmp/pd >/tmp/pm0
			rc=0
			/usr/sbin/nvme write /dev/$d -s 200 -c 0 -z 512 -y 8 -d /tmp/pd0 -M /tmp/pm0 >/tmp/nv.out 2>&1 || rc=w$?
			/usr/sbin/nvme read /dev/$d -s 200 -c 0 -z 512 -y 8 -d /tmp/pd1 -M /tmp/pm1 >>/tmp/nv.out 2>&1 || rc=$rc-r$?
			/usr/bin/cmp -s /tmp/pd0 /tmp/pd1 || rc=$rc-data
			/usr/bin/cmp -s /tmp/pm0 /tmp/pm1 || rc=$rc-meta
			[ "$rc" = 0 ] || fail "$drv: namespace 2: data and metadata through nvme write/read: $rc: $(tr '\n' ' ' </tmp/nv.out)"
		else
			/usr/sbin/nvme write /dev/$d -s 200 -c 0 -z 520 -d /tmp/pd >/tmp/nv.out 2>&1 &&
				/usr/sbin/nvme read /dev/$d -s 200 -c 0 -z 520 -d /tmp/pd1 >>/tmp/nv.out 2>&1 &&
				/usr/bin/cmp -s /tmp/pd /tmp/pd1 ||
				fail "$drv: namespace 7: interleaved data and metadata through nvme write/read: $(cat /tmp/nv.out)"
		fi
	done
	log "$drv: passthrough data and metadata read back, separate and interleaved"
	# A read that moves metadata but brings no buffer for it, by an unprivileged user: ours
	# refuses it (EINVAL); C sends it with metadata pointer 0, and the controller writes the
	# metadata at bus address 0.
	d=$(disk_nsid "$a" 1)
	echo "$drv $(nvme-ioctl-probe io-unpriv-read /dev/$d)" >>/tmp/nometa
	[ "$drv" != rust_nvme ] || [ "$(tail -n 1 /tmp/nometa)" = "rust_nvme ret=-1 errno=22" ] ||
		fail "ours: a read of namespace 1 without a metadata buffer: $(tail -n 1 /tmp/nometa)"
	while read -r nsid lbs ms mset pi pil pif; do
		[ "$pi" != 0 ] || continue
		d=$(disk_nsid "$a" "$nsid")
		size=$(/usr/bin/lsblk -bdn -o SIZE /dev/$d | tr -d ' ')
		[ "$size" != 0 ] || continue
		# QEMU keeps each block's metadata after the data: at nsze * lbs + lba * ms. In the
		# tuple: the guard first (2 bytes, or 8 with the 64-bit guard), then the application
		# tag (2), then the reference tag (4, or 6).
		[ "$pif" = 2 ] && pi_size=16 || pi_size=8
		[ "$pil" = 1 ] && pi_off=0 || pi_off=$((ms - pi_size))
		nsze=$((IMG / (lbs + ms)))
		corrupt "$drv" "$d" "$nsid" 100 $((nsze * lbs + 100 * ms + pi_off)) guard
		# Types 1 and 2: the reference tag too.
		[ "$pi" = 3 ] || corrupt "$drv" "$d" "$nsid" 101 \
			$((nsze * lbs + 101 * ms + pi_off + pi_size / 2 + 2)) "reference tag"
	done </tmp/formats
	unbind "$a"
}

pass nvme
pass rust_nvme
n=0
while read -r line; do
	c=$(sed -n "$((n + 1))p" /tmp/desc.nvme)
	[ "$line" = "$c" ] || fail "namespace line $((n + 1)): ours '$line', C '$c'"
	n=$((n + 1))
done </tmp/desc.rust_nvme
[ $n = 14 ] || fail "ours described $n namespaces"
while read -r line; do log "namespace $line (ours = C)"; done </tmp/desc.rust_nvme
# expect NSID REGEX: namespace NSID's line (without the nsid) matches REGEX.
expect() {
	sed -n "s/^$1 //p" /tmp/desc.rust_nvme | grep -q -- "$2" ||
		fail "namespace $1: want '$2', have '$(grep "^$1 " /tmp/desc.rust_nvme)'"
}
expect 1 "format=nop tag_size=0"
expect 2 "format=T10-DIF-TYPE1-CRC tag_size=2 protection_interval_bytes=512 device_is_integrity_capable=1"
expect 4 "format=T10-DIF-TYPE3-CRC tag_size=6"
expect 5 "format=EXT-DIF-TYPE1-CRC64"
expect 6 "format=EXT-DIF-TYPE3-CRC64"
expect 9 "^0 512 512"
expect 10 "^0 512 512"
expect 11 "^16777216 8192 8192"
expect 13 "^16777216 65536 65536"
expect 14 "format=T10-DIF-TYPE1-CRC tag_size=2 protection_interval_bytes=4096"
paste -d' ' /tmp/corrupt.rust_nvme /tmp/corrupt.nvme >/tmp/corrupt
while read -r nsid what ours _ _ c; do
	log "namespace $nsid, corrupted $what: ours $ours, C $c"
done </tmp/corrupt
log "unprivileged read of 8 blocks with 8 bytes of metadata each, no metadata buffer: $(tr '\n' ';' </tmp/nometa)"
GUEST
} | tests/harness/vm.sh "${args[@]}" -
