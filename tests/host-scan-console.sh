#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side test of tests/harness/scan-console.sh, the check that fails a VM test on any kernel
# report: each report it may excuse (tests/fixtures/console, copied from real guest consoles)
# fails without its option, passes with it, and still fails when it is altered to name a
# driver frame, another task or another lock, or when a plain warning sits beside it.
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"

fx=$RNVME_ROOT/tests/fixtures/console
scan=$RNVME_ROOT/tests/harness/scan-console.sh
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-scan.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
bad=0

# expect RC NAME FILE [VAR=VALUE...]: scan-console.sh on FILE, with the variables set,
# must exit with RC.
expect() {
	local want=$1 name=$2 file=$3 rc=0
	shift 3
	env RNVME_ALLOW_ALLOC_WARN=0 RNVME_ALLOW_PCIEHP_LOCKDEP=0 "$@" "$scan" "$file" >"$scratch/out" 2>&1 || rc=$?
	if [ "$rc" = "$want" ]; then
		echo "ok   $name (exit $rc)"
	else
		echo "FAIL $name: exit $rc, want $want"
		sed 's/^/     /' "$scratch/out"
		bad=1
	fi
}

# variant NAME SED FILE: FILE with one sed edit, which must change it.
variant() {
	sed "$2" "$3" >"$scratch/$1.log"
	! cmp -s "$3" "$scratch/$1.log" || die "variant $1: '$2' changed nothing in $3"
	echo "$scratch/$1.log"
}

hp=$fx/pciehp-lockdep.log
expect 1 "pciehp lockdep report, no option" "$hp"
expect 0 "pciehp lockdep report, --allow-pciehp-lockdep" "$hp" RNVME_ALLOW_PCIEHP_LOCKDEP=1
expect 1 "pciehp lockdep report, only --allow-alloc-warnings" "$hp" RNVME_ALLOW_ALLOC_WARN=1
expect 1 "pciehp report with a driver frame in a dependency chain" \
	"$(variant hp-driver 's|pciehp_disable_slot+0x62/0x230|rnvme_remove+0x62/0x230|' "$hp")" RNVME_ALLOW_PCIEHP_LOCKDEP=1
expect 1 "the same report from a workqueue task" \
	"$(variant hp-task 's|irq/24-pciehp/36 is trying|kworker/0:1/36 is trying|' "$hp")" RNVME_ALLOW_PCIEHP_LOCKDEP=1
expect 1 "the same task and function with another lock" \
	"$(variant hp-lock 's|(&ctrl->reset_lock){.+.+}-{4:4}, at: pciehp_unconfigure_device|(\&q->debugfs_mutex){.+.+}-{4:4}, at: pciehp_unconfigure_device|' "$hp")" RNVME_ALLOW_PCIEHP_LOCKDEP=1
expect 1 "the same report cut off before its stack" \
	"$(variant hp-cut '/<\/TASK>/d' "$hp")" RNVME_ALLOW_PCIEHP_LOCKDEP=1
expect 1 "a plain WARNING after the excused report" \
	"$(variant hp-more '$a [   99.000000] WARNING: drivers/block/foo.c:12 at foo+0x1/0x2' "$hp")" RNVME_ALLOW_PCIEHP_LOCKDEP=1

wa=$fx/warn-alloc.log
expect 1 "warn_alloc report, no option" "$wa"
expect 0 "warn_alloc report, --allow-alloc-warnings" "$wa" RNVME_ALLOW_ALLOC_WARN=1
expect 1 "warn_alloc report, only --allow-pciehp-lockdep" "$wa" RNVME_ALLOW_PCIEHP_LOCKDEP=1
expect 1 "a call trace without warn_alloc below it" \
	"$(variant wa-frame 's|warn_alloc+0xda/0xf0|kmalloc_trace+0xda/0xf0|' "$wa")" RNVME_ALLOW_ALLOC_WARN=1
expect 1 "a call trace without the allocation failure above it" \
	"$(variant wa-head 's|vmalloc error: size|vmalloc: size|' "$wa")" RNVME_ALLOW_ALLOC_WARN=1

printf '[    1.0] nvme nvme0: 2/0/0 default/read/poll queues\n[    2.0] Kernel command line: hung_task_panic=1\n' >"$scratch/clean.log"
expect 0 "a clean console (the command line may name hung_task)" "$scratch/clean.log"
expect 1 "a KASAN report" "$(variant kasan '$a [    3.0] BUG: KASAN: slab-use-after-free in foo+0x1/0x2' "$scratch/clean.log")" \
	RNVME_ALLOW_ALLOC_WARN=1 RNVME_ALLOW_PCIEHP_LOCKDEP=1

[ $bad = 0 ] || die "scan-console.sh does not behave as above"
echo "scan-console.sh: every case as expected"
