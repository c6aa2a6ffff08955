#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Scans a guest console log for kernel reports that fail a test whatever
# the test script said: BUG, WARNING, Oops, call traces, KASAN, UBSAN,
# lockdep, RCU stalls, hung tasks, kmemleak reports and panics. Prints the
# matching lines (with line numbers) and exits 1 when there is one.
#
# Usage: tests/harness/scan-console.sh LOGFILE
#
# RNVME_ALLOW_ALLOC_WARN=1 (vm.sh --allow-alloc-warnings, for tests that inject allocation
# failures on purpose) excuses one kind of call trace: the kernel's own report of a failed
# allocation made without __GFP_NOWARN, i.e. a "Call Trace:" with "page allocation failure"
# or "vmalloc error" just above it and warn_alloc() just below it; and a kernel bug that
# such failures reach in Linux 7.3: SRCU's warning when blk_mq_alloc_tag_set() cleans up
# after failing to allocate its request maps (right after "blk-mq: failed to allocate
# request map", with blk_mq_alloc_tag_set as the first frame). Every other report still
# fails the run.
#
# RNVME_ALLOW_PCIEHP_LOCKDEP=1 (vm.sh --allow-pciehp-lockdep, for surprise-removal tests on
# the lockdep kernel) excuses one lockdep report that Linux 7.3's PCIe hot-plug driver makes
# on every surprise removal, whichever NVMe driver is bound (the C nvme driver gets the same
# one): pciehp_unconfigure_device() holds pci_rescan_remove_lock while it drops and retakes
# ctrl->reset_lock, which pciehp_ist() takes before pci_rescan_remove_lock. Excused only when
# the reporting task is an irq/N-pciehp thread, both locks are named at
# pciehp_unconfigure_device, and every frame of both dependency chains is pciehp, the IRQ
# thread or lock internals: a chain through any driver still fails. lockdep turns itself off
# after the report, so the rest of such a run is not checked for locking.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# = 1 ] || die "usage: tests/harness/scan-console.sh LOGFILE"
log=$1
[ -f "$log" ] || die "console log $log does not exist"

patterns=(
	'BUG:'
	'WARNING:'
	'Oops'
	'Call Trace'
	'KASAN'
	'UBSAN'
	'possible circular locking'
	'possible recursive locking'
	'INFO: rcu'
	'rcu_.* self-detected stall'
	'hung_task'
	'blocked for more than'
	'suspected memory leak'
	'Kernel panic'
	'general protection fault'
)
re=$(
	IFS='|'
	echo "${patterns[*]}"
)

# The kernel echoes its command line, which may name hung_task or oops
# options: never a report.
# excuse_known: drops, from "N:line" hits on stdin, the kernel's own reports that the
# options above excuse.
excuse_known() {
	if [ "${RNVME_ALLOW_ALLOC_WARN:-0}" != 1 ] && [ "${RNVME_ALLOW_PCIEHP_LOCKDEP:-0}" != 1 ]; then
		cat
		return
	fi
	awk -v file="$log" -v alloc="${RNVME_ALLOW_ALLOC_WARN:-0}" \
		-v pciehp="${RNVME_ALLOW_PCIEHP_LOCKDEP:-0}" 'BEGIN {
			while ((getline l < file) > 0) { gsub(/\r/, "", l); line[++n] = l }
			for (i = 1; i <= n; i++) {
				if (pciehp == 1 && line[i] ~ /WARNING: possible circular locking dependency detected/)
					pciehp_report(i)
				if (alloc != 1)
					continue
				# warn_alloc: the allocation failure header above, warn_alloc+ below.
				if (line[i] ~ /Call Trace:/) {
					above = 0; below = 0
					for (k = i - 4; k < i; k++) if (k > 0 && line[k] ~ /page allocation failure|vmalloc error:/) above = 1
					for (k = i + 1; k <= i + 4 && k <= n; k++) if (line[k] ~ /warn_alloc\+/) below = 1
					if (above && below) ok[i] = 1
				}
				# Linux 7.3 blk_mq_alloc_tag_set(): when its request maps fail to allocate, it
				# cleans up tags_srcu without an srcu_barrier() and SRCU warns. Excused only
				# right after "blk-mq: failed to allocate request map", with
				# blk_mq_alloc_tag_set as the first frame of the trace.
				if (line[i] ~ /WARNING: kernel\/rcu\/srcutree\.c:[0-9]+ at cleanup_srcu_struct/) {
					prev = 0
					for (k = i - 3; k < i; k++) if (k > 0 && line[k] ~ /blk-mq: failed to allocate request map/) prev = 1
					for (j = i + 1; j <= i + 30 && j <= n; j++) if (line[j] ~ /Call Trace:/) break
					frame = 0
					for (k = j + 1; k <= j + 3 && k <= n; k++) if (line[k] ~ /blk_mq_alloc_tag_set\+/) frame = 1
					if (prev && frame) { ok[i] = 1; ok[j] = 1 }
				}
			}
		}
		# pciehp_report(i): marks the lockdep report starting at line i as excused when it is
		# the reset_lock / pci_rescan_remove_lock inversion of pciehp_unconfigure_device().
		function pciehp_report(i,    k, end, ct, task, want, held, chain, bad, f) {
			end = 0
			for (k = i + 1; k <= i + 150 && k <= n; k++) if (line[k] ~ /<\/TASK>/) { end = k; break }
			if (!end) return
			task = 0; want = 0; held = 0; chain = 0; bad = 0; ct = 0
			for (k = i + 1; k < end; k++) {
				if (line[k] ~ /irq\/[0-9]+-pciehp\/[0-9]+ is trying to acquire lock:/) task = 1
				if (line[k] ~ /\(&ctrl->reset_lock\).* at: pciehp_unconfigure_device\+/) want = 1
				if (line[k] ~ /\(pci_rescan_remove_lock\).* at: pciehp_unconfigure_device\+/) held = 1
				if (line[k] ~ /the existing dependency chain/) chain = 1
				else if (line[k] ~ /other info that might help/) chain = 0
				else if (chain && line[k] ~ /^\[ *[0-9.]+\] +[A-Za-z_][A-Za-z0-9_.]*\+0x/) {
					f = line[k]
					sub(/^\[ *[0-9.]+\] +/, "", f)
					sub(/\+0x.*/, "", f)
					if (f !~ /^(pciehp_[a-z_]+|irq_thread|irq_thread_fn|kthread|ret_from_fork|ret_from_fork_asm|__mutex_lock|mutex_lock_nested|__lock_acquire|lock_acquire|down_read_nested)$/) bad = 1
				}
				if (line[k] ~ /Call Trace:/) ct = k
			}
			if (task && want && held && !bad && ct) { ok[i] = 1; ok[ct] = 1 }
		}
		{
			i = substr($0, 1, index($0, ":") - 1) + 0
			if (!(i in ok)) print
		}'
}

hits=$(tr -d '\r' <"$log" | grep -a -n -E "$re" | grep -a -v 'Kernel command line:' || true)
if [ -n "$hits" ]; then
	hits=$(excuse_known <<<"$hits") || die "could not filter the reports of $log"
fi
if [ -n "$hits" ]; then
	echo "console $log has kernel reports:"
	head -n 20 <<<"$hits" | sed 's/^/    /'
	n=$(wc -l <<<"$hits")
	[ "$n" -le 20 ] || echo "    ... and $((n - 20)) more"
	exit 1
fi
exit 0
