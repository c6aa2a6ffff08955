#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 50 cycles of insmod, bind, a verified 1 MiB write and read-back (a fresh
# region each cycle, so stale data cannot pass), unbind, rmmod, with slab
# usage compared before the first counted cycle (after one warm-up cycle,
# which may allocate one-time state) and after the last: a cache that grew by
# 50 objects or more, one per cycle, fails the test. The guest boots with
# slab_debug=F: debug caches keep no per-cpu slabs or sheaves and are not
# merged, so /proc/slabinfo counts the objects in use of each cache exactly
# (without it, counts swing by a whole sheaf, 60 objects, from one snapshot
# to the next with nothing loaded). Caches are shrunk before each snapshot.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name load-unload-50 --timeout 180 --append slab_debug=F \
	--disk d0=64M --nvme serial=rlu0,drive=d0 - <<'GUEST'
CYCLES=50
# slab_snapshot FILE: "name active_objs" of every slab cache, after
# flushing per-cpu slabs and dropping the page cache, dentries and inodes.
slab_snapshot() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for s in /sys/kernel/slab/*/shrink; do echo 1 >"$s"; done
	awk 'NR > 2 {print $1, $2}' /proc/slabinfo | sort >"$1"
	[ -s "$1" ] || fail "/proc/slabinfo gave no caches"
}
# cycle N: one load-bind-I/O-unbind-unload cycle using the N-th MiB.
cycle() {
	local d
	load_rust_driver
	bind "$a" rust_nvme >/dev/null
	wait_for '[ -n "$(disks_of '"$a"')" ]' 20
	d=$(disks_of "$a")
	[ "$d" = rnvme0n1 ] || fail "cycle $1: disk is '$d', want rnvme0n1"
	/usr/bin/dd if=/tmp/pat.bin of=/dev/$d bs=1M seek=$1 oflag=direct status=none ||
		fail "cycle $1: writing 1 MiB to /dev/$d failed"
	/usr/bin/dd if=/dev/$d of=/tmp/back.bin bs=1M skip=$1 count=1 iflag=direct status=none ||
		fail "cycle $1: reading 1 MiB from /dev/$d failed"
	/usr/bin/cmp /tmp/pat.bin /tmp/back.bin || fail "cycle $1: read back other data than written at MiB $1"
	unbind "$a" >/dev/null
	[ -z "$(ls /sys/block | grep rnvme)" ] || fail "cycle $1: disks left after unbind: $(ls /sys/block | grep rnvme)"
	unload_rust_driver
	[ ! -e /sys/module/rust_nvme ] || fail "cycle $1: rust_nvme still loaded after rmmod"
}

a=$(pci_addr_of 0)
/usr/bin/dd if=/dev/urandom of=/tmp/pat.bin bs=1M count=1 status=none
cycle 0
slab_snapshot /tmp/slab0
t0=$(uptime_ms)
n=1
while [ $n -le $CYCLES ]; do
	cycle $n
	[ $((n % 10)) != 0 ] || log "$n cycles, $(($(uptime_ms) - t0)) ms"
	n=$((n + 1))
done
t1=$(uptime_ms)
slab_snapshot /tmp/slab1
log "$CYCLES cycles in $((t1 - t0)) ms ($(((t1 - t0) / CYCLES)) ms each)"

# Caches that grew by CYCLES objects or more.
awk -v lim=$CYCLES '
	FNR == NR { before[$1] = $2; next }
	{ d = $2 - before[$1]; if (d >= lim) { printf "%s: %d -> %d (+%d)\n", $1, before[$1], $2, d; bad = 1 } }
	END { exit bad }' /tmp/slab0 /tmp/slab1 >/tmp/grown || {
	cat /tmp/grown
	fail "slab caches grew by $CYCLES objects or more over $CYCLES cycles (a leak per cycle?)"
}
log "largest slab changes over $CYCLES cycles:"
awk 'FNR == NR { b[$1] = $2; next } { d = $2 - b[$1]; if (d != 0) print d, $1, b[$1] "->" $2 }' /tmp/slab0 /tmp/slab1 |
	sort -rn | head -n 8
GUEST
