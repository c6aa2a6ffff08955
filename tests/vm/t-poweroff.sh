#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Shutdown at power-off (issue 13). The guest writes data through a bound controller and
# powers off (`poweroff -f`, as every VM test ends) with the driver still bound: the
# controller must see a normal shutdown (CC.SHN), as the C driver gives it, so that a real
# SSD writes back its cache and counts no unsafe shutdown. QEMU's trace event
# pci_nvme_mmio_shutdown_set (logged with -D) shows it. Three runs: ours bound (one line
# wanted), the C driver bound (the reference: one line), and ours unbound before power-off
# (unbind shuts down: one line, and none from the reboot path on a controller no longer
# bound). The data written is read back from the image on the host after each run.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME DRIVER UNBIND: one VM; prints the number of shutdown trace lines.
run() {
	local name=$1 drv=$2 unbind=$3 img=$tmp/$1.img
	truncate -s 64M "$img"
	tests/harness/vm.sh --name "poweroff-$name" --timeout 120 \
		--qemu "-drive file=$img,if=none,format=raw,id=p0 -D $tmp/$name.trace -trace pci_nvme_mmio_shutdown_set" \
		--nvme serial=rpo0,drive=p0 - >"$tmp/$name.out" 2>&1 <<GUEST || { cat "$tmp/$name.out"; return 1; }
a=\$(pci_addr_of 0)
if [ $drv = rust_nvme ]; then load_rust_driver; else load_c_driver; fi
bind "\$a" $drv
d=\$(disk_on "\$a")
printf 'rust-nvme power-off marker %s\n' $name >/tmp/mark
/usr/bin/dd if=/tmp/mark of=/dev/\$d bs=512 seek=2048 conv=sync status=none || fail "write failed"
[ $unbind = no ] || unbind "\$a"
log "powering off with $drv \$( [ $unbind = no ] && echo bound || echo unbound)"
GUEST
	grep -q "rust-nvme power-off marker $name" <(dd if="$img" bs=512 skip=2048 count=1 status=none) ||
		{ echo "$name: the marker is not on the image"; return 1; }
	grep -c pci_nvme_mmio_shutdown_set "$tmp/$name.trace" || true
}

fail=0
for spec in "rust rust_nvme no" "c nvme no" "rust-unbound rust_nvme yes"; do
	set -- $spec
	n=$(run "$1" "$2" "$3") || { echo "FAIL: $1: the VM run failed"; fail=1; continue; }
	echo "$1 ($2, $( [ "$3" = no ] && echo bound || echo unbound) at power-off): $n shutdown(s) in QEMU's trace"
	[ "$n" = 1 ] || { echo "FAIL: $1: $n shutdowns, want 1"; fail=1; }
done
[ $fail = 0 ] && echo "PASS: every controller was shut down once before power-off"
exit $fail
