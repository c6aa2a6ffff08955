#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# System sleep under verified writes (issue 13), on two controllers, one VM for our driver
# and one for the C driver as the reference. Per VM, while fio writes and verifies on both
# disks:
#   - with SUSPEND_S3=1 (make soak), first one suspend to RAM (S3; QEMU's ICH9 with S3
#     enabled), woken by the monitor's system_wakeup once QEMU reports the guest suspended.
#     Not in make test: after it, QEMU 10 under TCG hung or crashed in 3 of about 10 runs
#     (in the later pm_test cycles, with either driver), which would make CI fail at random;
#   - SUSPEND_CYCLES (5 in make test, 20 in make soak) suspends to RAM through the kernel's
#     pm_test "platform": every device callback down to noirq and the platform's preparation,
#     without taking the CPUs down and sleeping. QEMU 10 under TCG enters S3 once per boot:
#     after the first resume it ignores the guest's sleep-state writes (a later S3 returns at
#     once, S5 is ignored, a restart now and then too), with no NVMe driver loaded at all, so
#     the host ends the VM (the monitor's quit) and the repeats use pm_test; and taking CPU 1 down and up again (pm_test "core") once
#     crashed QEMU itself (an assertion in its TLB code, with the C driver bound);
#   - SUSPEND_CYCLES suspends to idle (s2idle) through pm_test "platform": every device
#     callback down to noirq, without the idle loop (nothing in this VM wakes s2idle: the
#     RTC alarm does not);
#   - two hibernation freeze/restore rounds (pm_test "devices": the devices are frozen and
#     brought back, no image is written).
# The driver at each sleep lets what is in flight complete, deletes its queues and shuts the
# controller down (CC.SHN), and brings it back at resume; writes submitted meanwhile wait.
# Checked: every sleep returns 0, fio's verify on both disks, a 4 KiB read right after each
# resume, and no I/O timeout, I/O error, reset or dead controller in the kernel log. Printed:
# the longest suspend and resume callback of the two functions (/sys/power/pm_print_times),
# and the longest first read after a resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${SUSPEND_CYCLES:-5}
s3=${SUSPEND_S3:-0}

# vm DRV: one VM with DRV bound to both controllers.
vm() {
	{
		echo "CYCLES=$cycles DRV=$1 S3=$s3"
		cat <<'GUEST'
# sleep_once MODE: one system sleep; returns its status.
sleep_once() {
	case $1 in
	s3)
		host_do_while wake-from-suspend s3_enter
		;;
	s3-platform)
		echo platform >/sys/power/pm_test
		echo mem >/sys/power/state
		;;
	s2idle)
		echo platform >/sys/power/pm_test
		echo freeze >/sys/power/state
		;;
	hibernate)
		echo devices >/sys/power/pm_test
		echo disk >/sys/power/state
		;;
	esac
	local rc=$?
	echo none >/sys/power/pm_test
	return $rc
}

# sleep_try MODE: sleep_once, again (up to three times) when the PM core aborted the sleep
# for a wake-up event rather than for a device; a device callback that failed fails.
sleep_try() {
	local try=1
	until sleep_once $1; do
		dmesg | tail -n 80 >/tmp/dmesg.try
		if grep -e "$a0" -e "$a1" /tmp/dmesg.try | grep -q "returns -"; then
			return 1
		fi
		[ $try -lt 3 ] || return 1
		log "$DRV: $1: the PM core aborted the sleep ($(grep -m1 -i -e wake -e abort -e failed /tmp/dmesg.try)); again"
		try=$((try + 1))
	done
}

s3_enter() {
	echo mem >/sys/power/state
	echo RNVME-RESUMED >/dev/console
}

# longest PATTERN: the longest "PATTERN returned 0 after N usecs" of the two functions in
# the kernel log, in ms.
longest() {
	dmesg | grep -e "$a0: PM: $1 " -e "$a1: PM: $1 " | sed -n 's/.* after \([0-9]*\) usecs.*/\1/p' |
		sort -n | tail -n 1 | awk '{ printf "%.1f ms", $1 / 1000 }'
}

grep -q deep /sys/power/mem_sleep || fail "no suspend to RAM: mem_sleep offers $(cat /sys/power/mem_sleep)"
echo deep >/sys/power/mem_sleep
echo 1 >/sys/power/pm_print_times
echo 1 >/sys/module/suspend/parameters/pm_test_delay
[ $S3 = 0 ] || touch /tmp/.rnvme-quit
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
if [ $DRV = rust_nvme ]; then load_rust_driver; else load_c_driver; fi
bind "$a0" $DRV
bind "$a1" $DRV
d0=$(disk_on "$a0")
d1=$(disk_on "$a1")
dmesg -c >/dev/null
fio --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
	--do_verify=1 --verify_backlog=512 --time_based --runtime=$((CYCLES * 5 + 40)) \
	--output-format=json --output=/tmp/fio.json \
	--name=w0 --filename=/dev/$d0 --size=96M \
	--name=w1 --filename=/dev/$d1 --size=48M >/dev/null 2>&1 &
fio_pid=$!
sleep 2
worst_read=0
for mode in $([ $S3 = 0 ] || echo s3) s3-platform s2idle hibernate; do
	case $mode in
	s3) n=1 ;;
	hibernate) n=2 ;;
	*) n=$CYCLES ;;
	esac
	i=1
	while [ $i -le $n ]; do
		sleep 0.$((i % 10))
		sleep_try $mode || fail "$DRV: $mode $i: the sleep failed: $(tail -n 8 /tmp/dmesg.try)"
		t0=$(uptime_ms)
		dd if=/dev/$d0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null ||
			fail "$DRV: $mode $i: no read after resume"
		r=$(($(uptime_ms) - t0))
		[ $r -le $worst_read ] || worst_read=$r
		i=$((i + 1))
	done
	log "$DRV: $n x $mode: suspend callback up to $(longest pci_pm_suspend)$(longest pci_pm_freeze), resume up to $(longest pci_pm_resume)$(longest pci_pm_restore)"
	dmesg -c >/tmp/dmesg.$mode
done
wait $fio_pid || fail "$DRV: fio failed: $(grep -m3 -i 'err\|verify' /tmp/fio.json)"
[ "$(grep -c '"error" : 0' /tmp/fio.json)" = 2 ] || fail "$DRV: fio reports an error"
if cat /tmp/dmesg.* | grep -i -e "timeout" -e "I/O error" -e "resetting" -e "dead" -e "could not"; then
	fail "$DRV: recovery or errors across the sleeps (above)"
fi
log "$DRV: fio verified on both disks; longest first read after a resume $worst_read ms; longest write $(awk '/"clat_ns"/ {c = 1} c && /"max"/ {gsub(/[^0-9.]/, "", $3); printf "%d ms\n", $3 / 1000000; exit}' /tmp/fio.json)"
GUEST
	} | tests/harness/vm.sh --name "suspend-$1" --timeout $((300 + cycles * 30)) --tcg-one-thread \
		--qemu "-global ICH9-LPC.disable_s3=0" \
		--disk s0=128M --nvme serial=rsu0,drive=s0 --disk s1=64M --nvme serial=rsu1,drive=s1 -
}

rc=0
vm rust_nvme || rc=1
vm nvme || rc=1
exit $rc
