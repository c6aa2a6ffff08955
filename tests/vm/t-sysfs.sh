#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# sysfs: the controller attributes on /sys/class/misc/rnvme<N> (model, serial, firmware_rev,
# state, queue_count, sqsize) and the disk attributes (nsid, wwid, eui, nguid, uuid) read the
# same as the C driver's /sys/class/nvme/nvme<N> and /sys/block/nvme<N>n<M> ones for the same
# QEMU controller: one namespace with a UUID, EUI64 and NGUID, one with none of them. Like the
# C driver, rust_nvme does not trust the namespace identifiers of QEMU's controller (older
# QEMU versions repeated them), so both namespaces get a vendor-serial-model-nsid wwid.
# The disks' queue limits (/sys/block/*/queue/*) match too, virt_boundary_mask included
# (none: QEMU's controller takes SGLs), except the number of requests, which follows each
# driver's queue depth, and the integrity segments (no protection information here).
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/harness/vm.sh --name sysfs --timeout 120 \
	--disk d0=32M --disk d1=32M \
	--nvme serial=rnsys0,id=c0 \
	--qemu '-device nvme-ns,drive=d0,nsid=1,bus=c0,uuid=6f2c5e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6,eui64=0x5254001122334455,nguid=00112233-4455-6677-8899-aabbccddeeff' \
	--qemu '-device nvme-ns,drive=d1,nsid=2,bus=c0,uuid=00000000-0000-0000-0000-000000000000' - <<'GUEST'
load_rust_driver
load_c_driver
a=$(pci_addr_of 0)
bind "$a" rust_nvme
wait_for '[ -e /sys/block/rnvme0n1 ] && [ -e /sys/block/rnvme0n2 ]' 20
snap() { # OUT CTRLDIR DISK1 DISK2
	{
		for f in model serial firmware_rev state queue_count sqsize; do
			echo "$f=$(cat "$2/$f")"
		done
		for d in "$3" "$4"; do
			for f in nsid wwid eui nguid uuid; do
				echo "disk$(cat /sys/block/$d/nsid) $f=$(cat /sys/block/$d/$f 2>/dev/null || echo absent)"
			done
		done
	} >"$1"
	# The queue limits, but those that follow the CPU count or the driver's own choices of
	# depth (nr_requests) and what neither driver sets differently by design.
	for d in "$3" "$4"; do
		for f in $(ls /sys/block/$d/queue/ | grep -v -e '^nr_requests$' -e '^scheduler$' -e '^iostats' -e '^stable_writes$' -e '^io_timeout$' -e '^wbt_lat_usec$' -e '^iosched$' -e '^rq_affinity$' -e '^nomerges$' -e '^add_random$' -e '^max_integrity_segments$'); do
			[ -f /sys/block/$d/queue/$f ] || continue
			echo "disk$(cat /sys/block/$d/nsid) queue/$f=$(cat /sys/block/$d/queue/$f 2>/dev/null || echo unreadable)"
		done
	done >"$1.queue"
}
snap /tmp/rust /sys/class/misc/rnvme0 rnvme0n1 rnvme0n2
unbind "$a"
bind "$a" nvme
wait_for '[ "$(disks_of '"$a"' | wc -w)" = 2 ]' 20
c=$(ls "/sys/bus/pci/devices/$a/nvme/")
d1= d2=
for d in $(disks_of "$a"); do
	case "$(cat /sys/block/$d/nsid)" in 1) d1=$d ;; 2) d2=$d ;; esac
done
snap /tmp/c "/sys/class/nvme/$c" "$d1" "$d2"
cat /tmp/rust
diff /tmp/rust /tmp/c || fail "sysfs attributes differ from the C driver's"
diff /tmp/rust.queue /tmp/c.queue || fail "queue limits differ from the C driver's"
log "$(wc -l </tmp/rust.queue) queue attributes match the C driver's"
grep -q '^disk1 wwid=nvme.1b36-726e73797330-51454d55204e564d65204374726c-00000001$' /tmp/rust ||
	fail "unexpected wwid for namespace 1"
grep -q '^disk1 eui=absent$' /tmp/rust || fail "identifiers of QEMU's controller shown"
log "sysfs attributes match the C driver's"
GUEST
