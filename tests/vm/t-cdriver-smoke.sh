#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The harness end to end with the C nvme driver: two controllers, both bound
# through driver_override, serials and disk sizes checked, a 16 MiB fio
# verify on each. It passes whatever state our own driver is in.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name cdriver-smoke --timeout 120 \
	--disk d0=64M --disk d1=96M \
	--nvme serial=rnc0,drive=d0 --nvme serial=rnc1,drive=d1 - <<'GUEST'
load_c_driver
for i in 0 1; do
	a=$(pci_addr_of $i)
	[ "$(ctrl_by_serial rnc$i)" = "$a" ] || fail "ctrl_by_serial rnc$i is not $a"
	[ -z "$(driver_of "$a")" ] || fail "$a is bound to $(driver_of "$a") before any bind"
	bind "$a" nvme
done
for i in 0 1; do
	a=$(pci_addr_of $i)
	wait_for '[ -n "$(disks_of '"$a"')" ]' 20
	serial=$(cat /sys/bus/pci/devices/$a/nvme/nvme*/serial | tr -d ' ')
	[ "$serial" = rnc$i ] || fail "$a reports serial '$serial', expected rnc$i"
	disk=$(disks_of "$a")
	want=$((64 * 1024 * 1024 + i * 32 * 1024 * 1024))
	got=$(/usr/bin/lsblk -b -d -n -o SIZE "/dev/$disk" | tr -d ' ')
	[ "$got" = "$want" ] || fail "lsblk says /dev/$disk is $got bytes, the image is $want"
	log "$a: serial $serial, /dev/$disk, $got bytes"
	fio_verify "/dev/$disk" 16M
done
/usr/bin/lsblk
for i in 0 1; do
	unbind "$(pci_addr_of $i)"
done
[ -z "$(ls /sys/block | grep nvme)" ] || fail "disks left after unbind: $(ls /sys/block)"
unload_c_driver
GUEST
