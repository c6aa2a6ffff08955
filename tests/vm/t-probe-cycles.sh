#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Five load/bind/unbind/unload cycles of rust_nvme in one VM with two
# controllers, one with a small queue (mqes=63: 64 entries) and one with
# QEMU's default (mqes=2047, so the driver's own cap of 1024 applies). Each
# cycle checks every controller's probe line (NVMe 1.4, the raw MQES, the
# queue depth min(MQES + 1, 1024)), the disk it made and a read from it, that
# unbind removes the disks and that rmmod leaves no trace in lsmod.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name probe-cycles --timeout 120 \
	--disk d0=16M --disk d1=16M \
	--nvme serial=rpc0,drive=d0,mqes=63 --nvme serial=rpc1,drive=d1 - <<'GUEST'
# check_probe ADDR MQES DEPTH: the probe line reports NVMe 1.4, MQES and DEPTH.
check_probe() {
	local l
	l=$(probe_line "$1")
	[ -n "$l" ] || fail "no probe line for $1 in the kernel log"
	case "$l" in *" NVMe 1.4."* | *" NVMe 1.4,"* | *" NVMe 1.4 "*) ;;
	*) fail "$1: probe line does not report NVMe 1.4: $l" ;;
	esac
	case "$l" in *", MQES $2,"* | *" MQES $2 "*) ;;
	*MQES*) fail "$1: probe line reports the wrong MQES (want raw $2): $l" ;;
	*) fail "$1: probe line does not report MQES at all (want raw $2): $l" ;;
	esac
	case "$l" in *" of depth $3 "*) ;;
	*) fail "$1: probe line does not report queue depth $3: $l" ;;
	esac
}

a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
for cycle in 1 2 3 4 5; do
	dmesg -c >/dev/null
	load_rust_driver
	bind "$a0" rust_nvme
	bind "$a1" rust_nvme
	check_probe "$a0" 63 64
	check_probe "$a1" 2047 1024
	i=0
	for a in "$a0" "$a1"; do
		wait_for '[ -n "$(disks_of '"$a"')" ]' 20
		d=$(disks_of "$a")
		[ "$d" = "rnvme${i}n1" ] || fail "cycle $cycle: $a has disk(s) '$d', expected rnvme${i}n1"
		[ -b "/dev/$d" ] || fail "cycle $cycle: no block device /dev/$d"
		[ "$(disk_bytes "$d")" = 16777216 ] || fail "cycle $cycle: /dev/$d is $(disk_bytes "$d") bytes, want 16777216"
		/usr/bin/dd if="/dev/$d" of=/dev/null bs=64k count=16 iflag=direct status=none ||
			fail "cycle $cycle: reading /dev/$d failed"
		i=$((i + 1))
	done
	unbind "$a0"
	unbind "$a1"
	left=$(ls /sys/block | grep rnvme || true)
	[ -z "$left" ] || fail "cycle $cycle: disks left after unbind: $left"
	unload_rust_driver
	! lsmod | grep -q '^rust_nvme' || fail "cycle $cycle: lsmod still lists rust_nvme after rmmod"
	[ ! -e /sys/module/rust_nvme ] || fail "cycle $cycle: /sys/module/rust_nvme still exists after rmmod"
	log "cycle $cycle: $(probe_line "$a0")"
	log "cycle $cycle: $(probe_line "$a1")"
done
if lsmod | grep -q rust_nvme; then
	lsmod
	fail "lsmod lists rust_nvme at the end"
fi
log "5 cycles done; lsmod: $(lsmod | grep -c . || true) lines, no rust_nvme"
GUEST
