#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side tests of bad input: each case feeds make or scripts/setup.sh a
# broken environment and checks that it stops with exactly one
# "rust-nvme: error:" line saying the right thing, and that it left nothing
# half-written behind.
#
# Usage: tests/host-bad-input.sh [CASE...]   (no CASE: all; --list: names)
# Exit 77 means the case was skipped (it needs something this host lacks).
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"

CASES=(kdir-missing kdir-no-rust kdir-preempt-rt kdir-no-rmeta no-bindgen no-libclang disk-full)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-bad-input.XXXXXX")
mnt=''
cleanup() {
	[ -z "$mnt" ] || umount "$mnt" 2>/dev/null || true
	rm -rf "$scratch"
}
trap cleanup EXIT

# expect_error WANT CMD...: CMD must fail with exactly one error line, and
# that line must contain WANT.
expect_error() {
	local want=$1 out rc=0 errs
	shift
	out=$("$@" 2>&1 </dev/null) || rc=$?
	if [ $rc = 0 ]; then
		echo "$out" | tail -n 20
		echo "expected a failure, but '$*' succeeded"
		return 1
	fi
	errs=$(grep -c '^rust-nvme: error: ' <<<"$out" || true)
	if [ "$errs" != 1 ]; then
		echo "$out" | tail -n 20
		echo "expected exactly one 'rust-nvme: error:' line, got $errs"
		return 1
	fi
	if ! grep '^rust-nvme: error: ' <<<"$out" | grep -qF -- "$want"; then
		echo "$out" | tail -n 20
		echo "the error line does not say '$want'"
		return 1
	fi
	grep '^rust-nvme: error: ' <<<"$out"
}

# listing DIR: every path under DIR with its size, to compare before/after.
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p %s\n' | sort)
}

# expect_unchanged DIR BEFORE: fails when DIR's listing differs from BEFORE.
expect_unchanged() {
	local now
	now=$(listing "$1")
	if [ "$now" != "$2" ]; then
		diff <(echo "$2") <(echo "$now") | head -n 20
		echo "$1 changed: something was left half-written"
		return 1
	fi
}

# A copy of the build files, so make runs where nothing else writes.
repo_copy() {
	local r=$scratch/repo
	mkdir -p "$r"
	cp -r "$RNVME_ROOT/Makefile" "$RNVME_ROOT/Kbuild" "$RNVME_ROOT/scripts" "$RNVME_ROOT/kernel" "$r/"
	cp "$RNVME_ROOT"/*.rs "$r/" 2>/dev/null || true
	echo "$r"
}

# make_in_copy KDIR WANT: make KDIR=KDIR in a copy of the tree must fail
# with WANT and leave both the copy and KDIR as they were.
make_in_copy() {
	local kdir=$1 want=$2 r before kbefore=''
	r=$(repo_copy)
	before=$(listing "$r")
	[ ! -d "$kdir" ] || kbefore=$(listing "$kdir")
	expect_error "$want" make -C "$r" KDIR="$kdir"
	expect_unchanged "$r" "$before"
	[ ! -d "$kdir" ] || expect_unchanged "$kdir" "$kbefore"
}

# A .config like the test kernel's (or a minimal one before setup).
base_config() {
	local k
	k=$(rnvme_kdir)
	if [ -f "$k/.config" ]; then
		cat "$k/.config"
	else
		printf 'CONFIG_MODULES=y\nCONFIG_RUST=y\n'
	fi
}

case_kdir-missing() {
	make_in_copy /nonexistent "KDIR=/nonexistent does not exist"
}

case_kdir-no-rust() {
	local k=$scratch/kdir-no-rust
	mkdir -p "$k"
	echo 'all:' >"$k/Makefile"
	base_config | grep -v '^CONFIG_RUST=' >"$k/.config"
	make_in_copy "$k" "without CONFIG_RUST=y"
}

# rust_kdir NAME: a fake configured build directory $scratch/NAME whose .config has
# CONFIG_RUST=y and a Module.symvers, but no Rust metadata; prints its path.
rust_kdir() {
	local k=$scratch/$1
	mkdir -p "$k"
	echo 'all:' >"$k/Makefile"
	base_config >"$k/.config"
	grep -q '^CONFIG_RUST=y' "$k/.config" || echo CONFIG_RUST=y >>"$k/.config"
	: >"$k/Module.symvers"
	echo "$k"
}

case_kdir-preempt-rt() {
	local k
	k=$(rust_kdir kdir-preempt-rt)
	echo CONFIG_PREEMPT_RT=y >>"$k/.config"
	mkdir -p "$k/rust"
	: >"$k/rust/libkernel.rmeta"
	make_in_copy "$k" "PREEMPT_RT"
}

case_kdir-no-rmeta() {
	local k
	k=$(rust_kdir kdir-no-rmeta)
	make_in_copy "$k" "no Rust metadata"
}

# setup_kernel_in CACHE WANT ENV...: 'scripts/setup.sh kernel' with the
# cache at CACHE and ENV must fail with WANT and leave CACHE empty.
setup_kernel_in() {
	local cache=$1 want=$2 left
	shift 2
	expect_error "$want" env RNVME_CACHE="$cache" "$@" "$RNVME_ROOT/scripts/setup.sh" kernel
	left=$(find "$cache" -mindepth 1 | head -n 5)
	if [ -n "$left" ]; then
		echo "$left"
		echo "scripts/setup.sh left files in $cache"
		return 1
	fi
}

case_no-bindgen() {
	local cache=$scratch/cache home=$scratch/home path='' d
	mkdir -p "$cache" "$home"
	# A PATH without any directory holding bindgen, and a HOME without
	# ~/.cargo/bin (lib.sh puts that first on PATH).
	IFS=: read -ra dirs <<<"$PATH"
	for d in "${dirs[@]}"; do
		[ -x "$d/bindgen" ] || path+=${path:+:}$d
	done
	setup_kernel_in "$cache" "bindgen not found" HOME="$home" PATH="$path"
}

case_no-libclang() {
	local cache=$scratch/cache
	mkdir -p "$cache"
	command -v bindgen >/dev/null || { echo "bindgen is not installed; run 'make setup'"; return 1; }
	setup_kernel_in "$cache" "bindgen cannot load libclang" LIBCLANG_PATH=/nonexistent
}

case_disk-full() {
	if [ "$(id -u)" != 0 ]; then
		echo "skipped: mounting a small tmpfs needs root"
		return 77
	fi
	mnt=$scratch/small
	mkdir -p "$mnt"
	if ! mount -t tmpfs -o size=20m tmpfs "$mnt"; then
		mnt=''
		echo "skipped: this machine does not allow mounting a tmpfs"
		return 77
	fi
	setup_kernel_in "$mnt" "not enough disk space"
	umount "$mnt"
	mnt=''
}

case "${1:-}" in
--list)
	printf '%s\n' "${CASES[@]}"
	exit 0
	;;
--case)
	# One case in this process, where set -e holds inside the functions.
	"case_$2"
	exit 0
	;;
esac
[ $# -gt 0 ] || set -- "${CASES[@]}"
rc=0
for c in "$@"; do
	declare -F "case_$c" >/dev/null || die "unknown case '$c' (known: ${CASES[*]})"
	r=0
	"$0" --case "$c" || r=$?
	if [ $r = 0 ]; then
		echo "ok $c"
	elif [ $r = 77 ]; then
		echo "skip $c"
		[ $# != 1 ] || exit 77
	else
		echo "not ok $c"
		rc=1
	fi
done
exit $rc
