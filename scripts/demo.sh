#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make demo': sets the machine up if needed, builds rust_nvme.ko, boots
# QEMU with one emulated NVMe controller on a 4 GiB sparse image, binds it
# to rust_nvme and shows the driver's kernel messages, lsblk and a short
# fio verify run on the disk it creates.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$RNVME_ROOT"

scripts/setup.sh

if [ -f rust_nvme.rs ]; then
	say "building rust_nvme.ko"
	make -s || die "the module does not build; fix the errors above and re-run 'make demo'"
	export RNVME_MODULE=$RNVME_ROOT/rust_nvme.ko
else
	echo "    there is no rust_nvme.rs yet: the demo boots without the driver"
	export RNVME_MODULE=none
fi

say "booting QEMU with one NVMe controller (serial rnvme-demo, 4 GiB)"
exec tests/harness/vm.sh --name demo --timeout 240 \
	--disk d0=4G --nvme serial=rnvme-demo,drive=d0 - <<'EOF'
a=$(pci_addr_of 0)
log "NVMe controller at $a (PCI id $(cat /sys/bus/pci/devices/$a/vendor):$(cat /sys/bus/pci/devices/$a/device))"
if [ ! -f /lib/modules/rust_nvme.ko ]; then
	log "rust_nvme.ko is not built yet, so there is nothing to bind"
	exit 0
fi
load_rust_driver
echo rust_nvme >/sys/bus/pci/devices/$a/driver_override
echo "$a" >/sys/bus/pci/drivers_probe || true
sleep 1
log "kernel messages of the driver:"
dmesg | grep 'rust_nvme' | sed 's/^\[ *[0-9.]*\] /   kernel: /' || true
if [ "$(driver_of "$a")" != rust_nvme ]; then
	fail "rust_nvme did not bind $a; see its messages above"
fi
log "rust_nvme is bound to $a"
i=0
while [ -z "$(disks_of "$a")" ] && [ $i -lt 25 ]; do
	sleep 0.2
	i=$((i + 1))
done
/usr/bin/lsblk
disk=$(disks_of "$a" | head -n 1)
if [ -z "$disk" ]; then
	log "no disk appeared: the driver does not register a block device yet"
	exit 0
fi
log "disk /dev/$disk: $(disk_bytes "$disk") bytes; fio: 4k random writes over 64 MiB, crc32c verify"
/usr/bin/fio --name=demo --filename=/dev/$disk --rw=randwrite --bs=4k --size=64M \
	--direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 >/tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail "fio verify failed on /dev/$disk"; }
grep -E 'IOPS=|WRITE:|READ:|err=' /tmp/fio.out
log "fio wrote 64 MiB through rust_nvme and read it back intact"
EOF
