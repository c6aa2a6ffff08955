#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest-to-host channel (host_do): a monitor command's output reaches
# the guest, a monitor error is a non-zero status, a qemu-io write from the
# host is what the guest then reads, and device_del hot-unplugs a
# controller behind a PCIe root port (pciehp), with the C driver bound.
# --allow-pciehp-lockdep: pciehp's own lockdep report on that removal (lockdep kernel).
# --tcg-one-thread: QEMU 10.0.2's TCG race on a hot-unplug (see tests/harness/vm.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name host-action --timeout 120 --allow-pciehp-lockdep --tcg-one-thread \
	--disk d0=16M --disk d1=16M \
	--nvme id=nv0,serial=rnh0,drive=d0 \
	--qemu '-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x8 -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off' \
	--nvme id=hp1,serial=rnhp,drive=d1,bus=rp1 - <<'GUEST'
status=$(host_do info status)
case "$status" in *running*) ;; *) fail "'info status' said: $status" ;; esac
log "monitor: $status"
if host_do device_del no-such-device >/dev/null; then
	fail "host_do returned success for a failing monitor command"
fi

load_c_driver
a=$(pci_addr_of 0)
bind "$a" nvme
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
disk=$(disks_of "$a")
host_do 'qemu-io -d nv0 "write -P 0xa5 0 4k"'
want=$(head -c 4096 /dev/zero | tr '\0' '\245' | /usr/bin/sha256sum)
got=$(/usr/bin/dd if=/dev/$disk bs=4k count=1 iflag=direct status=none | /usr/bin/sha256sum)
[ "$got" = "$want" ] || fail "the guest does not read back the host's qemu-io write"
log "the guest read the pattern the host wrote with qemu-io"

hp=$(for c in $(nvme_ctrls); do [ "$c" = "$a" ] || echo "$c"; done)
[ -n "$hp" ] || fail "the controller behind the root port is missing"
bind "$hp" nvme
wait_for '[ -n "$(disks_of '"$hp"')" ]' 20
log "hot-unplugging $hp ($(disks_of "$hp"))"
host_do device_del hp1
wait_for "[ ! -e /sys/bus/pci/devices/$hp ]" 30
[ -z "$(disks_of "$hp")" ] || fail "disk of $hp still there after unplug"
log "$hp and its disk are gone"
GUEST
