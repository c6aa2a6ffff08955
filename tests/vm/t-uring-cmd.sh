#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Namespace char devices and io_uring passthrough: ours (/dev/rng<c>n<ns>) next to the C
# driver's (/dev/ng<c>n<ns>) in the same VM, each with one poll queue.
#
# - Our controller has two namespaces: /dev/rng0n1 and /dev/rng0n2 are char devices of the
#   misc class under the PCI function, mode 0600, and NVME_IOCTL_ID on them gives 1 and 2.
#   Each controller has another namespace of 128 KiB blocks, which neither driver can serve
#   as a disk: it keeps a char device (ours /dev/rng0n3, on a request queue of its own) through
#   which reads and writes of every form work, also after a reload.
# - fio's io_uring_cmd engine (cmd_type=nvme) writes and verifies (crc32c) on both drivers'
#   char devices: plain, polled (--hipri), with registered buffers and files, and 512-byte
#   blocks on a second namespace format; every job must report error 0 and move all its data.
# - tests/vm/tools/uring-cmd.c, one command at a time, on both drivers: NVME_URING_CMD_IO and
#   NVME_URING_CMD_IO_VEC (3 iovecs), with a registered buffer (also vectored), on a polling
#   ring; data written through the char device reads back through the char device and
#   through the block device (and the reverse), on the right namespace.
# - What must be refused, ours and C: a foreign nsid (EINVAL), a ring without 128-byte SQEs
#   (EOPNOTSUPP); as an unprivileged user with the node made 0666: a read on a read-only
#   descriptor passes, a write on it fails with EACCES, a write on a read-write one passes.
#   Ours only (stricter than C, which maps the short buffer and lets the device move the
#   whole transfer): a buffer shorter than the command's blocks (EINVAL), also vectored.
# - With debug_stats, the polled runs completed commands on our poll queue.
# - A descriptor of /dev/rng0n2 held while namespace 2 is detached (nvme detach-ns): the
#   node goes, NVME_IOCTL_ID still answers, I/O fails with ENODEV, admin reaches the live
#   controller; attached again, the node returns with the data.
# - Descriptors held across unbind: a ring set up on the char device and an open descriptor
#   open; after unbind, the command fails with an error (ENODEV), I/O and admin ioctls with
#   ENODEV while NVME_IOCTL_ID still answers (as C, and as on a disk node), without a kernel
#   report; a polled fio job running over the unbind ends with errors instead
#   of hanging. Then rmmod succeeds, and a new load brings the nodes back.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-uring-cmd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/uring-cmd" tests/vm/tools/uring-cmd.c
gcc -O2 -static -Wall -o "$tmp/nvme-fd-probe" tests/vm/tools/nvme-fd-probe.c

exec tests/harness/vm.sh --name uring-cmd --timeout 300 \
	--file "$tmp/uring-cmd=/usr/bin/uring-cmd" \
	--file "$tmp/nvme-fd-probe=/usr/bin/nvme-fd-probe" \
	--disk n1=64M --disk n2=32M --disk n3=16M --disk c1=64M --disk c2=16M \
	--qemu '-device nvme-subsys,id=subsys0,nqn=rnvme-uring' \
	--nvme id=nvu0,serial=ruc0,subsys=subsys0 \
	--qemu '-device nvme-ns,drive=n1,bus=nvu0,nsid=1,logical_block_size=4096,physical_block_size=4096' \
	--qemu '-device nvme-ns,drive=n2,bus=nvu0,nsid=2,logical_block_size=512,physical_block_size=512' \
	--qemu '-device nvme-ns,drive=n3,bus=nvu0,nsid=3,logical_block_size=131072,physical_block_size=131072' \
	--nvme id=nvc1,serial=ruc1 \
	--qemu '-device nvme-ns,drive=c1,bus=nvc1,nsid=1,logical_block_size=4096,physical_block_size=4096' \
	--qemu '-device nvme-ns,drive=c2,bus=nvc1,nsid=2,logical_block_size=131072,physical_block_size=131072' \
	- <<'GUEST'
# check_terse OUT WANT_KIB: the one job's terse line has error 0, wrote and read WANT_KIB.
check_terse() {
	local out=$1 want=$2
	[ "$(grep -c '^3;' "$out")" = 1 ] || { cat "$out"; fail "fio printed no single terse line"; }
	grep '^3;' "$out" | awk -F';' -v want="$want" '
		$5 != 0 { print "error " $5; bad = 1 }
		$47 != want { print "wrote " $47 " KiB, want " want; bad = 1 }
		$6 != want { print "verified (read) " $6 " KiB, want " want; bad = 1 }
		END { exit bad }' || { cat "$out"; fail "fio reported errors or short I/O"; }
}

# fio_cmd TAG DEV MIB BS ARGS...: a crc32c write+verify job through io_uring passthrough.
fio_cmd() {
	local tag=$1 dev=$2 mib=$3 bs=$4 out=/tmp/fio.out rc=0
	shift 4
	/usr/bin/fio --name="$tag" --filename="$dev" --ioengine=io_uring_cmd --cmd_type=nvme \
		--rw=randwrite --bs="$bs" --size="${mib}M" --iodepth=16 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" >"$out" 2>&1 || rc=$?
	[ $rc = 0 ] || { cat "$out"; fail "fio $tag on $dev ($*) exited with $rc"; }
	check_terse "$out" $((mib * 1024))
	log "fio $tag $dev ${mib}M bs $bs $*: verified"
}

# expect_res WANT CMD...: runs uring-cmd; its first "res=" must be WANT.
expect_res() {
	local want=$1 out got
	shift
	out=$("$@" 2>&1) || true
	got=$(echo "$out" | sed -n 's/^res=\(-\{0,1\}[0-9]*\) .*/\1/p' | head -n 1)
	[ "$got" = "$want" ] || { echo "$out"; fail "$*: res '$got', want $want"; }
}

# roundtrip DEV BLK BS: io_uring writes and reads of every form on char device DEV, whose
# block device is BLK with BS-byte blocks; then the data crosses between the two nodes.
roundtrip() {
	local dev=$1 blk=$2 bs=$3 form seed=10 slba got want
	for form in "" "-v 3" "-f" "-f -v 3" "-p" "-p -v 3" "-p -f"; do
		seed=$((seed + 1))
		slba=$((seed * 64))
		uring-cmd -b $bs $form $dev write $slba 24 $seed >/tmp/w.out 2>&1 ||
			{ cat /tmp/w.out; fail "$dev: write ($form) failed"; }
		uring-cmd -b $bs $form -c 2 $dev read $slba 24 $seed >/tmp/r.out 2>&1 ||
			{ cat /tmp/r.out; fail "$dev: read back ($form) failed"; }
		[ "$(grep -c '^data ok' /tmp/r.out)" = 2 ] || { cat /tmp/r.out; fail "$dev: read back ($form): data"; }
		# The same blocks through the block device.
		got=$(/usr/bin/dd if=/dev/$blk bs=$bs skip=$slba count=24 iflag=direct status=none | /usr/bin/sha256sum)
		want=$(uring-cmd -P -b $bs $slba 24 $seed | /usr/bin/sha256sum)
		[ "$got" = "$want" ] || fail "$dev ($form): /dev/$blk does not hold what the char device wrote"
	done
	# The reverse: written through the block device, read through the char device.
	uring-cmd -P -b $bs 4000 16 77 >/tmp/pat
	/usr/bin/dd if=/tmp/pat of=/dev/$blk bs=$bs seek=4000 oflag=direct conv=notrunc status=none
	uring-cmd -b $bs -v 2 $dev read 4000 16 77 | grep -q '^data ok' ||
		fail "$dev: what /dev/$blk wrote does not read back through the char device"
	log "$dev: io_uring passthrough writes and reads of every form agree with /dev/$blk"
}

load_rust_driver poll_queues=1 debug_stats=true
load_c_driver poll_queues=1
a=$(pci_addr_of 0)
b=$(pci_addr_of 1)
bind "$a" rust_nvme
bind "$b" nvme
wait_for '[ "$(disks_of '"$a"' | wc -l)" = 2 ]' 20
wait_for '[ -n "$(disk_nsid '"$b"' 1)" ]' 20
cd_=$(disk_nsid "$b" 1)
# C numbers its nodes by instance, not by nsid (its ng0n1 may be namespace 2): found by
# NVME_IOCTL_ID.
cng='' cbig=''
for n in /dev/ng*; do
	case "$(uring-cmd -i $n)" in
	nsid=1) cng=$n ;;
	nsid=2) cbig=$n ;;
	esac
done
[ -c "$cng" ] || fail "C has no char device for its namespace 1"

# The nodes.
for ns in 1 2; do
	n=/dev/rng0n$ns
	[ -c $n ] || fail "$n is not a char device"
	[ "$(stat -c %a $n)" = 600 ] || fail "$n has mode $(stat -c %a $n), want 600"
	[ -e /sys/class/misc/rng0n$ns ] || fail "no /sys/class/misc/rng0n$ns"
	case "$(readlink -f /sys/class/misc/rng0n$ns)" in
	*/$a/*) ;;
	*) fail "rng0n$ns is not under $a: $(readlink -f /sys/class/misc/rng0n$ns)" ;;
	esac
	[ "$(uring-cmd -i $n)" = "nsid=$ns" ] || fail "$n: NVME_IOCTL_ID gave '$(uring-cmd -i $n)', want $ns"
	[ "$(nvme-fd-probe -o $n id)" = "ok id=$ns" ] || fail "$n: nvme-fd-probe id"
done
log "rng0n1 and rng0n2: char devices under $a, 0600, namespaces 1 and 2"
# A namespace no disk can serve (128 KiB blocks, above the block layer's 64 KiB) keeps its char
# device, on both drivers; I/O of every form goes through it.
[ -c /dev/rng0n3 ] || fail "no char device for namespace 3 (128 KiB blocks)"
[ ! -e /dev/rnvme0n3 ] || fail "namespace 3 (128 KiB blocks) got a disk"
[ "$(uring-cmd -i /dev/rng0n3)" = nsid=3 ] || fail "rng0n3: NVME_IOCTL_ID"
[ -c "$cbig" ] || fail "C has no char device for its 128 KiB namespace"
for dev in /dev/rng0n3 $cbig; do
	for form in "" "-v 2" "-p" "-f -v 2"; do
		uring-cmd -b 131072 $form $dev write 3 2 21 >/tmp/w.out 2>&1 || { cat /tmp/w.out; fail "$dev: 128 KiB-block write ($form)"; }
		uring-cmd -b 131072 $form $dev read 3 2 21 | grep -q '^data ok' || fail "$dev: 128 KiB-block read back ($form)"
	done
done
expect_res -22 uring-cmd -b 131072 -l 131072 /dev/rng0n3 read 0 2 1
log "128 KiB-block namespace: no disk, char device I/O of every form (ours; C's $cbig)"
# Format NVM moves namespace 3 to 512-byte blocks (a disk appears; the char device now goes
# through the disk's queue) and back (the disk goes; the char device stays).
big=$(/usr/sbin/nvme id-ns /dev/rng0n3 | sed -n 's/^lbaf *\([0-9]*\) *: ms:0 *lbads:17 .*/\1/p' | head -n 1)
[ -n "$big" ] || { /usr/sbin/nvme id-ns /dev/rng0n3; fail "no 128 KiB LBA format in namespace 3's list"; }
/usr/sbin/nvme format /dev/rnvme0 --namespace-id=3 --lbaf=0 --force >/tmp/format.out 2>&1 || { cat /tmp/format.out; fail "nvme format rng0n3 --lbaf=0"; }
wait_for '[ -b /dev/rnvme0n3 ]' 20
[ -c /dev/rng0n3 ] || fail "rng0n3 gone after the format to 512-byte blocks"
uring-cmd -b 512 -v 3 /dev/rng0n3 write 8 24 41 >/tmp/w.out 2>&1 || { cat /tmp/w.out; fail "rng0n3 (512): write"; }
got=$(/usr/bin/dd if=/dev/rnvme0n3 bs=512 skip=8 count=24 iflag=direct status=none | /usr/bin/sha256sum)
[ "$got" = "$(uring-cmd -P -b 512 8 24 41 | /usr/bin/sha256sum)" ] || fail "rnvme0n3 does not hold what rng0n3 wrote"
/usr/sbin/nvme format /dev/rnvme0 --namespace-id=3 --lbaf="$big" --force >/tmp/format.out 2>&1 || { cat /tmp/format.out; fail "nvme format rng0n3 --lbaf=$big"; }
wait_for '[ ! -e /dev/rnvme0n3 ] && [ -c /dev/rng0n3 ]' 20
uring-cmd -b 131072 /dev/rng0n3 write 3 2 21 >/tmp/w.out 2>&1 || { cat /tmp/w.out; fail "rng0n3 (128 KiB again): write"; }
uring-cmd -b 131072 -p /dev/rng0n3 read 3 2 21 | grep -q '^data ok' || fail "rng0n3 (128 KiB again): read back"
log "namespace 3 formatted to 512-byte blocks (disk added) and back to 128 KiB (disk removed): its char device followed"

# An ioctl read and an admin Identify on the char device, as on the disk.
got=$(nvme-fd-probe -w /dev/rng0n1 io opc=2 nsid=1 cdw12=0 len=4096)
[ "$got" = ok ] || fail "NVME_IOCTL_IO_CMD read on rng0n1: $got"
got=$(nvme-fd-probe -o /dev/rng0n1 admin opc=6 nsid=0 cdw10=1 len=4096)
[ "$got" = ok ] || fail "NVME_IOCTL_ADMIN_CMD Identify on rng0n1: $got"

# fio through io_uring passthrough, both drivers.
for dev in /dev/rng0n1 $cng; do
	fio_cmd plain $dev 16 4k
	fio_cmd polled $dev 16 4k --hipri=1
	fio_cmd fixed $dev 16 16k --fixedbufs=1 --registerfiles=1 --iodepth=8
	fio_cmd mixed $dev 8 4k-64k --bssplit=4k/50:8k/20:64k/30
done
fio_cmd lbs512 /dev/rng0n2 8 512 --bssplit=512/40:1k/20:4k/20:8k/20 --hipri=1

# One command at a time.
roundtrip /dev/rng0n1 rnvme0n1 4096
roundtrip /dev/rng0n2 rnvme0n2 512
roundtrip $cng $cd_ 4096

# Refusals, both drivers.
for dev in /dev/rng0n1 $cng; do
	expect_res -22 uring-cmd -n 9 $dev read 0 1 1
	expect_res -95 uring-cmd -s $dev read 0 1 1
done
# Ours only: a buffer shorter than the transfer.
expect_res -22 uring-cmd -l 4096 /dev/rng0n1 read 0 2 1
expect_res -22 uring-cmd -l 2 -v 3 /dev/rng0n1 read 0 6 1
expect_res -22 uring-cmd -f -l 4096 /dev/rng0n1 read 0 2 1
log "foreign nsid, small SQEs and short buffers refused"

# Unprivileged, with the nodes opened up (as a udev rule might).
chmod 0666 /dev/rng0n1 $cng
for dev in /dev/rng0n1 $cng; do
	expect_res 0 nvme-fd-probe -u 1000 exec /usr/bin/uring-cmd -r $dev read 0 1 1
	expect_res -13 nvme-fd-probe -u 1000 exec /usr/bin/uring-cmd -r $dev write 100 1 1
	expect_res 0 nvme-fd-probe -u 1000 exec /usr/bin/uring-cmd $dev write 100 1 1
	got=$(nvme-fd-probe -u 1000 -o $dev io opc=1 nsid=1 len=4096)
	[ "$got" = EACCES ] || fail "$dev: unprivileged ioctl write on a read-only descriptor: $got"
done
log "unprivileged: reads pass, writes need a writable descriptor (ours and C)"

# Namespace 2 detached from our controller (namespace management) while a descriptor of its
# char device is held: the node goes with the disk; the held descriptor answers NVME_IOCTL_ID,
# fails I/O with ENODEV, and its admin commands still reach the controller (as a held disk
# descriptor's do). Attached again, the node is back with the data.
exec 3<>/dev/rng0n2
cntlid=$(/usr/sbin/nvme id-ctrl /dev/rnvme0 | sed -n 's/^cntlid *: *//p')
/usr/sbin/nvme detach-ns /dev/rnvme0 --namespace-id=2 --controllers="$cntlid" >/tmp/attach.out 2>&1 ||
	{ cat /tmp/attach.out; fail "nvme detach-ns 2 failed"; }
wait_for '[ ! -e /dev/rng0n2 ] && [ ! -e /sys/block/rnvme0n2 ]' 20
got="$(nvme-fd-probe -f 3 id) / $(nvme-fd-probe -f 3 io opc=2 nsid=2 len=512)"
[ "$got" = "ok id=2 / ENODEV" ] || fail "held rng0n2 after detach: id / io gave $got"
admin=$(nvme-fd-probe -f 3 admin opc=6 cdw10=1 len=4096)
case "$admin" in ok | ENODEV) ;; *) fail "held rng0n2 after detach: admin gave $admin" ;; esac
exec 3<&-
/usr/sbin/nvme attach-ns /dev/rnvme0 --namespace-id=2 --controllers="$cntlid" >/tmp/attach.out 2>&1 ||
	{ cat /tmp/attach.out; fail "nvme attach-ns 2 failed"; }
wait_for '[ -c /dev/rng0n2 ] && [ -b /dev/rnvme0n2 ]' 20
uring-cmd -b 512 /dev/rng0n2 read 704 24 11 | grep -q '^data ok' || fail "rng0n2 after re-attach: data written before"
log "rng0n2 held over detach: $got, admin $admin; re-attached with its data"

# The poll queue did the polled work (counters logged at unbind, below).
# Descriptors held over unbind: a ring waiting to submit, an ioctl waiting, a polled job.
rm -f /tmp/go
uring-cmd -w /tmp/go /dev/rng0n1 read 0 1 1 >/tmp/held.out 2>&1 &
held=$!
exec 3<>/dev/rng0n2
/usr/bin/fio --name=over --filename=/dev/rng0n1 --ioengine=io_uring_cmd --cmd_type=nvme \
	--rw=randread --bs=4k --size=32M --iodepth=8 --hipri=1 --time_based --runtime=60 \
	--output-format=terse --terse-version=3 >/tmp/over.out 2>&1 &
job=$!
sleep 2
unbind "$a"
touch /tmp/go
wait $held && fail "a command on a descriptor held over unbind succeeded: $(cat /tmp/held.out)"
grep -q '^res=-' /tmp/held.out || { cat /tmp/held.out; fail "held ring: no error completion"; }
# As on a disk node held open, and as C: the namespace id still answers, commands do not.
got="$(nvme-fd-probe -f 3 id) / $(nvme-fd-probe -f 3 io opc=2 nsid=2 len=512) / $(nvme-fd-probe -f 3 admin opc=6 cdw10=1 len=4096)"
[ "$got" = "ok id=2 / ENODEV / ENODEV" ] || fail "held descriptor after unbind: id / io / admin gave $got"
exec 3<&-
t0=$(uptime_ms)
rc=0
wait $job || rc=$?
[ $rc != 0 ] || { cat /tmp/over.out; fail "the polled job over the unbind ended without an error"; }
log "held over unbind: command $(sed -n 's/^error: //p' /tmp/held.out | head -n1), ioctls $got, polled fio ended ($rc) $(($(uptime_ms) - t0)) ms after"
stats=$(dmesg | grep "rust_nvme $a: queue [0-9]*: " | sed 's/.*: queue //')
echo "$stats" | sed "s/^/[t] queue /"
polled=$(echo "$stats" | tail -n 1 | awk '{ print $4 + 0 }')
[ "$polled" -gt 0 ] || fail "no completion on the poll queue"
log "$polled completions reaped by polling on the poll queue"
unload_rust_driver
[ ! -e /dev/rng0n1 ] || fail "/dev/rng0n1 still there after unbind"
load_rust_driver
bind "$a" rust_nvme
wait_for '[ -c /dev/rng0n1 ] && [ -c /dev/rng0n2 ]' 20
uring-cmd -b 4096 /dev/rng0n1 read 704 24 11 | grep -q '^data ok' || fail "after reload: data written earlier"
wait_for '[ -c /dev/rng0n3 ]' 20
uring-cmd -b 131072 /dev/rng0n3 read 3 2 21 | grep -q '^data ok' || fail "after reload: rng0n3's data"
unbind "$a"
unbind "$b"
unload_rust_driver
GUEST
