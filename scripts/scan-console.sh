#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Scans a guest console log for kernel reports that fail a test whatever
# the test script said: BUG, WARNING, Oops, call traces, KASAN, UBSAN,
# lockdep, RCU stalls, hung tasks, kmemleak reports and panics. Prints the
# matching lines (with line numbers) and exits 1 when there is one.
#
# Usage: scripts/scan-console.sh LOGFILE
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
if hits=$(tr -d '\r' <"$log" | grep -a -n -E "$re" | grep -a -v 'Kernel command line:'); then
	echo "console $log has kernel reports:"
	head -n 20 <<<"$hits" | sed 's/^/    /'
	n=$(wc -l <<<"$hits")
	[ "$n" -le 20 ] || echo "    ... and $((n - 20)) more"
	exit 1
fi
exit 0
