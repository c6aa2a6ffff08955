#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS: registers this tree with dkms, builds rust_nvme.ko for the cached test kernel and
# checks the module's vermagic; installs it when /lib/modules/<version> exists (with CI=true
# it first installs the test kernel's own modules there, on a throwaway machine), then
# removes everything it added. DKMS forces CC=clang LD=ld.lld for kernels built with clang,
# so LLVM 19 is put on PATH under those names for the run.
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"
cd "$RNVME_ROOT"
# /usr/src and DKMS's tree are machine-wide: two test runs at once (two clones, or 7.2 and
# 7.3 side by side) take turns here instead of removing each other's files.
exec 9>/tmp/rust-nvme-dkms.lock
flock 9
command -v dkms >/dev/null || die "dkms is not installed; run 'make setup'"
kdir=$(rnvme_kdir)
msg=$(rnvme_check_kdir "$kdir") || die "$msg"
kver=$(make -s -C "$kdir" kernelrelease 2>/dev/null | tail -n1)
[ -n "$kver" ] || die "cannot read the kernel release of $kdir"
name=rust-nvme
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
src=/usr/src/$name-$ver
tmp=$(mktemp -d)
created_modules=0
cleanup() {
	dkms remove -m "$name" -v "$ver" --all >/dev/null 2>&1 || true
	rm -rf "$src" "$tmp"
	[ $created_modules = 0 ] || rm -rf "/lib/modules/$kver"
}
trap cleanup EXIT
for t in clang ld.lld; do ln -s "$(command -v "$t$RNVME_LLVM")" "$tmp/$t"; done
export PATH="$tmp:$PATH"

say "dkms add $name/$ver (from a copy of the tracked sources)"
dkms remove -m "$name" -v "$ver" --all >/dev/null 2>&1 || true
rm -rf "$src"
mkdir -p "$src"
git ls-files -z -- dkms.conf Kbuild Makefile LICENSE '*.rs' 'nvme/*.rs' 'kernel/*' 'scripts/*' 'udev/*' |
	xargs -0 cp --parents -t "$src"
dkms add -m "$name" -v "$ver"
say "dkms build for $kver against $kdir"
dkms build -m "$name" -v "$ver" -k "$kver" --kernelsourcedir "$kdir"
ko=$(find "/var/lib/dkms/$name/$ver/$kver" -name 'rust_nvme.ko*' | head -n1)
[ -n "$ko" ] || die "dkms build produced no rust_nvme.ko"
vm=$(modinfo -F vermagic "$ko")
case "$vm" in "$kver "*) echo "    built $ko, vermagic: $vm" ;; *) die "vermagic '$vm' is not for $kver" ;; esac

if [ ! -d "/lib/modules/$kver" ] && [ "${CI:-}" = true ]; then
	say "installing the test kernel's modules into /lib/modules/$kver (CI machine)"
	make -s -C "$kdir" modules_install INSTALL_MOD_PATH=/ >/dev/null
	created_modules=1
fi
if [ -d "/lib/modules/$kver" ]; then
	say "dkms install for $kver"
	dkms install -m "$name" -v "$ver" -k "$kver" --kernelsourcedir "$kdir"
	inst=$(find "/lib/modules/$kver" -name 'rust_nvme.ko*' | head -n1)
	[ -n "$inst" ] || die "dkms install put no rust_nvme.ko under /lib/modules/$kver"
	modinfo -F name "$inst" | grep -qx rust_nvme || die "installed module is not rust_nvme"
	echo "    installed $inst"
	dkms status -m "$name" -v "$ver" | grep -q installed || die "dkms status does not say installed"
	# POST_INSTALL put the udev rules in place; POST_REMOVE takes them away.
	rules=/etc/udev/rules.d/61-rust-nvme.rules
	cmp -s "$rules" udev/61-rust-nvme.rules || die "dkms install did not install $rules"
	echo "    installed $rules"
	dkms remove -m "$name" -v "$ver" --all >/dev/null
	[ ! -e "$rules" ] || die "dkms remove left $rules"
	echo "    dkms remove took $rules away"
else
	echo "    /lib/modules/$kver does not exist: install step skipped (CI=true runs it)"
fi
echo "dkms: ok"
