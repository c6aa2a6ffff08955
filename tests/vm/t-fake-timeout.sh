#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The block layer's fake timeouts (CONFIG_FAIL_IO_TIMEOUT, what blktests nvme/050 uses;
# skipped on a kernel without it): with the disk's io-timeout-fail set, rust_nvme drops the
# completions fail_io_timeout picks, as the C driver does, and recovery takes over.
# (1) One dropped completion: the read times out, the driver aborts, then resets the
# controller, and the retried read returns the data written before. (2) Every completion
# dropped: a read ends with EIO after the retries, never hangs. (3) Injection off again: a
# crc32c-verified fio run passes, and the module unbinds and unloads cleanly.
set -euo pipefail
cd "$(dirname "$0")/../.."

. tests/harness/lib.sh
kdir=${KDIR:-$(rnvme_kdir)}
rnvme_need_kconfig "$kdir" FAIL_IO_TIMEOUT FAULT_INJECTION_DEBUG_FS

exec tests/harness/vm.sh --name fake-timeout --timeout 300 \
	--disk d0=64M --nvme serial=rft0,drive=d0 - <<'GUEST'
FI=/sys/kernel/debug/fail_io_timeout
[ -d $FI ] || fail "no $FI in the guest"
load_rust_driver io_timeout=2
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
d=$(disks_of "$a")
[ -f /sys/block/$d/io-timeout-fail ] || fail "no /sys/block/$d/io-timeout-fail"
/usr/bin/dd if=/dev/urandom of=/tmp/pat bs=64k count=1 status=none
/usr/bin/dd if=/tmp/pat of=/dev/$d bs=64k seek=10 oflag=direct conv=notrunc status=none
want=$(/usr/bin/sha256sum </tmp/pat | cut -d' ' -f1)
# No stack dump per injected fault: "Call Trace" would fail the console scan.
echo 0 >$FI/verbose
echo 0 >$FI/space
echo 1 >$FI/interval
echo 100 >$FI/probability

log "one completion dropped"
echo 1 >$FI/times
echo 1 >/sys/block/$d/io-timeout-fail
start=$(cut -d. -f1 /proc/uptime)
got=$(/usr/bin/dd if=/dev/$d bs=64k skip=10 count=1 iflag=direct status=none | /usr/bin/sha256sum | cut -d' ' -f1)
took=$(($(cut -d. -f1 /proc/uptime) - start))
[ "$got" = "$want" ] || fail "the read retried after the fake timeout returned other data"
dmesg | grep -q "rust_nvme $a: I/O timeout: Read" || fail "the dropped completion did not time out"
dmesg | grep -q "rust_nvme $a: controller reset complete" || fail "no controller reset after the fake timeout"
log "read returned the data after $took s: $(dmesg | grep -c "rust_nvme $a: I/O timeout") timeout(s), $(dmesg | grep -c "rust_nvme $a: resetting controller") reset(s)"

log "every completion dropped"
echo -1 >$FI/times
read_fails_eio $d 150 "with every completion dropped"

log "injection off"
echo 0 >/sys/block/$d/io-timeout-fail
echo 0 >$FI/probability
fio_verify /dev/$d 16M
unbind "$a"
unload_rust_driver
GUEST
