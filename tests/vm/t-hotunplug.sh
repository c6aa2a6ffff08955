#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Hot-unplug under load: fio runs on a rust_nvme disk behind a PCIe root port while the
# controller is removed with device_del; fio ends with errors, the disk goes away, no warning
# or hang; a controller added back (device_add, on the other root port) binds and passes a
# verify run. HOTUNPLUG_ROUNDS rounds (default 2; 'make soak' runs 10), the controller
# moving between the two root ports, then the module unloads.
# On the lockdep kernel every surprise removal makes pciehp report its own lock order, with
# either NVMe driver bound: --allow-pciehp-lockdep excuses exactly that report (see
# tests/harness/scan-console.sh); lockdep has already checked this driver's remove path by then.
# --tcg-one-thread: QEMU 10.0.2's TCG can abort on a hot-unplug when vCPUs run on their own
# threads (see tests/harness/vm.sh); the guest still has two CPUs.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${HOTUNPLUG_ROUNDS:-2}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "HOTUNPLUG_ROUNDS='$rounds' is not a positive number"; exit 2; }
# One drive per controller that ever exists: QEMU may hold a removed controller's drive.
disks=()
for i in $(seq 1 $((rounds + 1))); do
	disks+=(--disk "d$i=64M")
done
tests/harness/vm.sh --name hotunplug --timeout $((120 + 60 * rounds)) --append "rnvme.hp_rounds=$rounds" --allow-pciehp-lockdep --tcg-one-thread \
	"${disks[@]}" \
	--qemu '-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x8 -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x9 -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off' \
	--nvme id=hp0,serial=rnhp,drive=d1,bus=rp1 - <<'GUEST'
ROUNDS=$(rnvme_param hp_rounds)
[ -n "$ROUNDS" ] || fail "no rnvme.hp_rounds= on the kernel command line"
load_rust_driver
round() {
	n=$1 id=$2 next_id=$3 next_port=$4 next_drive=$5
	hp=$(nvme_ctrls | head -n1)
	[ -n "$hp" ] || fail "round $n: no controller present"
	# A hot-added controller has no driver_override, so the loaded rust_nvme claims it.
	[ "$n" = 1 ] && bind "$hp" rust_nvme
	wait_for '[ "$(driver_of '"$hp"')" = rust_nvme ]' 20
	wait_for '[ -n "$(disks_of '"$hp"')" ]' 20
	d=$(disks_of "$hp")
	fio_verify /dev/$d 4M
	log "round $n: fio on $d, then device_del $id"
	/usr/bin/fio --name=hp --filename=/dev/$d --direct=1 --ioengine=libaio --rw=randrw \
		--bs=4k --iodepth=32 --size=32M --time_based --runtime=60 --eta=never \
		--output=/tmp/fio.out 2>/tmp/fio.err &
	fp=$!
	sleep 2
	host_do device_del "$id" >/dev/null
	wait_for "[ ! -e /sys/bus/pci/devices/$hp ]" 40
	if wait $fp; then fail "round $n: fio did not notice the removal"; fi
	[ ! -e /dev/$d ] || fail "round $n: /dev/$d still exists"
	log "round $n: $hp and /dev/$d are gone, fio saw errors"
	# QEMU may still hold the removed controller's drive: the new one gets a fresh drive.
	host_do device_add nvme,id=$next_id,serial=rnhp$n,drive=$next_drive,bus=$next_port >/dev/null
	wait_for '[ -n "$(nvme_ctrls)" ]' 30
}
n=1
while [ $n -le "$ROUNDS" ]; do
	# Controller hp(n-1) sits on one root port; hpN goes to the other one, on drive d(n+1).
	round $n hp$((n - 1)) hp$n rp$((n % 2 + 1)) d$((n + 1))
	n=$((n + 1))
done
log "$ROUNDS rounds of removal under fio and re-add"
hp=$(nvme_ctrls | head -n1)
wait_for '[ "$(driver_of '"$hp"')" = rust_nvme ]' 20
wait_for '[ -n "$(disks_of '"$hp"')" ]' 20
fio_verify /dev/$(disks_of "$hp") 8M
unbind "$hp"
unload_rust_driver
GUEST
