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
# or "vmalloc error" just above it and warn_alloc() just below it. Every other report, and
# any warning inside such a failure path, still fails the run.
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
	awk -v file="$log" 'BEGIN { while ((getline l < file) > 0) { gsub(/\r/, "", l); line[++n] = l } }
		{
			i = substr($0, 1, index($0, ":") - 1) + 0
			if (line[i] ~ /Call Trace:/) {
				above = 0; below = 0
				for (k = i - 4; k < i; k++) if (k > 0 && line[k] ~ /page allocation failure|vmalloc error:/) above = 1
				for (k = i + 1; k <= i + 4 && k <= n; k++) if (line[k] ~ /warn_alloc\+/) below = 1
				if (above && below) next
			}
			print
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
