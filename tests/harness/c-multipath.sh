#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the C NVMe driver (nvme-core.ko, nvme.ko) of the test kernel's own source with its
# native multipath (CONFIG_NVME_MULTIPATH), out of tree, for t-multipath's C reference; the
# test kernel keeps CONFIG_NVME_MULTIPATH off, so that every other test's C driver gives a
# disk per controller, as before. Prints the directory holding the two modules; builds them
# once per kernel build directory (about 20 s), cached next to it.
#
# Usage: tests/harness/c-multipath.sh   (KDIR= as for the other scripts)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
KDIR=${KDIR:-$(rnvme_kdir)}
src=$KDIR/source/drivers/nvme/host
[ -d "$src" ] || src=$KDIR/drivers/nvme/host
[ -f "$src/multipath.c" ] || die "$src/multipath.c not found: KDIR=$KDIR has no NVMe host driver source"
out=$KDIR/rnvme-c-multipath
if [ -f "$out/nvme-core.ko" ] && [ -f "$out/nvme.ko" ] && [ "$out/nvme-core.ko" -nt "$KDIR/Module.symvers" ]; then
	echo "$out"
	exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-c-mpath.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src"/*.[ch] "$src/Makefile" "$work/"
# CONFIG_NVME_MULTIPATH=y puts multipath.o in nvme-core (the Makefile); the define turns on
# the code behind IS_ENABLED(CONFIG_NVME_MULTIPATH), which the kernel's autoconf.h leaves off.
if ! make -s -C "$KDIR" M="$work" LLVM="$RNVME_LLVM" CONFIG_NVME_MULTIPATH=y \
	KCFLAGS=-DCONFIG_NVME_MULTIPATH=1 modules >"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "building the C driver with native multipath failed (see above)"
fi
mkdir -p "$out.tmp"
cp "$work/nvme-core.ko" "$work/nvme.ko" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
