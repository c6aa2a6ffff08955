#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the initramfs image the QEMU tests boot: busybox, /init, the host's fio,
# lsblk, nvme-cli, blkdiscard, blkzone, mkfs.ext2, e2fsck, dd, sha256sum and cmp with
# their shared libraries, the C nvme/null_blk modules and the guest library.
# That common part is cached, keyed on its inputs; rust_nvme.ko and the
# EXTRA files go into a small second archive appended to it (the kernel
# unpacks concatenated archives), so a module rebuild or a new test script
# never rebuilds the common part. The common part is not compressed: under
# TCG the kernel unpacks it in 0.7 s instead of 2.3 s gzipped.
#
# Usage: tests/harness/initramfs.sh OUT [HOSTFILE[=GUESTPATH]...]
#   HOSTFILE without =GUESTPATH lands at the same absolute path in the guest.
# Environment: KDIR (kernel build directory; default: the cached test kernel),
#   RNVME_MODULE (the rust_nvme.ko to add; default $RNVME_ROOT/rust_nvme.ko
#   when it exists; "none" adds no module), RNVME_EXTRA_TOOLS (more host
#   programs for the common part, by name or absolute path, separated by
#   spaces: copied with their libraries like the tools above and part of the
#   cache key; tests/blktests.sh adds bash, gawk, coreutils and the rest
#   blktests calls).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: tests/harness/initramfs.sh OUT [HOSTFILE[=GUESTPATH]...]"
OUT=$1
shift
KDIR=${KDIR:-$(rnvme_kdir)}
TOOLS=(fio lsblk nvme blkdiscard blkzone mkfs.ext2 e2fsck dd sha256sum cmp)
read -r -a extra_tools <<<"${RNVME_EXTRA_TOOLS:-}" || true
MODULES=(drivers/nvme/host/nvme-core.ko drivers/nvme/host/nvme.ko
	drivers/block/null_blk/null_blk.ko)
GUEST_DIR=$RNVME_ROOT/tests/vm
CACHE_DIR=$RNVME_CACHE/initramfs

for m in "${MODULES[@]}"; do
	[ -f "$KDIR/$m" ] || die "$KDIR/$m not found; run 'make setup' to build the test kernel (or pass KDIR= a kernel built with BLK_DEV_NVME=m and BLK_DEV_NULL_BLK=m)"
done
# The C driver with native multipath, for t-multipath's reference (lib/modules/mpath/): built
# out of tree unless the kernel has CONFIG_NVME_MULTIPATH itself.
cmpath=()
if ! grep -q '^CONFIG_NVME_MULTIPATH=y' "$KDIR/.config"; then
	d=$(KDIR=$KDIR "$RNVME_ROOT/tests/harness/c-multipath.sh")
	cmpath=("$d/nvme-core.ko" "$d/nvme.ko")
fi
command -v busybox >/dev/null || die "busybox not found; run 'make setup' (it installs busybox-static)"
command -v cpio >/dev/null || die "cpio not found; run 'make setup' (or apt-get install cpio)"

# Host path of every tool, then every shared library and the loader.
tool_paths=()
for t in "${TOOLS[@]}"; do
	p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t") ||
		die "$t not found on the host; run 'make setup' (it installs fio, nvme-cli, util-linux, e2fsprogs)"
	tool_paths+=("$p")
done
for t in "${extra_tools[@]}"; do
	p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t") ||
		die "RNVME_EXTRA_TOOLS: $t not found on the host; install it or leave it out"
	tool_paths+=("$p")
done
mapfile -t libs < <(ldd "${tool_paths[@]}" 2>/dev/null | grep -o '/[^ ]*\.so[^ ]*' | sort -u)

# The cache key: our guest scripts and this script by content, host binaries
# and modules by path, size and modification time (hashing 90 MB of
# libraries on every boot would cost more than the boot itself).
key=$(
	{
		cat "$0" "$GUEST_DIR/init.sh" "$GUEST_DIR/guest-lib.sh"
		echo "$KDIR"
		echo "extra tools: ${extra_tools[*]}"
		stat -L -c '%n %s %Y' "$(command -v busybox)" "${tool_paths[@]}" "${libs[@]}"
		for m in "${MODULES[@]}"; do stat -c '%n %s %Y' "$KDIR/$m"; done
		for m in "${cmpath[@]}"; do stat -c '%n %s %Y' "$m"; done
		stat -c '%n %s %Y' /etc/mke2fs.conf 2>/dev/null || true
	} | sha256sum | cut -c1-16
)
common=$CACHE_DIR/common-$key.cpio

# stage_file SRC DEST_IN_STAGE: copies SRC (symlinks followed) to DEST,
# replacing whatever is there: a busybox applet link must never be
# followed, it points at the host's /bin/busybox.
stage_file() {
	mkdir -p "$(dirname "$2")"
	rm -f "$2"
	cp -L "$1" "$2"
}

# pack DIR: writes DIR as a newc cpio archive, owned by root, to stdout.
pack() {
	(cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet)
}

build_common() {
	local stage=$1 rel p
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc,dev,proc,sys,tmp,run,mnt,root}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	while read -r rel; do
		[ "$rel" = bin/busybox ] && continue
		mkdir -p "$stage/$(dirname "$rel")"
		ln -sf /bin/busybox "$stage/$rel"
	done < <(busybox --list-full)
	# The real tools go to /usr/bin or /usr/sbin: busybox's shell prefers
	# its own applets, so tests call these by full path.
	for p in "${tool_paths[@]}"; do
		case "$p" in
		*/sbin/*) stage_file "$p" "$stage/usr/sbin/${p##*/}" ;;
		*) stage_file "$p" "$stage/usr/bin/${p##*/}" ;;
		esac
	done
	for p in "${libs[@]}"; do
		stage_file "$p" "$stage$p"
	done
	for p in "${MODULES[@]}"; do
		cp "$KDIR/$p" "$stage/lib/modules/${p##*/}"
	done
	if [ ${#cmpath[@]} -gt 0 ]; then
		mkdir -p "$stage/lib/modules/mpath"
		cp "${cmpath[@]}" "$stage/lib/modules/mpath/"
	fi
	[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$stage/etc/"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
	echo 'root:x:0:' >"$stage/etc/group"
	install -m 0755 "$GUEST_DIR/init.sh" "$stage/init"
	install -m 0644 "$GUEST_DIR/guest-lib.sh" "$stage/lib/rnvme.sh"
	mknod -m 0600 "$stage/dev/console" c 5 1 ||
		die "mknod of /dev/console failed; building the initramfs needs root"
	mknod -m 0666 "$stage/dev/null" c 1 3
}

work=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -f "$common" ]; then
	echo "==> building the common initramfs (cached as $common)"
	mkdir -p "$CACHE_DIR"
	build_common "$work/common"
	pack "$work/common" >"$work/common.cpio"
	# Rename so a reader never sees half an archive; keep the three newest.
	mv "$work/common.cpio" "$common"
	ls -t "$CACHE_DIR"/common-*.cpio | tail -n +4 | xargs -r rm -f
fi

# The per-run part: the module and the extra files.
tail_dir=$work/tail
mkdir -p "$tail_dir/lib/modules"
module=${RNVME_MODULE:-$RNVME_ROOT/rust_nvme.ko}
if [ "$module" != none ] && [ -f "$module" ]; then
	cp "$module" "$tail_dir/lib/modules/rust_nvme.ko"
elif [ -n "${RNVME_MODULE:-}" ] && [ "$module" != none ]; then
	die "RNVME_MODULE=$module does not exist; run 'make' first"
fi
for spec in "$@"; do
	src=${spec%%=*}
	dest=${spec#*=}
	[ "$spec" = "$src" ] && dest=$src
	[ -f "$src" ] || die "extra file $src does not exist"
	case "$dest" in /*) ;; *) die "guest path '$dest' for $src must be absolute" ;; esac
	mkdir -p "$tail_dir$(dirname "$dest")"
	cp -p "$src" "$tail_dir$dest"
done
pack "$tail_dir" | gzip -1 >"$work/tail.cpio.gz"
cat "$common" "$work/tail.cpio.gz" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
