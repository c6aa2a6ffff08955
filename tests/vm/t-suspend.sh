#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# System sleep under verified writes (issue 13), on two controllers, ours and then the C
# driver on the same VM: suspend to RAM (S3: QEMU's ICH9 with S3 enabled, woken by the
# monitor's system_wakeup once the guest is suspended), suspend to idle (s2idle, woken by
# the RTC alarm), and hibernation's freeze and restore (/sys/power/pm_test "devices": the
# devices are frozen, then brought back, without an image). SUSPEND_CYCLES cycles of S3
# and of s2idle (5 in make test, 20 in make test-long), two of hibernation, while fio writes
# and verifies on both disks. The driver at each sleep lets what is in flight complete,
# deletes its queues and shuts the controller down (CC.SHN), and brings it back at resume;
# writes submitted meanwhile wait. Checked: every sleep returns 0, fio's verify on both
# disks, a 4 KiB read right after each resume, and no I/O timeout, I/O error, reset or dead
# controller in the kernel log. Printed per driver: the longest suspend and resume callback
# of the two functions (/sys/power/pm_print_times) and of the first read after a resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${SUSPEND_CYCLES:-5}
{
	echo "CYCLES=$cycles"
	cat <<'GUEST'
# sleep_once MODE: one system sleep; returns its status.
sleep_once() {
	case $1 in
	s3)
		host_do_while wake-from-suspend sh -c 'echo mem >/sys/power/state' >/dev/null
		;;
	s2idle)
		echo 0 >/sys/class/rtc/rtc0/wakealarm
		echo +2 >/sys/class/rtc/rtc0/wakealarm
		echo freeze >/sys/power/state
		;;
	hibernate)
		echo devices >/sys/power/pm_test
		echo disk >/sys/power/state
		echo none >/sys/power/pm_test
		;;
	esac
}

# longest PATTERN: the longest "PATTERN returned 0 after N usecs" of the two functions in
# the kernel log, in ms.
longest() {
	dmesg | grep -e "$a0: $1" -e "$a1: $1" | sed -n 's/.* after \([0-9]*\) usecs.*/\1/p' |
		sort -n | tail -n 1 | awk '{ printf "%.1f ms", $1 / 1000 }'
}

# job DRV: the cycles with DRV bound to both controllers.
job() {
	local drv=$1 d0 d1 mode i n t0 worst_read=0 r
	bind "$a0" "$drv"
	bind "$a1" "$drv"
	d0=$(disk_on "$a0")
	d1=$(disk_on "$a1")
	dmesg -c >/dev/null
	fio --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
		--do_verify=1 --verify_backlog=512 --time_based --runtime=$((CYCLES * 14 + 30)) \
		--output-format=json --output=/tmp/fio.json \
		--name=w0 --filename=/dev/$d0 --size=96M \
		--name=w1 --filename=/dev/$d1 --size=48M >/dev/null 2>&1 &
	fio_pid=$!
	sleep 2
	for mode in s3 s2idle hibernate; do
		n=$CYCLES
		[ $mode != hibernate ] || n=2
		i=1
		while [ $i -le $n ]; do
			sleep 0.$((i % 10))
			sleep_once $mode || fail "$drv: $mode $i: the sleep failed: $(dmesg | tail -n 8)"
			t0=$(uptime_ms)
			dd if=/dev/$d0 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null ||
				fail "$drv: $mode $i: no read after resume"
			r=$(($(uptime_ms) - t0))
			[ $r -le $worst_read ] || worst_read=$r
			i=$((i + 1))
		done
		log "$drv: $n x $mode: suspend callback up to $(longest pci_pm_suspend)$(longest pci_pm_freeze), resume up to $(longest pci_pm_resume)$(longest pci_pm_restore)"
	done
	wait $fio_pid || fail "$drv: fio failed: $(grep -m3 -i 'err\|verify' /tmp/fio.json)"
	[ "$(grep -c '"error" : 0' /tmp/fio.json)" = 2 ] || fail "$drv: fio reports an error"
	if dmesg | grep -i -e "timeout" -e "I/O error" -e "resetting" -e "dead" -e "could not"; then
		fail "$drv: recovery or errors across the sleeps (above)"
	fi
	log "$drv: fio verified on both disks; longest first read after a resume $worst_read ms; longest write $(awk '/"clat_ns"/ {c = 1} c && /"max"/ {gsub(/[^0-9.]/, "", $3); printf "%d ms\n", $3 / 1000000; exit}' /tmp/fio.json)"
	unbind "$a0"
	unbind "$a1"
}

grep -q deep /sys/power/mem_sleep || fail "no suspend to RAM: mem_sleep offers $(cat /sys/power/mem_sleep)"
echo deep >/sys/power/mem_sleep
echo 1 >/sys/power/pm_print_times
[ -e /sys/class/rtc/rtc0/wakealarm ] || fail "no RTC wake alarm"
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
load_rust_driver
job rust_nvme
unload_rust_driver
load_c_driver
job nvme
unload_c_driver
GUEST
} | tests/harness/vm.sh --name suspend --timeout $((400 + cycles * 80)) \
	--qemu "-global ICH9-LPC.disable_s3=0" \
	--disk s0=128M --nvme serial=rsu0,drive=s0 --disk s1=64M --nvme serial=rsu1,drive=s1 -
