#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Flexible Data Placement as write streams (issue 15): an NVMe subsystem with FDP enabled
# (one reclaim group, 4 reclaim unit handles of 4 MiB reclaim units) and a 64 MiB namespace
# placing its writes through handles 0 to 3. The C driver first, then ours, in the same VM:
#   - the disk's queue/max_write_streams and queue/write_stream_granularity: 4 streams,
#     the reclaim unit size; ours must equal C's;
#   - 256 KiB written through io_uring into each write stream 1 to 4 (the SQE's
#     write_stream, tests/vm/tools/uring-stream-write.c) and 256 KiB without a stream, each
#     read back with dd and compared;
#   - `nvme fdp status` (Reclaim Unit Handle Status through the passthrough of I/O
#     Management Receive on the disk) before and after: each handle's available media
#     writes (RUAMW) went down by exactly the blocks written through its stream (handle 0 also
#     by those written without one), on both drivers, and QEMU's FDP statistics log (`nvme fdp
#     stats` through the char device) counts the host writes;
#   - a write into stream 5, which the disk does not offer, fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/uring-stream-write" tests/vm/tools/uring-stream-write.c
exec tests/harness/vm.sh --name fdp --timeout 240 \
	--file "$tmp/uring-stream-write=/usr/bin/uring-stream-write" \
	--disk f1=64M \
	--qemu '-device nvme-subsys,id=fs0,nqn=rnvme-fdp,fdp=on,fdp.runs=4M,fdp.nrg=1,fdp.nruh=4' \
	--nvme id=c0,serial=rfdp0,subsys=fs0 \
	--qemu '-device nvme-ns,drive=f1,bus=c0,nsid=1,fdp.ruhs=0-3' - <<'GUEST'
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)

# ruamw DISK: "pid:ruamw" of each reclaim unit handle, from nvme fdp status.
ruamw() {
	/usr/sbin/nvme fdp status /dev/$1 -o json >/tmp/st.json 2>/tmp/st.err ||
		fail "nvme fdp status /dev/$1: $(cat /tmp/st.err)"
	tr -d ' \n' </tmp/st.json | grep -o '"pid":[0-9]*,"ruhid":[0-9]*,"earutr":[0-9]*,"ruamw":[0-9]*' |
		sed 's/"pid":\([0-9]*\),.*"ruamw":\([0-9]*\)/\1:\2/'
}

# hbmw CHARDEV: host bytes with metadata written, from the FDP statistics log.
hbmw() {
	/usr/sbin/nvme fdp stats /dev/$1 -e 1 -o json >/tmp/stats.json 2>/tmp/stats.err ||
		fail "nvme fdp stats /dev/$1: $(cat /tmp/stats.err)"
	tr -d ' \n"' </tmp/stats.json | grep -o 'hbmw:[0-9]*' | cut -d: -f2
}

pass() {
	local drv=$1 d c s off before after h0 h1
	bind "$a" "$drv"
	wait_for '[ -n "$(disks_of '"$a"')" ]' 20
	d=$(disks_of "$a")
	[ "$drv" = nvme ] && c=$(ls /sys/bus/pci/devices/$a/nvme) || c=rnvme0
	echo "streams=$(cat /sys/block/$d/queue/max_write_streams) granularity=$(cat /sys/block/$d/queue/write_stream_granularity)" >/tmp/lim.$drv
	log "$drv: /dev/$d $(cat /tmp/lim.$drv)"
	before=$(ruamw "$d" | tr '\n' ' ')
	h0=$(hbmw "$c")
	for s in 1 2 3 4 0; do
		off=$((s * 8 * 1048576))
		uring-stream-write /dev/$d $s $off 262144 >/tmp/usw.out 2>&1 ||
			fail "$drv: write into stream $s: $(cat /tmp/usw.out)"
		uring-stream-write --pattern $s $off 262144 >/tmp/want
		/usr/bin/dd if=/dev/$d of=/tmp/got bs=4096 skip=$((off / 4096)) count=64 iflag=direct 2>/dev/null
		/usr/bin/cmp -s /tmp/want /tmp/got || fail "$drv: stream $s: the data does not read back"
	done
	after=$(ruamw "$d" | tr '\n' ' ')
	h1=$(hbmw "$c")
	[ -n "$h0" ] && [ -n "$h1" ] && [ "$h1" -gt "$h0" ] ||
		fail "$drv: FDP statistics (/dev/$c): host bytes written $h0 -> $h1"
	log "$drv: RUAMW before $before; after $after; FDP statistics: host bytes written $h0 -> $h1"
	echo "$before" >/tmp/before.$drv
	echo "$after" >/tmp/after.$drv
	if uring-stream-write /dev/$d 5 0 4096 >/tmp/usw.out 2>&1; then
		fail "$drv: a write into stream 5 succeeded"
	fi
	log "$drv: stream 5: $(cat /tmp/usw.out)"
	unbind "$a"
}

pass nvme
pass rust_nvme
[ "$(cat /tmp/lim.rust_nvme)" = "$(cat /tmp/lim.nvme)" ] ||
	fail "write streams: ours $(cat /tmp/lim.rust_nvme), C $(cat /tmp/lim.nvme)"
grep -q "streams=4 " /tmp/lim.rust_nvme || fail "ours offers $(cat /tmp/lim.rust_nvme), want 4 streams"
# Each of the 4 handles lost 256 KiB of available media writes (512 blocks) per pass.
for drv in nvme rust_nvme; do
	for h in 0 1 2 3; do
		b=$(tr ' ' '\n' </tmp/before.$drv | sed -n "s/^$h://p")
		x=$(tr ' ' '\n' </tmp/after.$drv | sed -n "s/^$h://p")
		[ -n "$b" ] && [ -n "$x" ] || fail "$drv: handle $h missing from nvme fdp status"
		# Stream h + 1 went to handle h, and the write without a stream to handle 0 too.
		[ $h = 0 ] && want=1024 || want=512
		[ $((b - x)) = $want ] ||
			fail "$drv: handle $h: RUAMW $b -> $x, want $want blocks fewer"
	done
	log "$drv: RUAMW of handles 0-3 went down by 1024, 512, 512, 512 blocks: the streams' writes"
done
GUEST
