#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# One-command, idempotent set-up of a Debian bookworm machine for rust-nvme:
# package sources and pins, build and test packages, the Rust pieces the
# kernel needs, the Linux source (downloaded and unpacked, never installed)
# and a small CONFIG_RUST=y test kernel built into a cache outside the clone.
#
# Usage: scripts/setup.sh [apt] [rust] [source] [kernel]   (default: all)
# Environment: RNVME_CACHE (cache directory), RNVME_KVER (7.3 or 7.2),
# RNVME_VARIANT (empty, or "debug" for the KASAN/lockdep/kmemleak kernel).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PACKAGES=(clang-19 lld-19 llvm-19 libclang-19-dev bison flex bc libelf-dev
	libssl-dev cpio busybox-static fio nvme-cli zstd xz-utils e2fsprogs
	util-linux socat dkms fdisk udev)
SOURCES=/etc/apt/sources.list.d/rust-nvme.sources
PINS=/etc/apt/preferences.d/rust-nvme
# Free space the kernel step needs in the cache: source, package, build.
KERNEL_NEED_MB=${RNVME_KERNEL_NEED_MB:-5000}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "installing packages needs root; run 'make setup' as root or install sudo"
	fi
}

# The Debian mirror this machine already uses, read from its own sources.
debian_mirror() {
	local uri
	uri=$(grep -h -m1 -E '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
	if [ -z "$uri" ]; then
		uri=$(grep -h -m1 -E '^deb +[^ ]+/debian/? +bookworm' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
	fi
	[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add one for bookworm and re-run"
	echo "$uri"
}

write_if_changed() {
	local file=$1 content=$2
	if [ ! -f "$file" ] || [ "$(cat "$file")" != "$content" ]; then
		printf '%s\n' "$content" | as_root tee "$file" >/dev/null
		return 0
	fi
	return 1
}

step_apt() {
	[ -r /etc/debian_version ] || die "this set-up script supports Debian bookworm only; install the packages from README.md by hand"
	local changed=0 missing=() p mirror
	mirror=$(debian_mirror)
	write_if_changed "$SOURCES" "Types: deb
URIs: $mirror
Suites: bookworm-backports trixie-backports trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" && changed=1
	# Trixie is only there for 'apt-get download linux-source-*': pin it so
	# low that nothing from it is ever installed (it would replace libc).
	write_if_changed "$PINS" "Package: *
Pin: release n=trixie
Pin-Priority: 1

Package: *
Pin: release n=trixie-backports
Pin-Priority: 1

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100" && changed=1
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	local want_qemu=0
	if ! qemu-system-x86_64 --version 2>/dev/null | grep -qE 'version (1[0-9]|[2-9][0-9])\.'; then
		want_qemu=1
	fi
	if [ $changed = 0 ] && [ ${#missing[@]} = 0 ] && [ $want_qemu = 0 ]; then
		echo "    packages and sources already in place"
		return
	fi
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq || die "apt-get update failed; check the network and $SOURCES"
	if [ ${#missing[@]} -gt 0 ]; then
		echo "    installing: ${missing[*]}"
		as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install of ${missing[*]} failed"
	fi
	if [ $want_qemu = 1 ]; then
		echo "    installing qemu-system-x86 from bookworm-backports"
		as_root apt-get install -y -qq --no-install-recommends -t bookworm-backports \
			qemu-system-x86 >/dev/null || die "apt-get install -t bookworm-backports qemu-system-x86 failed"
	fi
}

# Oldest bindgen the kernel accepts.
BINDGEN_MIN=0.71.1

version_ge() {
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

step_rust() {
	command -v rustc >/dev/null || die "rustc not found; install Rust with rustup (https://rustup.rs) and re-run"
	if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
		rustup component add rust-src || die "rustup component add rust-src failed"
	fi
	local v
	v=$(bindgen --version 2>/dev/null | awk '{print $2}') || true
	if [ -z "$v" ] || ! version_ge "$v" "$BINDGEN_MIN"; then
		echo "    installing bindgen-cli (about 2 minutes)"
		cargo install --locked bindgen-cli || die "cargo install --locked bindgen-cli failed"
	fi
	echo "    $(rustc --version); bindgen $(bindgen --version | awk '{print $2}')"
}

step_source() {
	local src pkg tmp
	src=$(rnvme_srcdir)
	if [ -f "$src/Makefile" ]; then
		echo "    linux $(rnvme_src_version) already unpacked in $src"
		return
	fi
	pkg=linux-source-$RNVME_KVER
	mkdir -p "$RNVME_CACHE/src"
	check_space "$RNVME_CACHE" 3000 "unpacking the kernel source"
	tmp=$(mktemp -d "$RNVME_CACHE/src/.unpack.XXXXXX")
	if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg"); then
		rm -rf "$tmp"
		die "apt-get download $pkg failed; run 'scripts/setup.sh apt' first (it adds trixie-backports)"
	fi
	dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/x"
	tar -C "$tmp" -xf "$tmp"/x/usr/src/"$pkg".tar.xz ||
		{ rm -rf "$tmp"; die "unpacking $pkg failed (disk full?); free space in $RNVME_CACHE and re-run"; }
	[ -f "$tmp/$pkg/Makefile" ] || { rm -rf "$tmp"; die "$pkg did not contain $pkg/Makefile"; }
	mv "$tmp/$pkg" "$src"
	rm -rf "$tmp"
	echo "    linux $(rnvme_src_version) unpacked in $src"
}

# check_space DIR MB WHAT: fails unless DIR's file system has MB free.
check_space() {
	local dir=$1 need=$2 what=$3 have
	mkdir -p "$dir"
	have=$(df -Pm "$dir" | awk 'NR==2{print $4}')
	if [ "$have" -lt "$need" ]; then
		die "not enough disk space for $what in $dir: ${have} MB free, ${need} MB needed; free space or set RNVME_CACHE to a larger disk"
	fi
}

# The tools the kernel's Rust build needs, checked before a long build.
preflight_kernel() {
	command -v "clang$RNVME_LLVM" >/dev/null || die "clang$RNVME_LLVM not found; run 'make setup' (or apt-get install clang-19 lld-19 llvm-19)"
	command -v bindgen >/dev/null || die "bindgen not found; run 'cargo install --locked bindgen-cli' (or 'make setup') and make sure ~/.cargo/bin is on PATH"
	local v t
	v=$(bindgen --version | awk '{print $2}')
	version_ge "$v" "$BINDGEN_MIN" || die "bindgen $v is too old (kernel $RNVME_KVER needs >= $BINDGEN_MIN); run 'cargo install --locked bindgen-cli'"
	t=$(mktemp -d)
	echo 'int rnvme_probe;' >"$t/p.h"
	if ! bindgen "$t/p.h" -o "$t/p.rs" >"$t/log" 2>&1; then
		rm -rf "$t"
		die "bindgen cannot load libclang; install libclang-19-dev (or 'make setup'), or point LIBCLANG_PATH at the directory holding libclang.so"
	fi
	rm -rf "$t"
	rustup component list --installed 2>/dev/null | grep -q '^rust-src' ||
		die "the rust-src component is missing; run 'rustup component add rust-src'"
}

step_kernel() {
	local src out tmp start
	src=$(rnvme_srcdir)
	out=$(rnvme_kdir)
	if [ -f "$out/.rnvme-complete" ]; then
		echo "    test kernel cached in $out"
		return
	fi
	preflight_kernel
	check_space "$RNVME_CACHE" "$KERNEL_NEED_MB" "building the test kernel"
	# One kernel build at a time: a second set-up waits, then finds the cached kernel.
	exec 9>"$RNVME_CACHE/.build.lock"
	if ! flock -n 9; then
		echo "    another set-up is building the kernel; waiting for it"
		flock 9
	fi
	if [ -f "$out/.rnvme-complete" ]; then
		echo "    test kernel cached in $out"
		return
	fi
	[ -f "$src/Makefile" ] || step_source
	out=$(rnvme_kdir)
	# Build next to the final place, then rename: an interrupted or failed
	# build never looks like a cached kernel.
	tmp="$out.tmp"
	rm -rf "$tmp" "$out"
	mkdir -p "$tmp"
	local mk=(make -s -C "$src" O="$tmp" LLVM="$RNVME_LLVM")
	"${mk[@]}" tinyconfig >/dev/null
	# shellcheck disable=SC2046 # one fragment per line, paths without spaces
	"$src/scripts/kconfig/merge_config.sh" -m -O "$tmp" "$tmp/.config" $(rnvme_fragments) >/dev/null
	"${mk[@]}" olddefconfig >/dev/null
	local line missing=()
	while read -r line; do
		case "$line" in "#"* | "") continue ;; esac
		grep -qx -- "$line" "$tmp/.config" || missing+=("$line")
	done < <(cat $(rnvme_fragments))
	if [ ${#missing[@]} -gt 0 ]; then
		"${mk[@]}" rustavailable || true
		rm -rf "$tmp"
		die "the kernel configuration dropped ${missing[*]}; see the messages above (for CONFIG_RUST: 'make LLVM=-19 rustavailable')"
	fi
	start=$SECONDS
	echo "    building linux $(rnvme_src_version) in $tmp (about 12 minutes on 2 cores)"
	if ! "${mk[@]}" -j"$(($(nproc) + 1))" >"$tmp/build.log" 2>&1; then
		tail -n 30 "$tmp/build.log" >&2
		local keep="$RNVME_CACHE/failed-build.log"
		cp "$tmp/build.log" "$keep" 2>/dev/null || true
		rm -rf "$tmp"
		df -Pm "$RNVME_CACHE" | awk 'NR==2 && $4 < 500 {exit 1}' ||
			die "the kernel build ran out of disk space in $RNVME_CACHE; free space and re-run 'make setup'"
		die "the kernel build failed; the log is in $keep"
	fi
	touch "$tmp/.rnvme-complete"
	mv "$tmp" "$out"
	# The generated O= Makefile names its own directory; point it at the final one.
	sed -i "s|^export KBUILD_OUTPUT = .*|export KBUILD_OUTPUT = $out|" "$out/Makefile"
	echo "    kernel built in $((SECONDS - start)) s: $out"
}

main() {
	local steps=("$@") s
	[ ${#steps[@]} -gt 0 ] || steps=(apt rust source kernel)
	for s in "${steps[@]}"; do
		case "$s" in
		apt) timed "packages and sources" step_apt ;;
		rust) timed "Rust toolchain pieces" step_rust ;;
		source) timed "kernel source ($RNVME_KVER)" step_source ;;
		kernel) timed "test kernel" step_kernel ;;
		*) die "unknown set-up step '$s' (known: apt rust source kernel)" ;;
		esac
	done
}

main "$@"
