#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The driver's KUnit suites (`#[kunit_tests]`, built by 'make kunit-module' with
# --cfg rnvme_kunit) on the test kernel. KUnit runs a module's suites when it is loaded;
# the guest reads their KTAP report from the kernel log and passes when every suite says
# "ok", no case says "not ok", and at least the expected number of cases ran. Then the same
# module binds an emulated controller and a 1 MiB write reads back equal, so the test build
# is still the driver. Skipped (exit 77) on a kernel without CONFIG_KUNIT=y.
set -euo pipefail
cd "$(dirname "$0")/../.."

. tests/harness/lib.sh
kdir=${KDIR:-$(rnvme_kdir)}
rnvme_need_kconfig "$kdir" KUNIT
make -s kunit-module KDIR="$kdir" >/dev/null
# The cases in the sources: every #[test] inside a #[kunit_tests] module.
cases=$(awk 'FNR == 1 { on = 0 } /#\[kunit_tests\(/ { on = 1 } on && /#\[test\]/ { n++ } END { print n + 0 }' ./*.rs)
[ "$cases" -gt 0 ] || { echo "no #[kunit_tests] cases found in the sources"; exit 1; }
echo "$cases KUnit cases in the sources"

{
	echo "want=$cases"
	cat <<'GUEST'
load_rust_driver
dmesg >/tmp/k.log
# The KTAP report: "# Subtest: SUITE", one "ok N CASE" or "not ok N CASE" per case, then
# "ok N SUITE" or "not ok N SUITE".
suites=$(sed -n 's/^.*# Subtest: \(rust_nvme[a-z_]*\)$/\1/p' /tmp/k.log)
[ -n "$suites" ] || fail "no rust_nvme KUnit suite ran when the module loaded: $(grep -i kunit /tmp/k.log | tail -n 3)"
grep -E '(^|[] ])not ok [0-9]+ ' /tmp/k.log && fail "a KUnit case failed (see the report above)"
ran=0
for s in $suites; do
	grep -Eq "(^|[] ])ok [0-9]+ $s\$" /tmp/k.log || fail "suite $s has no 'ok' result line"
	line=$(grep -E "# $s: pass:[0-9]+ fail:[0-9]+" /tmp/k.log | tail -n 1)
	log "suite $s: ${line#*: }"
	n=$(echo "$line" | sed -n 's/.* pass:\([0-9]*\) fail:\([0-9]*\).*/\1/p')
	[ -n "$n" ] || fail "suite $s printed no totals"
	ran=$((ran + n))
done
# The cases of our suites, as KUnit reported them.
sed 's/^\[[^]]*\] *//' /tmp/k.log | awk '/^# Subtest: rust_nvme/ { on = 1; next }
	on && /^ok [0-9]+ rust_nvme/ { on = 0 } on && /^(not )?ok [0-9]+ / { print "   " $0 }'
[ "$ran" -ge "$want" ] || fail "$ran KUnit cases passed, the sources have $want"
log "$ran KUnit cases passed"

# The test build is still the driver.
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
d=$(disks_of "$a")
/usr/bin/dd if=/dev/urandom of=/tmp/pattern bs=1M count=1 2>/dev/null
/usr/bin/dd if=/tmp/pattern of=/dev/$d bs=1M count=1 oflag=direct 2>/dev/null || fail "write to /dev/$d failed"
/usr/bin/dd if=/dev/$d of=/tmp/back bs=1M count=1 iflag=direct 2>/dev/null || fail "read from /dev/$d failed"
cmp /tmp/pattern /tmp/back || fail "data read back from /dev/$d differs"
log "1 MiB written and read back equal on /dev/$d"
echo none > /sys/bus/pci/devices/$a/driver_override
echo "$a" > /sys/bus/pci/drivers/rust_nvme/unbind
unload_rust_driver
GUEST
} | RNVME_MODULE=$PWD/build/kunit/rust_nvme.ko tests/harness/vm.sh --name kunit --timeout 180 \
	--disk d0=16M --nvme serial=rku0,drive=d0 -
