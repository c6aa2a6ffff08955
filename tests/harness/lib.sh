# SPDX-License-Identifier: GPL-2.0
#
# Shell helpers of the QEMU test harness: the shared ones of scripts/lib.sh (logging, errors,
# the cached test kernel), which the product scripts use too, and what only tests need.
# Sourced by everything under tests/ that runs on the host, never run.

. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

# rnvme_need_kconfig KDIR OPTION...: a VM test's gate on the kernel it boots. Unless KDIR's
# .config has every CONFIG_OPTION=y, says which it needs and exits 77 (a skip for tests/run.sh).
rnvme_need_kconfig() {
	local kdir=$1 o
	shift
	for o in "$@"; do
		if ! grep -q "^CONFIG_$o=y" "$kdir/.config" 2>/dev/null; then
			echo "skipped: the kernel in $kdir lacks $(printf 'CONFIG_%s=y ' "$@")(the test kernel of 'make setup' has them)"
			exit 77
		fi
	done
}
