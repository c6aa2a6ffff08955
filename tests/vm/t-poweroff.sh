#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Shutdown at power-off and reboot (issue 13), with two controllers. The guest writes data
# through both and ends with `poweroff -f` (as every VM test ends) or `reboot -f`, the driver
# still bound: each controller must see a normal shutdown (CC.SHN), as the C driver gives it,
# so that a real SSD writes back its cache and counts no unsafe shutdown. The driver gets the
# PCI `shutdown` callback through the glue's PCI adapter (7.3's pci::Driver has none). QEMU's
# trace event pci_nvme_mmio_shutdown_set (logged with -D) shows each shutdown. Runs: ours and
# C bound at power-off, ours and C bound at reboot (two lines wanted each), and ours unbound
# before power-off (unbind shuts down: two lines, and none from the shutdown callback of a
# controller no longer bound), then ours and C bound at a kexec into a second kernel
# (kexec_file_load and LINUX_REBOOT_CMD_KEXEC from tests/vm/tools/kexec-reboot.c: the kernel
# runs the shutdown callbacks before it jumps; the second kernel, the same image with a small
# initramfs of its own, loads no NVMe driver and reports the end of the test). The data
# written is read back from the images on the host.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/harness/lib.sh
KDIR=${KDIR:-$(rnvme_kdir)}
gcc -O2 -static -Wall -o "$tmp/kexec-reboot" tests/vm/tools/kexec-reboot.c
# The second kernel's initramfs: busybox, and an init that reports the kexec and powers off.
mkdir -p "$tmp/stage2/bin" "$tmp/stage2/dev" "$tmp/stage2/proc"
cp "$(command -v busybox)" "$tmp/stage2/bin/busybox"
cat >"$tmp/stage2/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "-- second kernel up after kexec: $(/bin/busybox cat /proc/cmdline)"
echo "RNVME-EXIT: 0"
/bin/busybox poweroff -f
INIT
chmod +x "$tmp/stage2/init"
mknod "$tmp/stage2/dev/console" c 5 1
(cd "$tmp/stage2" && find . | cpio -o -H newc --quiet >"$tmp/stage2.cpio")

# run NAME DRIVER UNBIND HOW: one VM; prints the number of shutdown trace lines.
run() {
	local name=$1 drv=$2 unbind=$3 how=$4 img0=$tmp/$1-0.img img1=$tmp/$1-1.img i
	truncate -s 64M "$img0" "$img1"
	tests/harness/vm.sh --name "poweroff-$name" --timeout 120 \
		--file "$tmp/kexec-reboot=/usr/bin/kexec-reboot" \
		--file "$KDIR/arch/x86/boot/bzImage=/boot/bzImage" --file "$tmp/stage2.cpio=/boot/stage2.cpio" \
		--qemu "-drive file=$img0,if=none,format=raw,id=p0 -drive file=$img1,if=none,format=raw,id=p1 -D $tmp/$name.trace -trace pci_nvme_mmio_shutdown_set" \
		--nvme serial=rpo0,drive=p0 --nvme serial=rpo1,drive=p1 - >"$tmp/$name.out" 2>&1 <<GUEST || { cat "$tmp/$name.out"; return 1; }
if [ $drv = rust_nvme ]; then load_rust_driver; else load_c_driver; fi
for i in 0 1; do
	a=\$(pci_addr_of \$i)
	bind "\$a" $drv
	d=\$(disk_on "\$a")
	printf 'rust-nvme power-off marker %s %s\n' $name \$i >/tmp/mark
	/usr/bin/dd if=/tmp/mark of=/dev/\$d bs=512 seek=2048 conv=sync status=none || fail "write failed"
	[ $unbind = no ] || unbind "\$a"
done
log "$how with $drv \$( [ $unbind = no ] && echo bound || echo unbound)"
if [ $how = kexec ]; then
	kexec-reboot /boot/bzImage /boot/stage2.cpio "console=ttyS0 printk.time=1 panic=-1 rnvme.kexec=1" ||
		fail "kexec failed"
fi
if [ $how = reboot ]; then
	# As /init ends, but with a restart (QEMU runs with -no-reboot: it exits).
	echo "RNVME-EXIT: 0"
	sleep 0.2
	reboot -f
fi
GUEST
	for i in 0 1; do
		eval img=\$img$i
		grep -q "rust-nvme power-off marker $name $i" <(dd if="$img" bs=512 skip=2048 count=1 status=none) ||
			{ echo "$name: the marker is not on image $i"; return 1; }
	done
	grep -c pci_nvme_mmio_shutdown_set "$tmp/$name.trace" || true
}

fail=0
specs=("rust rust_nvme no poweroff" "c nvme no poweroff" "rust-reboot rust_nvme no reboot"
	"c-reboot nvme no reboot" "rust-unbound rust_nvme yes poweroff")
# kexec_file_load needs a relocatable image (the test kernel of 'make setup' is one).
if grep -q '^CONFIG_KEXEC_FILE=y' "$KDIR/.config" && grep -q '^CONFIG_RELOCATABLE=y' "$KDIR/.config"; then
	specs+=("rust-kexec rust_nvme no kexec" "c-kexec nvme no kexec")
else
	echo "kexec runs skipped: the kernel in $KDIR lacks CONFIG_KEXEC_FILE=y or CONFIG_RELOCATABLE=y"
fi
for spec in "${specs[@]}"; do
	set -- $spec
	n=$(run "$1" "$2" "$3" "$4") || { echo "FAIL: $1: the VM run failed"; fail=1; continue; }
	echo "$1 ($2, $( [ "$3" = no ] && echo bound || echo unbound) at $4): $n shutdown(s) in QEMU's trace"
	[ "$n" = 2 ] || { echo "FAIL: $1: $n shutdowns, want 2 (one per controller)"; fail=1; }
done
[ $fail = 0 ] && echo "PASS: every controller was shut down once before power-off, reboot and kexec"
exit $fail
