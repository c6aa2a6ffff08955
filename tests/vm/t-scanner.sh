#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The harness's verdicts: a clean guest passes; a guest whose console shows
# a kernel "WARNING:" fails, and vm.sh names the line; a guest script that
# fails makes vm.sh fail, and passes under --expect-fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "== $*"; }

say "a clean run passes"
tests/harness/vm.sh --name scanner-clean - <<<'log "nothing to see"'

say "a WARNING on the console fails the run and is named"
rc=0
out=$(tests/harness/vm.sh --name scanner-warning - 2>&1 <<'GUEST'
echo "WARNING: CPU: 0 PID: 1 at fake/rnvme.c:1 rnvme_fake_warning" >/dev/kmsg
echo "WARNING: from the console too"
GUEST
) || rc=$?
echo "$out"
[ $rc != 0 ] || { echo "vm.sh passed a run with a WARNING line"; exit 1; }
grep -q 'WARNING: CPU: 0 PID: 1 at fake/rnvme.c:1' <<<"$out" ||
	{ echo "vm.sh did not name the WARNING line"; exit 1; }

say "a failing guest script fails the run"
rc=0
out=$(tests/harness/vm.sh --name scanner-guest-fail - 2>&1 <<<'fail "deliberate failure"') || rc=$?
echo "$out"
[ $rc != 0 ] || { echo "vm.sh passed a guest script that failed"; exit 1; }
grep -q 'RNVME-FAIL: deliberate failure' <<<"$out" ||
	{ echo "vm.sh did not show the guest's RNVME-FAIL line"; exit 1; }

say "--expect-fail passes a failing guest script"
tests/harness/vm.sh --name scanner-expect-fail --expect-fail - <<<'fail "deliberate failure"'
say "all verdicts as expected"
