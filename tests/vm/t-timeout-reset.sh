#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Timeouts and controller reset. (1) A backend stalled by QEMU's I/O throttling past the
# block layer's timeout: the driver first sends Abort (QEMU does not abort), then resets the
# controller (requests stalled longer than the
# retry budget may fail, as with the C driver), I/O resumes once the stall ends, and a
# crc32c-verified fio run afterwards passes. (2) A backend that never answers in time (null-co with a latency far
# above io_timeout): the read ends with an error after the retries, never hangs, and the
# module still unbinds and unloads cleanly.
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/harness/vm.sh --name timeout-reset --timeout 180 \
	--disk d0=64M --nvme id=nv0,serial=rnt0,drive=d0 - <<'GUEST'
load_rust_driver io_timeout=2
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
d=$(disks_of "$a")
[ "$(cat /sys/block/$d/queue/io_timeout)" = 2000 ] || fail "io_timeout parameter not applied: $(cat /sys/block/$d/queue/io_timeout)"

log "a 10 s stall under QD8 writes, then a verified run"
# Time-based, so that writes are in flight for the whole stall however fast the guest runs
# (8 MiB alone can finish in the second before the stall starts).
/usr/bin/fio --name=stall --filename=/dev/$d --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=4k --iodepth=8 --size=8M --time_based --runtime=13 --eta=never --output=/tmp/fio2.out &
fp=$!
sleep 1
host_do block_set_io_throttle d0 0 0 0 1 0 0 >/dev/null
sleep 10
host_do block_set_io_throttle d0 0 0 0 0 0 0 >/dev/null
wait $fp || log "fio during the stall saw errors (expected past the retry budget)"
dmesg | grep -q "rust_nvme $a: I/O timeout: .*; aborting it" || fail "no Abort sent for a timed-out command"
dmesg | grep -q "rust_nvme $a: resetting controller" || fail "no controller reset logged for $a"
dmesg | grep -q "rust_nvme $a: controller reset complete" || fail "reset of $a did not complete"
fio_verify /dev/$d 16M
log "fio verify passed after $(dmesg | grep -c "rust_nvme $a: resetting controller") reset(s)"
unbind "$a"
unload_rust_driver
GUEST

# The partition scan at probe time reads the never-answering disk too, so the bind itself
# sits through one round of retries before the test's own read.
tests/harness/vm.sh --name timeout-dead --timeout 240 \
	--qemu '-drive if=none,id=slow,driver=null-co,size=64M,latency-ns=3000000000,read-zeroes=on' \
	--nvme serial=rnt1,drive=slow - <<'GUEST'
load_rust_driver io_timeout=1
s=$(pci_addr_of 0)
bind "$s" rust_nvme
wait_for '[ -n "$(disks_of '"$s"')" ]' 20
sd=$(disks_of "$s")
read_fails_eio $sd 120 "from the stalled disk"
dmesg | grep -q "rust_nvme $s: I/O error: Read" || fail "the failed request was not reported"
unbind "$s"
unload_rust_driver
GUEST
