#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make test': set-up, host tests, module build, clippy, rustfmt, the
# bad-input tests and every VM test (tests/vm/t-*.sh), one "PASS name (Ns)"
# or "FAIL name" line each, and last of all one "N passed, N failed" line.
# A failing step does not stop the later ones. T=pattern (make test
# T=pattern) runs only the tests whose name contains pattern; setup and
# build always run, the VM tests need them. See tests/README.md.
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"
cd "$RNVME_ROOT"

export RNVME_LOGDIR=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
outdir=$RNVME_LOGDIR/run
filter=${T:-}

# --- test bodies, each run in its own process (so set -e holds) ---------------

body_setup() {
	scripts/setup.sh
}

body_host() {
	[ -f tests/host/Cargo.toml ] || { echo "tests/host/Cargo.toml does not exist yet"; return 1; }
	cargo test --manifest-path tests/host/Cargo.toml
}

# The module checks need the driver's source; before it exists they skip.
need_driver() {
	[ -f rust_nvme.rs ] || { echo "skipped: no rust_nvme.rs yet"; exit 77; }
}

body_build() {
	need_driver
	make
}

body_clippy() {
	need_driver
	make clippy
}

body_fmt() {
	need_driver
	make fmt FMT_CHECK=1
}

if [ "${1:-}" = --body ]; then
	"body_$2"
	exit 0
fi

# --- the runner -----------------------------------------------------------------

passed=0 failed=0 skipped=0 failures=()
mkdir -p "$outdir"

# run_test [--always] [--live] NAME CMD...: runs CMD as test NAME, output
# to $outdir/NAME.out (and to the terminal, indented, with --live).
run_test() {
	local always=0 live=0 name out start rc=0
	while :; do
		case "$1" in
		--always) always=1; shift ;;
		--live) live=1; shift ;;
		*) break ;;
		esac
	done
	name=$1
	shift
	if [ $always = 0 ] && [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then
		return 0
	fi
	out=$outdir/${name//\//-}.out
	start=$SECONDS
	if [ $live = 1 ] || [ "${V:-0}" = 1 ]; then
		set +e
		"$@" </dev/null 2>&1 | tee "$out" | sed 's/^/    /'
		rc=${PIPESTATUS[0]}
		set -e
	else
		"$@" </dev/null >"$out" 2>&1 || rc=$?
	fi
	LAST_RC=$rc
	case $rc in
	0)
		echo "PASS $name ($((SECONDS - start))s)"
		passed=$((passed + 1))
		;;
	77)
		echo "SKIP $name ($(tail -n 1 "$out"))"
		skipped=$((skipped + 1))
		;;
	*)
		echo "FAIL $name"
		if [ $live = 0 ] && [ "${V:-0}" != 1 ]; then
			tail -n 30 "$out" | sed 's/^/    /'
		fi
		echo "    after $((SECONDS - start))s; full output: $out"
		failed=$((failed + 1))
		failures+=("$name")
		;;
	esac
}

body() {
	"$0" --body "$@"
}

[ -z "$filter" ] || echo "only tests matching '$filter' (setup and build always run)"
run_test --always --live setup body setup
run_test host body host
run_test --always build body build
# A failed build must not let the VM tests boot a stale rust_nvme.ko.
[ "$LAST_RC" = 0 ] || export RNVME_MODULE=none
run_test clippy body clippy
run_test fmt body fmt
run_test imports tests/host-imports.sh
for c in $(tests/host-bad-input.sh --list); do
	run_test "bad-input/$c" tests/host-bad-input.sh "$c"
done
run_test scan-console tests/host-scan-console.sh
run_test dkms tests/host-dkms.sh
run_test bench-smoke tests/host-bench-smoke.sh
for t in tests/vm/t-*.sh; do
	[ -e "$t" ] || continue
	n=${t##*/}
	run_test "vm/${n%.sh}" "$t"
done

[ ${#failures[@]} = 0 ] || echo "failed: ${failures[*]}"
[ $skipped = 0 ] || echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
