#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Format NVM changes the disk. One controller, two namespaces (64 MiB, 32 MiB). While fio
# writes and verifies namespace 2 in a loop (and a 1 MiB pattern beyond fio's range waits to
# be checked), namespace 1 is formatted with nvme-cli:
#   to LBA format 4 (4096-byte blocks) through the char device: the disk's
#     queue/logical_block_size and lsblk's LOG-SEC are 4096, its size in bytes is unchanged,
#     a 4 KiB fio verify passes, data written with dd in 4 KiB blocks reads back and a
#     512-byte O_DIRECT read is refused;
#   back to format 0 (512) through the disk node: the same checks at 512;
#   to format 1 (512 bytes + 8 of separate metadata, no protection information): the disk
#     stays and takes the format as C's does: with the block layer's integrity support
#     (BLK_DEV_INTEGRITY) an integrity disk of the same size whose metadata the block layer
#     carries (format "nop", 8-byte tuples), which then passes the same checks; without it a
#     disk of capacity 0 and one warning line. Ours must show C's size, block size and
#     integrity attributes;
#   to format 1 again with protection information type 1 (nvme format --pi=1): an integrity
#     disk with the T10 DIF type 1 profile, as C's, passing the same checks;
#   back to format 0 through the char device: the disk is plain again and works.
# An unprivileged user (uid 1000) cannot format (nvme-cli fails, the ioctl is EACCES). At the
# end every fio pass on namespace 2 verified and the pattern is intact. The C driver runs the
# same sequence first on the same controller; its values are printed and checked where it
# behaves as ours must (formats 4 and 0), and compared with ours (format 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-fd-probe" tests/vm/tools/nvme-fd-probe.c
tests/harness/vm.sh --name format-revalidate --timeout 480 \
	--file "$tmp/nvme-fd-probe=/usr/bin/nvme-fd-probe" \
	--disk d1=64M --disk d2=32M \
	--nvme serial=rnfmt0,id=c0 \
	--qemu '-device nvme-ns,drive=d1,nsid=1,bus=c0 -device nvme-ns,drive=d2,nsid=2,bus=c0' - <<'GUEST'
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)
BYTES=67108864

# state DISK: "lbs=N log-sec=N size=BYTES" from sysfs and lsblk.
state() {
	echo "lbs=$(cat /sys/block/$1/queue/logical_block_size)" \
		"log-sec=$(/usr/bin/lsblk -dn -o LOG-SEC /dev/$1 | tr -d ' ')" \
		"size=$(/usr/bin/lsblk -bdn -o SIZE /dev/$1 | tr -d ' ')"
}
# integ DISK: the disk's integrity attributes ("none" without the block layer's support).
integ() {
	local i=/sys/block/$1/integrity f
	[ -d $i ] || { echo none; return; }
	for f in format tag_size protection_interval_bytes device_is_integrity_capable; do
		printf '%s=%s ' $f "$(cat $i/$f)"
	done
}
# format WHO DEV LBAF [ARGS]: nvme format, with the output kept for failures.
format() {
	local who=$1 dev=$2 lbaf=$3
	shift 3
	/usr/sbin/nvme format "/dev/$dev" --lbaf="$lbaf" --force "$@" >/tmp/format.out 2>&1 ||
		{ cat /tmp/format.out; fail "$who: nvme format /dev/$dev --lbaf=$lbaf $* failed"; }
	log "$who: nvme format /dev/$dev${*:+ $*} --lbaf=$lbaf: $(head -n1 /tmp/format.out)"
}
# works WHO DISK LBS [BYTES]: the disk has blocks of LBS bytes and BYTES (its whole size), fio verifies on it,
# dd in blocks of LBS writes what it reads back, and a smaller O_DIRECT read is refused.
works() {
	local who=$1 d=$2 lbs=$3 bytes=${4:-$BYTES} n
	[ "$(state "$d")" = "lbs=$lbs log-sec=$lbs size=$bytes" ] ||
		fail "$who: /dev/$d is '$(state "$d")', want lbs=$lbs log-sec=$lbs size=$bytes"
	fio_verify "/dev/$d" 8M --bs="$lbs"
	n=$((16384 / lbs))
	/usr/bin/dd if=/dev/urandom of=/tmp/dd-in bs="$lbs" count="$n" status=none
	/usr/bin/dd if=/tmp/dd-in of="/dev/$d" bs="$lbs" seek=100 count="$n" oflag=direct conv=notrunc status=none ||
		fail "$who: dd write in $lbs-byte blocks on /dev/$d failed"
	/usr/bin/dd if="/dev/$d" of=/tmp/dd-out bs="$lbs" skip=100 count="$n" iflag=direct status=none ||
		fail "$who: dd read in $lbs-byte blocks on /dev/$d failed"
	/usr/bin/cmp -s /tmp/dd-in /tmp/dd-out || fail "$who: what dd wrote in $lbs-byte blocks on /dev/$d does not read back"
	if [ "$lbs" -gt 512 ] &&
		/usr/bin/dd if="/dev/$d" of=/dev/null bs=512 count=1 iflag=direct status=none 2>/dev/null; then
		fail "$who: a 512-byte O_DIRECT read of /dev/$d succeeded with $lbs-byte blocks"
	fi
	log "$who: /dev/$d: $(state "$d"), fio verify and dd in $lbs-byte blocks pass"
}
# start_bg DISK: fio write+verify passes over 8 MiB of DISK until /tmp/stop exists, and a
# 1 MiB pattern at 16 MiB; stop_bg checks both.
start_bg() {
	BG_DISK=$1
	rm -f /tmp/stop /tmp/bg.status
	/usr/bin/dd if=/dev/urandom of=/tmp/bg-pattern bs=1M count=1 status=none
	/usr/bin/dd if=/tmp/bg-pattern of="/dev/$1" bs=1M seek=16 oflag=direct conv=notrunc status=none
	(
		i=0
		while [ ! -e /tmp/stop ]; do
			i=$((i + 1))
			if ! /usr/bin/fio --name=bg --filename="/dev/$1" --rw=randwrite --bs=4k --size=8M \
				--direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 \
				--verify_fatal=1 --eta=never --output=/tmp/bg.out; then
				echo "pass $i failed" >/tmp/bg.status
				exit 1
			fi
		done
		echo "ok $i" >/tmp/bg.status
	) &
	BG_PID=$!
}
stop_bg() {
	touch /tmp/stop
	wait "$BG_PID" || { cat /tmp/bg.out; fail "$1: fio on /dev/$BG_DISK: $(cat /tmp/bg.status)"; }
	/usr/bin/dd if="/dev/$BG_DISK" of=/tmp/bg-back bs=1M skip=16 count=1 iflag=direct status=none
	/usr/bin/cmp -s /tmp/bg-pattern /tmp/bg-back || fail "$1: the pattern on /dev/$BG_DISK changed"
	log "$1: namespace 2 (/dev/$BG_DISK): $(cut -d' ' -f2 /tmp/bg.status) fio write+verify passes, pattern intact"
}
# lbaf_check DEV: nvme id-ns lists the formats this test uses (QEMU: 0 512+0, 1 512+8, 4 4096+0).
lbaf_check() {
	/usr/sbin/nvme id-ns "/dev/$1" >/tmp/id-ns
	grep -q '^lbaf  0 : ms:0 *lbads:9 ' /tmp/id-ns &&
		grep -q '^lbaf  1 : ms:8 *lbads:9 ' /tmp/id-ns &&
		grep -q '^lbaf  4 : ms:0 *lbads:12 ' /tmp/id-ns ||
		{ grep lbaf /tmp/id-ns; fail "the namespace does not list the LBA formats this test uses"; }
}
# unpriv WHO CHARDEV: uid 1000 cannot format.
unpriv() {
	chmod 666 "/dev/$2"
	if nvme-fd-probe -u 1000 exec /usr/sbin/nvme format "/dev/$2" --namespace-id=1 --lbaf=4 --force \
		>/tmp/unpriv.out 2>&1; then
		cat /tmp/unpriv.out
		fail "$1: uid 1000 formatted namespace 1"
	fi
	r=$(nvme-fd-probe -u 1000 -o "/dev/$2" admin opc=0x80 nsid=1 cdw10=4)
	[ "$r" = EACCES ] || fail "$1: Format NVM from uid 1000: $r, want EACCES"
	log "$1: uid 1000: nvme format fails ($(tail -n1 /tmp/unpriv.out)), the ioctl is $r"
}

# --- The C driver -----------------------------------------------------------------------
bind "$a" nvme
wait_for '[ -n "$(disk_nsid "$a" 1)" ] && [ -n "$(disk_nsid "$a" 2)" ]' 20
c=$(ls /sys/bus/pci/devices/$a/nvme/)
d=$(disk_nsid "$a" 1)
lbaf_check "$d"
start_bg "$(disk_nsid "$a" 2)"
works C "$d" 512
unpriv C "$c"
[ "$(state "$d")" = "lbs=512 log-sec=512 size=$BYTES" ] || fail "C: the refused format changed /dev/$d: $(state "$d")"
format C "$c" 4 --namespace-id=1
d=$(disk_nsid "$a" 1)
log "C: after format 4: /dev/$d $(state "$d")"
works C "$d" 4096
format C "$d" 0
d=$(disk_nsid "$a" 1)
log "C: after format 0 through /dev/$d: $(state "$d")"
works C "$d" 512
format C "$c" 1 --namespace-id=1
d=$(disk_nsid "$a" 1)
[ -n "$d" ] || fail "C: no disk for namespace 1 after format 1"
c_fmt1="$(state "$d") $(integ "$d")"
log "C: after format 1 (metadata): /dev/$d $c_fmt1"
# With metadata, QEMU fits fewer blocks in the same image: 64 MiB / (512 + 8) blocks.
FMT1_BYTES=$((BYTES / 520 * 512))
[ "$(cat /sys/block/$d/size)" = 0 ] || works C "$d" 512 $FMT1_BYTES
format C "$c" 1 --namespace-id=1 --pi=1
d=$(disk_nsid "$a" 1)
[ -n "$d" ] || fail "C: no disk for namespace 1 after format 1 with PI type 1"
c_fmt1pi="$(state "$d") $(integ "$d")"
log "C: after format 1 with PI type 1: /dev/$d $c_fmt1pi"
[ "$(cat /sys/block/$d/size)" = 0 ] || works C "$d" 512 $FMT1_BYTES
format C "$c" 0 --namespace-id=1
wait_for '[ -n "$(disk_nsid "$a" 1)" ]' 10
d=$(disk_nsid "$a" 1)
log "C: after format 0: /dev/$d $(state "$d")"
works C "$d" 512
stop_bg C
unbind "$a"

# --- rust_nvme ----------------------------------------------------------------------------
bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0n1 ] && [ -e /dev/rnvme0n2 ]' 20
lbaf_check rnvme0n1
start_bg rnvme0n2
works rust rnvme0n1 512
unpriv rust rnvme0
[ "$(state rnvme0n1)" = "lbs=512 log-sec=512 size=$BYTES" ] || fail "the refused format changed rnvme0n1: $(state rnvme0n1)"
format rust rnvme0 4 --namespace-id=1
log "rust: after format 4: $(state rnvme0n1)"
works rust rnvme0n1 4096
format rust rnvme0n1 0
log "rust: after format 0 through /dev/rnvme0n1: $(state rnvme0n1)"
works rust rnvme0n1 512
# warnings: the driver's kernel log lines at warning level or above (dmesg -r shows <level>).
warnings() { dmesg -r | grep "rust_nvme $a: " | grep '^<[0-4]>' || true; }
warnings >/tmp/warn0
format rust rnvme0 1 --namespace-id=1
[ -e /dev/rnvme0n1 ] || fail "rnvme0n1 went away with format 1 (C keeps its disk: $c_fmt1)"
r_fmt1="$(state rnvme0n1) $(integ rnvme0n1)"
[ "$r_fmt1" = "$c_fmt1" ] || fail "after format 1: ours $r_fmt1; C $c_fmt1"
warnings | tail -n +$(($(wc -l </tmp/warn0) + 1)) >/tmp/warn1
if [ "$(cat /sys/block/rnvme0n1/size)" = 0 ]; then
	[ "$(wc -l </tmp/warn1)" = 1 ] || { cat /tmp/warn1; fail "format 1: $(wc -l </tmp/warn1) warning lines from rust_nvme (above), want 1"; }
	grep -q 'namespace 1' /tmp/warn1 || fail "format 1: the warning does not name namespace 1: $(cat /tmp/warn1)"
	log "rust: after format 1: rnvme0n1 $r_fmt1, as C; the warning: $(sed 's/^<[0-9]>\[[^]]*\] //' /tmp/warn1)"
else
	[ ! -s /tmp/warn1 ] || { cat /tmp/warn1; fail "format 1: warnings from rust_nvme (above)"; }
	log "rust: after format 1: rnvme0n1 $r_fmt1, as C"
	works rust rnvme0n1 512 $FMT1_BYTES
fi
[ -e /dev/rnvme0n2 ] || fail "rnvme0n2 went away with namespace 1's format"
format rust rnvme0 1 --namespace-id=1 --pi=1
[ -e /dev/rnvme0n1 ] || fail "rnvme0n1 went away with format 1 with PI type 1"
r_fmt1pi="$(state rnvme0n1) $(integ rnvme0n1)"
[ "$r_fmt1pi" = "$c_fmt1pi" ] || fail "after format 1 with PI type 1: ours $r_fmt1pi; C $c_fmt1pi"
log "rust: after format 1 with PI type 1: rnvme0n1 $r_fmt1pi, as C"
[ "$(cat /sys/block/rnvme0n1/size)" = 0 ] || works rust rnvme0n1 512 $FMT1_BYTES
format rust rnvme0 0 --namespace-id=1
[ -e /dev/rnvme0n1 ] || fail "rnvme0n1 did not come back after format 0"
log "rust: after format 0: $(state rnvme0n1)"
works rust rnvme0n1 512
stop_bg rust
unbind "$a"
unload_rust_driver
GUEST
