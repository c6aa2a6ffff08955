#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the rust-nvme test initramfs (busybox sh; the guest has no bash).
# Mounts the pseudo file systems, keeps every NVMe controller away from both
# drivers (driver_override "none", before any NVMe module is loaded), runs
# /test.sh with "set -e" and the guest library /lib/rnvme.sh sourced, then
# prints exactly one "RNVME-EXIT: <code>" line and powers off (or has the host end QEMU,
# when the test created /tmp/.rnvme-quit).
# Loading drivers and binding controllers is the test's job (see
# load_c_driver, load_rust_driver and bind in tests/vm/guest-lib.sh).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

echo "RNVME-GUEST-START"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /dev/shm

for dev in /sys/bus/pci/devices/*; do
	[ "$(cat "$dev/class")" = 0x010802 ] || continue
	echo none >"$dev/driver_override"
done

if [ -f /test.sh ]; then
	cd /tmp || exit 1
	/bin/sh -c 'set -e; . /lib/rnvme.sh; . /test.sh'
	rc=$?
else
	echo "RNVME-FAIL: no /test.sh in the initramfs; run tests through tests/harness/vm.sh"
	rc=2
fi

cd /
sync
# On the debug kernel, look for leaks once the test (and any rmmod in it) is done: kmemleak
# logs "N new suspected memory leaks", which the host's console scan fails the run on.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	head -n 60 /sys/kernel/debug/kmemleak
fi
echo "RNVME-EXIT: $rc"
# Let the serial driver drain its buffer before the power goes.
sleep 0.2
# A test that suspended to RAM has the host end QEMU (the monitor's quit, see host_do in
# /lib/rnvme.sh): QEMU 10 ignores the guest's later sleep-state writes after an S3 resume, S5
# included (the power-off returns into the kernel: a WARNING in do_exit), and now and then
# the restart too.
if [ -e /tmp/.rnvme-quit ]; then
	printf '\nRNVME-HOST: 0 quit\n' >/dev/console
	sleep 60
fi
poweroff -f
