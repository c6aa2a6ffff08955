#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Unbind under load and rmmod while a disk is open. rmmod is refused while a process holds a
# rust_nvme disk open, and succeeds once it is closed. Writing the controller to the driver's
# unbind file while fio runs on both of its namespaces completes or fails every request: fio
# exits, no task is left stuck, the disks are gone, and the module then unloads.
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/harness/vm.sh --name unbind-load --timeout 180 \
	--disk d0=64M --disk d1=64M \
	--qemu '-device nvme-subsys,id=subsys0,nqn=rnvme-unbind' \
	--nvme serial=rnu0,id=c0,subsys=subsys0 \
	--qemu '-device nvme-ns,drive=d0,nsid=1,bus=c0 -device nvme-ns,drive=d1,nsid=2,bus=c0' - <<'GUEST'
load_rust_driver
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ "$(disks_of '"$a"' | wc -w)" = 2 ]' 20
set -- $(disks_of "$a")

exec 3</dev/$1
if rmmod rust_nvme 2>/tmp/rmmod.err; then
	fail "rmmod succeeded while /dev/$1 was open"
fi
log "rmmod refused while /dev/$1 is open: $(head -n1 /tmp/rmmod.err)"
exec 3<&-

# I/O the disks completed so far (reads + writes, /sys/block/X/stat fields 1 and 5).
ios() {
	set -- $(cat /sys/block/$1/stat)
	echo $(($1 + $5))
}
for d in "$@"; do
	ios $d >/tmp/base-$d
done
# Every fio has I/O completing on its disk (a slow kernel takes seconds to start fio; an
# unbind before it opened the disk would test nothing, and fio would create a plain file).
flowing() {
	for d in "$@"; do
		[ "$(ios $d)" -gt "$(cat /tmp/base-$d)" ] || return 1
	done
}
for d in "$@"; do
	/usr/bin/fio --name=load --filename=/dev/$d --direct=1 --ioengine=libaio --rw=randrw \
		--bs=4k --iodepth=32 --size=32M --time_based --runtime=60 --eta=never \
		--output=/tmp/fio-$d.out 2>/dev/null &
done
wait_for "flowing $*" 120
sleep 1
log "unbinding $a under load"
echo "$a" > /sys/bus/pci/drivers/rust_nvme/unbind
for j in $(jobs -p); do
	wait "$j" || true
done
log "every fio exited"
for d in "$@"; do
	[ ! -e /dev/$d ] || fail "/dev/$d still exists after unbind ($(ls -l /dev/$d))"
done
if grep -l ' D ' /proc/[0-9]*/stat 2>/dev/null | head -n1 | grep -q .; then
	fail "a task is stuck in D state: $(grep -h ' D ' /proc/[0-9]*/stat | head -n3)"
fi
echo none > /sys/bus/pci/devices/$a/driver_override
unload_rust_driver
lsmod | grep -q '^rust_nvme' && fail "rust_nvme still loaded"
log "module unloaded"
GUEST
