#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The short pass of 'make bench' that 'make test' runs: one round at a fiftieth of the I/Os
# (bench/bench.sh --rounds 1 --scale 0.02, a few minutes). It judges no driver, only the
# harness: the run ends with status 0; its JSON has every job with both drivers on both
# device targets (null_blk: every job but the char-device ones), each with IOPS, latency and
# guest CPU per I/O; no job failed; no idle spinner was left running after a job (the
# leak that halved the IOPS of the 15-row runs until 2026-12-03); the fitted sleep cost is
# absent or positive; the picture was drawn.
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"
cd "$RNVME_ROOT"

export RNVME_LOGDIR=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
out=$RNVME_LOGDIR/bench-smoke
rm -rf "$out"
log=$RNVME_LOGDIR/bench-smoke.out
if ! bench/bench.sh --rounds 1 --scale 0.02 --out "$out" >"$log" 2>&1; then
	tail -n 30 "$log"
	echo "bench-smoke: bench/bench.sh failed (full output: $log)"
	exit 1
fi
json=$(ls "$out"/*.json 2>/dev/null | head -n 1)
[ -n "$json" ] || { echo "bench-smoke: no JSON in $out"; exit 1; }
svg=${json%.json}.svg
[ -s "$svg" ] || { echo "bench-smoke: no picture $svg"; exit 1; }
if grep -q "WARNING" "$log"; then
	grep "WARNING" "$log"
	echo "bench-smoke: the report warned (full output: $log)"
	exit 1
fi
python3 - "$json" <<'EOF'
import json, sys

d = json.load(open(sys.argv[1]))
jobs = list(d["jobs"])
char_jobs = [j for j in jobs if "uring-cmd" in j]
bad = []
for target, drivers, want in (("null-co", ("nvme", "rust_nvme"), jobs),
                              ("ram", ("nvme", "rust_nvme"), jobs),
                              ("null_blk", ("null_blk",), [j for j in jobs if j not in char_jobs])):
    for job in want:
        for drv in drivers:
            rs = [r for r in d["runs"] if r["target"] == target and r["job"] == job and r["driver"] == drv]
            if len(rs) != 1:
                bad.append("%s %s %s: %d runs" % (target, drv, job, len(rs)))
                continue
            r = rs[0]
            if r.get("fio_exit") != 0 or r.get("fio_error"):
                bad.append("%s %s %s: fio exit %s error %s %s" % (target, drv, job, r.get("fio_exit"),
                                                                r.get("fio_error"), r.get("fio_stderr")))
            for k in ("iops", "lat_p99_us", "busy_us_per_io"):
                if not r.get(k) or r[k] <= 0:
                    bad.append("%s %s %s: no %s" % (target, drv, job, k))
            if any("bench-idle" in e for e in r.get("fio_stderr", [])):
                bad.append("%s %s %s: %s" % (target, drv, job, r["fio_stderr"]))
            if target != "null_blk" and r.get("irqs") is None:
                bad.append("%s %s %s: no interrupt count" % (target, drv, job))
s = d.get("sleep_wake_us")
if s is not None and s <= 0:
    bad.append("fitted sleep cost %.2f us is not positive" % s)
for b in bad:
    print("bench-smoke:", b)
if bad:
    sys.exit(1)
print("bench-smoke: %d runs, every job on every target, no spinner left running" % len(d["runs"]))
EOF
