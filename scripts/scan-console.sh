#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Scans a guest console log for kernel reports that fail a test whatever
# the test script said: BUG, WARNING, Oops, call traces, KASAN, UBSAN,
# lockdep, RCU stalls, hung tasks, kmemleak reports and panics. Prints the
# matching lines (with line numbers) and exits 1 when there is one.
#
# Usage: scripts/scan-console.sh LOGFILE
#
# RNVME_ALLOW_ALLOC_WARN=1 (vm.sh --allow-alloc-warnings, for tests that inject allocation
# failures on purpose) excuses one kind of call trace: the kernel's own report of a failed
# allocation made without __GFP_NOWARN, i.e. a "Call Trace:" with "page allocation failure"
# or "vmalloc error" just above it and warn_alloc() just below it; and a kernel bug that
# such failures reach in Linux 7.3: SRCU's warning when blk_mq_alloc_tag_set() cleans up
# after failing to allocate its request maps (right after "blk-mq: failed to allocate
# request map", with blk_mq_alloc_tag_set as the first frame). Every other report still
# fails the run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# = 1 ] || die "usage: scripts/scan-console.sh LOGFILE"
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
# excuse_alloc_warn: drops, from "N:line" hits on stdin, the call traces of warn_alloc().
excuse_alloc_warn() {
	if [ "${RNVME_ALLOW_ALLOC_WARN:-0}" != 1 ]; then
		cat
		return
	fi
	awk -v file="$log" 'BEGIN {
			while ((getline l < file) > 0) { gsub(/\r/, "", l); line[++n] = l }
			for (i = 1; i <= n; i++) {
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
		{
			i = substr($0, 1, index($0, ":") - 1) + 0
			if (!(i in ok)) print
		}'
}

hits=$(tr -d '\r' <"$log" | grep -a -n -E "$re" | grep -a -v 'Kernel command line:' || true)
if [ -n "$hits" ]; then
	hits=$(excuse_alloc_warn <<<"$hits") || die "could not filter the reports of $log"
fi
if [ -n "$hits" ]; then
	echo "console $log has kernel reports:"
	head -n 20 <<<"$hits" | sed 's/^/    /'
	n=$(wc -l <<<"$hits")
	[ "$n" -le 20 ] || echo "    ... and $((n - 20)) more"
	exit 1
fi
exit 0
