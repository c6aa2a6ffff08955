#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make matrix': 'make test' against every supported kernel (RNVME_KVERS in scripts/lib.sh)
# in turn, each with its own logs in build/logs/<version>/, then one summary line per kernel.
# A failing kernel does not stop the next one; the exit status is 1 if any failed.
# T=pattern is passed on to 'make test'.
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"
cd "$RNVME_ROOT"

summary=()
rc=0
for v in $RNVME_KVERS; do
	logdir=$RNVME_ROOT/build/logs/$v
	mkdir -p "$logdir"
	log=$logdir/matrix.log
	say "make test KVER=$v (log: $log)"
	start=$SECONDS
	set +e
	RNVME_LOGDIR=$logdir make --no-print-directory test KVER="$v" 2>&1 | tee "$log"
	r=${PIPESTATUS[0]}
	set -e
	t=$((SECONDS - start))
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1) || true
	skipped=$(grep -E '^\([0-9]+ skipped\)$' "$log" | tail -n1) || true
	[ -n "$line" ] || line="did not finish (exit $r)"
	ver=$(RNVME_KVER=$v rnvme_src_version)
	summary+=("linux ${ver:-$v}: $line${skipped:+ $skipped} in $((t / 60)) min $((t % 60)) s")
	[ "$r" = 0 ] || rc=1
done
say "make matrix"
printf '%s\n' "${summary[@]}"
exit $rc
