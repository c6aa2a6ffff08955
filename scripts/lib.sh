# SPDX-License-Identifier: GPL-2.0
#
# Shared shell helpers for the rust-nvme scripts: logging, errors, and the
# location of the cached test kernel. Sourced, never run; the test harness
# sources it through tests/harness/lib.sh, which adds what only tests need.

RNVME_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RNVME_CACHE=${RNVME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-nvme}
# Kernel version of the test kernel (make KVER=...); the driver builds against each of these.
RNVME_KVERS="7.2 7.3"
RNVME_KVER=${RNVME_KVER:-7.3}
RNVME_LLVM=${RNVME_LLVM:--19}
RNVME_FRAGMENT=${RNVME_FRAGMENT:-$RNVME_ROOT/kernel/config.fragment}
# Kernel variant: empty for the test kernel, "debug" for the one with KASAN, lockdep, ...
RNVME_VARIANT=${RNVME_VARIANT:-}
export PATH="$HOME/.cargo/bin:$PATH"

# die MESSAGE: one line saying what is wrong and what to do, then exit 1.
die() {
	echo "rust-nvme: error: $*" >&2
	exit 1
}

case " $RNVME_KVERS " in
*" $RNVME_KVER "*) ;;
*) die "unknown kernel version KVER=$RNVME_KVER (supported: $RNVME_KVERS)" ;;
esac

# The set-up command for the selected kernel, for messages.
rnvme_setup_cmd() {
	if [ "$RNVME_KVER" = 7.3 ]; then echo "make setup"; else echo "make setup KVER=$RNVME_KVER"; fi
}

say() {
	echo "==> $*"
}

# Runs "$@" as one named step and reports its wall time.
timed() {
	local name=$1 start=$SECONDS
	shift
	say "$name"
	"$@"
	echo "    $name: done in $((SECONDS - start)) s"
}

# The unpacked kernel source tree for RNVME_KVER.
rnvme_srcdir() {
	echo "$RNVME_CACHE/src/linux-source-$RNVME_KVER"
}

# Full version (e.g. 7.3.4) of the cached source tree, or nothing.
rnvme_src_version() {
	local mk
	mk="$(rnvme_srcdir)/Makefile"
	[ -f "$mk" ] || return 0
	awk -F' = ' '/^VERSION =/{v=$2} /^PATCHLEVEL =/{p=$2} /^SUBLEVEL =/{s=$2}
		/^EXTRAVERSION/{exit} END{if (v != "") print v "." p "." s}' "$mk"
}

# The configuration fragments of the selected kernel variant, in merge order.
rnvme_fragments() {
	echo "$RNVME_FRAGMENT"
	case "$RNVME_VARIANT" in
	"") ;;
	debug) echo "$RNVME_ROOT/kernel/debug.fragment" ;;
	*) die "unknown RNVME_VARIANT '$RNVME_VARIANT' (known: debug)" ;;
	esac
}

# Cache key of the test kernel: the fragments, the variant and the Rust
# compiler (an out-of-tree Rust module must be built by the same rustc).
rnvme_config_hash() {
	{
		local f
		for f in $(rnvme_fragments); do cat "$f"; done
		echo "llvm=$RNVME_LLVM"
		rustc --version 2>/dev/null || echo "no rustc"
	} | sha256sum | cut -c1-12
}

# Build directory of the cached test kernel (it may not exist yet).
rnvme_kdir() {
	local ver
	ver=$(rnvme_src_version)
	echo "$RNVME_CACHE/${ver:-$RNVME_KVER}${RNVME_VARIANT:+-$RNVME_VARIANT}-$(rnvme_config_hash)"
}

# Checks that $1 is a kernel build directory an out-of-tree Rust module can
# be built against; prints one line and returns 1 when it is not.
rnvme_check_kdir() {
	local k=$1
	if [ ! -d "$k" ]; then
		echo "KDIR=$k does not exist; run '$(rnvme_setup_cmd)' for the test kernel or pass KDIR=/path/to/your/kernel/build"
		return 1
	fi
	if [ ! -f "$k/Makefile" ] || [ ! -f "$k/.config" ]; then
		echo "KDIR=$k is not a configured kernel build directory (no Makefile or .config); pass the directory you built the kernel in (O=...)"
		return 1
	fi
	if ! grep -q '^CONFIG_RUST=y' "$k/.config"; then
		echo "KDIR=$k is a kernel built without CONFIG_RUST=y; enable Rust support (make LLVM=1 rustavailable, then CONFIG_RUST=y) and rebuild, or use '$(rnvme_setup_cmd)'"
		return 1
	fi
	if grep -q '^CONFIG_PREEMPT_RT=y' "$k/.config"; then
		echo "KDIR=$k is a PREEMPT_RT kernel (CONFIG_PREEMPT_RT=y), which rust_nvme does not support: its queue locks take spinlock_t as a raw spinlock; use a kernel without PREEMPT_RT, or '$(rnvme_setup_cmd)'"
		return 1
	fi
	if [ ! -f "$k/rust/libkernel.rmeta" ] || [ ! -f "$k/Module.symvers" ]; then
		echo "KDIR=$k has CONFIG_RUST=y but no Rust metadata (rust/libkernel.rmeta): headers packages ship none; build the kernel yourself, or use '$(rnvme_setup_cmd)'"
		return 1
	fi
	return 0
}
