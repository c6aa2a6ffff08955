#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Controllers at the edges of what QEMU can be told, each with a short fio
# crc32c verify and a check of its probe line, hardware queues and
# interrupts:
#   max_ioqpairs=1   one I/O queue although there are two CPUs
#   mqes=3           queues of 4 entries (3 commands in flight), fio at QD 32
#   msix_qsize=1     a single MSI-X vector shared by admin and I/O queue
#   mdts=1           8 KiB transfers at most (MDTS is in CAP.MPSMIN = 4 KiB units)
#   mdts=0           no MDTS limit: the driver's own cap, 4 MiB I/Os verified
#   use_msi=0        module parameter: legacy INTx, one I/O queue
# and, in a second VM booted with pci=nomsi, a default controller on INTx. On INTx the
# driver leaves shadow doorbells off (the probe line says so) and takes no more
# interrupts than requests.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The guest functions both VMs use (besides those of tests/vm/guest-lib.sh).
lib=$(
	cat <<'LIB'
# hw_queues DISK: number of blk-mq hardware queues of DISK.
hw_queues() {
	ls -d /sys/block/$1/mq/* | wc -l
}
# irq_count ADDR: interrupts taken so far on ADDR's MSI/MSI-X vectors, or
# on its INTx line when it has none.
irq_count() {
	local irqs i
	irqs=$(ls /sys/bus/pci/devices/$1/msi_irqs 2>/dev/null || true)
	[ -n "$irqs" ] || irqs=$(cat /sys/bus/pci/devices/$1/irq)
	for i in $irqs; do
		awk -v irq="$i:" '$1 == irq { s = 0; for (c = 2; c <= NF && $c ~ /^[0-9]+$/; c++) s += $c; print s }' /proc/interrupts
	done | awk '{ s += $1 } END { print s + 0 }'
}
# verify ADDR SIZE_MIB FIO_ARGS...: a crc32c write+verify on ADDR's disk that
# must exit 0, report error 0, move all data and raise ADDR's interrupt count.
# On INTx (no MSI vectors) every interrupt must also have found a completion: no more
# interrupts than requests (plus a few for admin commands). A level-triggered line that
# the driver leaves asserted shows up as many more.
verify() {
	local a=$1 mib=$2 d out=/tmp/fio.out rc=0 i0 i1 r0 r1
	shift 2
	d=$(disk_on "$a")
	i0=$(irq_count "$a")
	r0=$(awk '{ print $1 + $5 }' /sys/block/$d/stat)
	/usr/bin/fio --name=odd --filename=/dev/$d --size=${mib}M --rw=randwrite --direct=1 \
		--ioengine=libaio --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" >$out 2>&1 || rc=$?
	[ $rc = 0 ] || { cat $out; fail "fio on /dev/$d ($a, $*) exited with $rc"; }
	grep '^3;' $out | awk -F';' -v want=$((mib * 1024)) '
		$5 != 0 || $47 != want || $6 != want { bad = 1 }
		END { exit bad || NR != 1 }' || { cat $out; fail "fio on /dev/$d ($*) reported errors or short I/O"; }
	i1=$(irq_count "$a")
	r1=$(awk '{ print $1 + $5 }' /sys/block/$d/stat)
	[ "$i1" -gt "$i0" ] || fail "$a took no interrupts during fio ($i0 before, $i1 after)"
	if [ -z "$(ls /sys/bus/pci/devices/$a/msi_irqs 2>/dev/null)" ] &&
		[ $((i1 - i0)) -gt $((r1 - r0 + 8)) ]; then
		fail "$a (INTx): $((i1 - i0)) interrupts for $((r1 - r0)) requests; the line stayed asserted (unhandled: $(cat /proc/irq/$(cat /sys/bus/pci/devices/$a/irq)/spurious | tr '\n' ' '))"
	fi
	log "/dev/$d: fio verify ${mib}M $* ok, $((i1 - i0)) interrupts, $((r1 - r0)) requests"
}
LIB
)

echo "== VM 1: odd controllers, then use_msi=0"
tests/harness/vm.sh --name odd-devices --timeout 200 \
	--disk d0=32M --disk d1=32M --disk d2=32M --disk d3=32M --disk d4=64M \
	--nvme serial=rod0,drive=d0,max_ioqpairs=1 \
	--nvme serial=rod1,drive=d1,mqes=3 \
	--nvme serial=rod2,drive=d2,msix_qsize=1 \
	--nvme serial=rod3,drive=d3,mdts=1 \
	--nvme serial=rod4,drive=d4,mdts=0 - <<GUEST
$lib
$(
	cat <<'GUEST1'
load_rust_driver
for i in 0 1 2 3 4; do
	bind "$(pci_addr_of $i)" rust_nvme
done

log "max_ioqpairs=1"
a=$(pci_addr_of 0)
expect_probe "$a" " 1 I/O queues " " MSI-X"
d=$(disk_on "$a")
[ "$(hw_queues $d)" = 1 ] || fail "$d: $(hw_queues $d) hardware queues, want 1"
verify "$a" 8 --bsrange=4k-256k --iodepth=32 --numjobs=1

log "mqes=3"
a=$(pci_addr_of 1)
expect_probe "$a" ", MQES 3," " of depth 4 "
d=$(disk_on "$a")
nr=$(cat /sys/block/$d/queue/nr_requests)
[ "$nr" -le 3 ] || fail "$d: nr_requests is $nr, but a queue of 4 entries holds at most 3 commands"
verify "$a" 8 --bssplit=4k/50:64k/30:512k/20 --iodepth=32
log "$d: nr_requests $nr"

log "msix_qsize=1"
a=$(pci_addr_of 2)
expect_probe "$a" " 1 I/O queues " " on 1 MSI-X"
d=$(disk_on "$a")
[ "$(hw_queues $d)" = 1 ] || fail "$d: $(hw_queues $d) hardware queues, want 1"
verify "$a" 8 --bsrange=4k-256k --iodepth=32

log "mdts=1"
a=$(pci_addr_of 3)
d=$(disk_on "$a")
mhw=$(cat /sys/block/$d/queue/max_hw_sectors_kb)
[ "$mhw" = 8 ] || fail "$d: max_hw_sectors_kb is $mhw, MDTS 1 with 4 KiB CAP.MPSMIN allows 8"
w0=$(awk '{print $5}' /sys/block/$d/stat)
verify "$a" 8 --bssplit=4k/20:8k/20:12k/20:64k/20:1m/20 --iodepth=16
w1=$(awk '{print $5}' /sys/block/$d/stat)
[ $((w1 - w0)) -ge 1024 ] || fail "$d: 8 MiB written in $((w1 - w0)) requests; with 8 KiB requests that needs at least 1024"
log "$d: max_hw_sectors_kb $mhw, 8 MiB in $((w1 - w0)) write requests"

log "mdts=0"
a=$(pci_addr_of 4)
d=$(disk_on "$a")
mhw=$(cat /sys/block/$d/queue/max_hw_sectors_kb)
[ "$mhw" -ge 1024 ] || fail "$d: max_hw_sectors_kb is $mhw with no MDTS limit; expected the driver's own cap (at least 1024)"
verify "$a" 32 --bs=4m --iodepth=4
verify "$a" 8 --bsrange=4k-2m --iodepth=16
log "$d: max_hw_sectors_kb $mhw"

for i in 0 1 2 3 4; do
	unbind "$(pci_addr_of $i)"
done
unload_rust_driver

log "use_msi=0"
dmesg -c >/dev/null
load_rust_driver use_msi=0
a=$(pci_addr_of 4)
bind "$a" rust_nvme
expect_probe "$a" " 1 I/O queues " " INTx" "shadow doorbells off"
[ -z "$(ls /sys/bus/pci/devices/$a/msi_irqs 2>/dev/null)" ] || fail "$a has MSI vectors with use_msi=0"
d=$(disk_on "$a")
[ "$(hw_queues $d)" = 1 ] || fail "$d: $(hw_queues $d) hardware queues, want 1"
verify "$a" 8 --bsrange=4k-256k --iodepth=32
unbind "$a"
unload_rust_driver
GUEST1
)
GUEST

echo "== VM 2: pci=nomsi"
exec tests/harness/vm.sh --name odd-devices-nomsi --timeout 120 --append pci=nomsi \
	--disk d0=32M --nvme serial=rodn,drive=d0 - <<GUEST
$lib
$(
	cat <<'GUEST2'
load_rust_driver
a=$(pci_addr_of 0)
bind "$a" rust_nvme
expect_probe "$a" " 1 I/O queues " " INTx" "shadow doorbells off"
[ -z "$(ls /sys/bus/pci/devices/$a/msi_irqs 2>/dev/null)" ] || fail "$a has MSI vectors under pci=nomsi"
d=$(disk_on "$a")
[ "$(hw_queues $d)" = 1 ] || fail "$d: $(hw_queues $d) hardware queues, want 1"
verify "$a" 8 --bsrange=4k-256k --iodepth=32
unbind "$a"
unload_rust_driver
GUEST2
)
GUEST
