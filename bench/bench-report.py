# SPDX-License-Identifier: GPL-2.0
"""The report of 'make bench' (bench/bench.sh): parses the records the guest script
(bench/bench-guest.sh) printed on the console and the QEMU doorbell traces of one run, writes
OUTDIR/STAMP.json (every run and every metric) and OUTDIR/STAMP.md (the summary tables), and
prints the Markdown.

Usage: python3 bench/bench-report.py CONSOLE TRACEDIR OUTDIR STAMP WALL_SECONDS ROUNDS SCALE
       KERNEL_RELEASE QEMU_VERSION_LINE GIT_REV MODULE_SHA256_16 IO_COUNTS_JSON
"""
import base64, gzip, json, math, os, re, statistics, sys

(console, tracedir, outdir, stamp, wall, rounds, scale, krel, qemu, gitrev, modsum, sizes) = sys.argv[1:]

JOBS = [
    ("randread-4k-qd1", "4k random read, QD1"),
    ("randread-4k-qd32x2", "4k random read, QD32, 1 job per vCPU"),
    ("randwrite-4k-qd32", "4k random write, QD32"),
    ("read-128k-qd8", "128k sequential read, QD8"),
    ("randread-4k-qd1-poll", "4k random read, QD1, polled (io_uring --hipri)"),
    ("randrw70-4k-qd16", "4k random read/write 70/30, QD16"),
    ("randread-512-qd1", "512-byte random read, QD1"),
    ("randread-512-qd32", "512-byte random read, QD32"),
    ("read-64k-qd8", "64k sequential read, QD8"),
    ("write-64k-qd8", "64k sequential write, QD8"),
    ("read-1m-qd4", "1M sequential read, QD4"),
    ("write-1m-qd4", "1M sequential write, QD4"),
    ("randread-4k-qd128x4", "4k random read, QD128, 4 jobs"),
    ("randread-4k-qd16-uring-cmd", "4k random read, QD16, io_uring passthrough (char device)"),
    ("randread-4k-qd1-uring-cmd-poll", "4k random read, QD1, io_uring passthrough, polled"),
]
JOB_DESC = dict(JOBS)


def by_bandwidth(job):
    """Sequential jobs are judged by MiB/s, the others by IOPS."""
    return job.startswith(("read-", "write-"))
TARGETS = [
    ("null-co", "two identical controllers on QEMU null-co (read-zeroes=on), driver roles swapped every round"),
    ("ram", "one controller on a raw 1 GiB image in host RAM (/dev/shm), bound to each driver in turn"),
]
DRIVERS = ("nvme", "rust_nvme")
# key: (description, better: "hi" or "lo")
METRICS = {
    "iops": ("I/Os per second of guest time (reads + writes)", "hi"),
    "mib_s": ("MiB per second of guest time (reads + writes)", "hi"),
    "clat_p50_us": ("completion latency p50 (fio clat: submitted to completed), us", "lo"),
    "clat_p99_us": ("completion latency p99, us", "lo"),
    "lat_p50_us": ("total latency p50 (fio lat: submission started to completed), us", "lo"),
    "lat_p99_us": ("total latency p99, us", "lo"),
    "slow_pct": ("share of I/Os that took 1 ms or more, %", "lo"),
    "cpu_us_per_io": ("fio's usr+sys CPU time per I/O, us", "lo"),
    "busy_us_per_io": ("guest CPU time per I/O on all CPUs (job window minus spinner time), us", "lo"),
    "busy_nosleep_us_per_io": ("busy_us_per_io minus the fitted cost of fio's sleeps (ctx_per_io times "
                               "sleep_wake_us), us", "lo"),
    "irqs_per_io": ("interrupts of the controller per I/O", "lo"),
    "ipis_per_io": ("function-call and reschedule IPIs per I/O (all CPUs)", "lo"),
    "ctx_per_io": ("context switches of the fio job per I/O (it slept waiting for a completion)", "lo"),
    "mmio_reads_per_io": ("MMIO register reads of the controller per I/O", "lo"),
    "sq_db_per_io": ("SQ tail doorbell MMIO writes per I/O (I/O queues)", "lo"),
    "cq_db_per_io": ("CQ head doorbell MMIO writes per I/O (I/O queues)", "lo"),
}


def kv(s):
    return dict(w.split("=", 1) for w in s.split() if "=" in w)


# --- the console records --------------------------------------------------------------
records, cur, guest, dmesg, cal = [], None, {}, [], {}
with open(console, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith("[bench-guest] "):
            head, _, fio_version = line[len("[bench-guest] "):].partition(" fio=")
            guest = kv(head)
            guest["fio"] = fio_version
        elif line.startswith("[bench-cal] "):
            w = line.split()[1:]
            cal[w[0]] = [int(x) for x in w[1:]]
        elif line.startswith("[bench-dmesg] "):
            dmesg.append(line[len("[bench-dmesg] "):])
        elif line.startswith("[bench-job] "):
            cur = {"meta": kv(line[len("[bench-job] "):]), "err": [], "b64": [], "idle": [], "irq": {}}
        elif cur is None:
            continue
        elif line.startswith("[bench-idle] "):
            w = line.split()[1:]
            cur["idle"].append((w[0], [int(x) for x in w[1:]]))
        elif line.startswith("[bench-irq] "):
            w = line.split()[1:]
            cur["irq"][(w[0], w[1])] = [int(x) for x in w[2:]]
        elif line.startswith("[bench-err] "):
            cur["err"].append(line[len("[bench-err] "):])
        elif line.startswith("[bench-b64] "):
            cur["b64"].append(line[len("[bench-b64] "):].strip())
        elif line.startswith("[bench-end] "):
            records.append(cur)
            cur = None
if not records:
    sys.exit("bench: no job records on the console log " + console)
# ns of guest time per spinner loop (icount: 1 ns = 1 instruction).
if "cal-start" not in cal or "cal-end" not in cal:
    sys.exit("bench: no spinner calibration on the console log " + console)
a, b = cal["cal-start"], cal["cal-end"]
NS_PER_LOOP = (b[0] - a[0]) / max(1, sum(b[1:]) - sum(a[1:]))


def doorbells(n):
    """SQ and CQ doorbell writes on I/O queues (qid != 0) and register reads in job n's
    QEMU trace."""
    path = os.path.join(tracedir, "job-%d.log" % n)
    if not os.path.exists(path):
        return None, None, None
    sq = cq = reads = 0
    pat = re.compile(r"pci_nvme_mmio_doorbell_(sq|cq) (?:sq|cq)id (\d+)")
    with open(path, errors="replace") as f:
        for line in f:
            if "pci_nvme_mmio_read" in line:
                reads += 1
                continue
            m = pat.search(line)
            if m and m.group(2) != "0":
                if m.group(1) == "sq":
                    sq += 1
                else:
                    cq += 1
    return sq, cq, reads


def pct(d, kind, p):
    v = (d.get(kind) or {}).get("percentile") or {}
    for k, x in v.items():
        if abs(float(k) - p) < 1e-6:
            return x / 1000.0
    return None


runs = []
for r in records:
    m = r["meta"]
    run = {k: m.get(k) for k in ("target", "driver", "addr", "disk", "job")}
    run["n"], run["round"] = int(m["n"]), int(m["round"])
    run["fio_exit"] = int(m.get("rc", "1"))
    run["fio_stderr"] = [e for e in r["err"] if e.strip()][:5]
    job = None
    if r["b64"]:
        try:
            raw = gzip.decompress(base64.b64decode("".join(r["b64"]))).decode(errors="replace")
            job = json.loads(raw[raw.index("{"):])["jobs"][0]
        except Exception as e:  # a kernel line cut into the block, or no JSON at all
            run["parse_error"] = str(e)
    runs.append(run)
    if not job:
        continue
    rd, wr = job["read"], job["write"]
    ios = rd["total_ios"] + wr["total_ios"]
    run["fio_error"] = job.get("error", 0)
    run["ios"] = ios
    run["runtime_ms"] = max(rd["runtime"], wr["runtime"])
    run["job_runtime_ms"] = job["job_runtime"]
    if run["fio_exit"] != 0 or run["fio_error"] != 0 or ios == 0:
        continue
    main = wr if run["job"].startswith(("randwrite", "write-")) else rd
    run["iops"] = rd["iops"] + wr["iops"]
    run["mib_s"] = (rd["bw_bytes"] + wr["bw_bytes"]) / 1048576.0
    for kind, name in (("clat_ns", "clat"), ("lat_ns", "lat")):
        run[name + "_p50_us"], run[name + "_p99_us"] = pct(main, kind, 50), pct(main, kind, 99)
    if rd["total_ios"] and wr["total_ios"]:
        run["write_clat_p50_us"], run["write_clat_p99_us"] = pct(wr, "clat_ns", 50), pct(wr, "clat_ns", 99)
    run["slow_pct"] = sum(float(v) for v in (job.get("latency_ms") or {}).values())
    run["usr_cpu_pct"], run["sys_cpu_pct"] = job["usr_cpu"], job["sys_cpu"]
    run["ctx"] = job.get("ctx", 0)
    run["ctx_per_io"] = run["ctx"] / ios
    # usr_cpu and sys_cpu are shares of job_runtime (summed over the jobs of a group).
    run["cpu_us_per_io"] = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * job["job_runtime"] * 1000.0 / ios
    pre = [v for t, v in r["idle"] if t.startswith("pre")]
    post = [v for t, v in r["idle"] if t.startswith("post")]
    if pre and post:
        a, b = min(pre, key=lambda v: v[0]), max(post, key=lambda v: v[0])
        idle_ns = NS_PER_LOOP * sum(max(0, y - x) for x, y in zip(a[1:], b[1:]))
        run["window_ms"] = (b[0] - a[0]) / 1e6
        run["idle_ms"] = idle_ns / 1e6
        run["busy_us_per_io"] = max(0.0, b[0] - a[0] - idle_ns) / 1000.0 / ios
    irq = {}
    for (when, name), v in r["irq"].items():
        if when == "after":
            before = r["irq"].get(("before", name), [0] * len(v))
            irq[name] = [y - x for x, y in zip(before, v)]
    run["interrupts_per_cpu"] = irq
    run["ipis_per_io"] = (sum(irq.get("CAL", [])) + sum(irq.get("RES", []))) / ios
    if run["addr"] != "-":
        run["irqs"] = sum(irq.get("ctrl", []))
        run["irqs_per_io"] = run["irqs"] / ios
        sq, cq, reads = doorbells(run["n"])
        if sq is not None:
            run["sq_doorbells"], run["cq_doorbells"], run["mmio_reads"] = sq, cq, reads
            run["sq_db_per_io"], run["cq_db_per_io"] = sq / ios, cq / ios
            run["mmio_reads_per_io"] = reads / ios


# --- medians and ratios -----------------------------------------------------------------
def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    med = statistics.median(vals)
    return {"median": med, "min": min(vals), "max": max(vals), "n": len(vals),
            "spread_pct": (max(vals) - min(vals)) / med * 100.0 if med else 0.0}


def failure(rs):
    bad = [r for r in rs if r.get("iops") is None]
    if not bad:
        return None
    msg = " / ".join(sorted({e for r in bad for e in r["fio_stderr"]})) or "fio exit %d" % bad[0]["fio_exit"]
    return {"failed_rounds": len(bad), "message": msg}


# Each time fio sleeps for a completion (a context switch) the guest pays for the sleep, the
# wake-up and two switches. How often that happens depends on whether QEMU (host time) posted
# the completion before fio asked for it, so it varies between rounds, mostly at QD1. Its cost
# is fitted across rounds (the slope of guest CPU per I/O over context switches per I/O within
# each target, job and driver, pooled) and taken out of busy_nosleep_us_per_io. Only the
# groups that sleep for a good share of their I/Os (SLEEPY_CTX_PER_IO, in practice the
# interrupt-driven QD1 jobs) are fitted: in the others the context switches per I/O barely
# move (0.00 to 0.03) while the guest CPU of a 1M I/O moves by microseconds, and pooling them
# once gave a slope of -34 us. A slope that is not positive is not a cost: then no fit.
SLEEPY_CTX_PER_IO = 0.2


def fit_sleep_cost():
    groups = {}
    for r in runs:
        if r.get("busy_us_per_io") is not None and r.get("ctx_per_io") is not None:
            groups.setdefault((r["target"], r["job"], r["driver"]), []).append(r)
    num = den = 0.0
    for rs in groups.values():
        if len(rs) < 2:
            continue
        mb = sum(r["busy_us_per_io"] for r in rs) / len(rs)
        mc = sum(r["ctx_per_io"] for r in rs) / len(rs)
        if mc < SLEEPY_CTX_PER_IO:
            continue
        for r in rs:
            num += (r["ctx_per_io"] - mc) * (r["busy_us_per_io"] - mb)
            den += (r["ctx_per_io"] - mc) ** 2
    if den <= 1e-4 or num <= 0:
        return None
    return num / den


SLEEP_WAKE_US = fit_sleep_cost()
for r in runs:
    if SLEEP_WAKE_US is not None and r.get("busy_us_per_io") is not None:
        r["busy_nosleep_us_per_io"] = r["busy_us_per_io"] - SLEEP_WAKE_US * r["ctx_per_io"]

summary = {}
for tname in [t for t, _ in TARGETS] + ["null_blk"]:
    summary[tname] = {}
    drivers = DRIVERS if tname != "null_blk" else ("null_blk",)
    for jname, _ in JOBS:
        row = {}
        for drv in drivers:
            rs = [r for r in runs if r["target"] == tname and r["job"] == jname and r["driver"] == drv]
            row[drv] = {"metrics": {k: stats([r.get(k) for r in rs]) for k in METRICS},
                        "failure": failure(rs), "rounds": len(rs)}
        if tname != "null_blk":
            ratio = {}
            for k in METRICS:
                c, rr = row["nvme"]["metrics"][k], row["rust_nvme"]["metrics"][k]
                ratio[k] = rr["median"] / c["median"] if c and rr and c["median"] else None
            row["ratio_rust_over_nvme"] = ratio
        summary[tname][jname] = row


def geomean(vals):
    vals = [v for v in vals if v]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


overall = {}
for tname, _ in TARGETS:
    rows = summary[tname].values()
    overall[tname] = {
        "iops_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["iops"] for r in rows]),
        "cpu_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["busy_us_per_io"] for r in rows]),
        "cpu_nosleep_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["busy_nosleep_us_per_io"] for r in rows]),
        "lat_p50_ratio_geomean": geomean([r["ratio_rust_over_nvme"]["lat_p50_us"] for r in rows]),
    }


# --- Markdown ----------------------------------------------------------------------------
def med(row, drv, k):
    s = row[drv]["metrics"][k]
    return s["median"] if s else None


def fmt_us(v):
    return None if v is None else ("%.1f" % v if v < 100 else "%.0f" % v)


def fmt_n(v, digits=2):
    return None if v is None else "%.*f" % (digits, v)


def fmt_ratio(v):
    return "–" if v is None else "%.2f" % v


def fmt_tp(row, drv, job):
    if by_bandwidth(job):
        v = med(row, drv, "mib_s")
        return None if v is None else "%.0f MiB/s" % v
    v = med(row, drv, "iops")
    return None if v is None else ("%.1fk" % (v / 1000) if v >= 1000 else "%.0f" % v)


def cell(row, drv, job, text):
    """text, or why there is none."""
    if text is not None:
        return text
    if row[drv]["failure"]:
        return "failed"
    return "–"


def pair(row, job, k, f, ratio=True):
    out = [cell(row, d, job, f(med(row, d, k))) for d in DRIVERS]
    if ratio:
        out.append(fmt_ratio(row["ratio_rust_over_nvme"][k]))
    return out


def doorbell_pair(row, d):
    sq, cq = med(row, d, "sq_db_per_io"), med(row, d, "cq_db_per_io")
    return None if sq is None or cq is None else "%.2f + %.2f" % (sq, cq)


def table(head, align, rows):
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"] + \
        ["| " + " | ".join(r) + " |" for r in rows]


wall_s = int(wall)
md = ["# rust_nvme vs nvme: %s" % stamp, "",
      "![rust_nvme's advantage over nvme per job: throughput, guest CPU per I/O, p99 latency; "
      "bars the medians, dots the rounds](%s.svg)" % stamp, ""]
md.append("QEMU %s, TCG with `-icount shift=0,sleep=off` (guest time counts guest instructions, 1 ns each), "
          "2 vCPUs, 1 GiB; guest Linux %s; %s; rust_nvme.ko from `%s` (sha256 %s…). "
          "%s rounds, medians over rounds; `make bench` took %d min %02d s of wall time. "
          "bench/README.md explains every column and what emulation does and does not measure."
          % (qemu.replace("QEMU emulator version ", ""), guest.get("kernel", krel), guest.get("fio", "fio"),
             gitrev, modsum, rounds, wall_s // 60, wall_s % 60))
md.append("")
md.append("Ratios are rust_nvme / nvme: above 1 is better for throughput; below 1 is better for latency, "
          "CPU, interrupts and doorbells. Both drivers run with `poll_queues=1`, which the polled "
          "job uses.")
md.append("")
md.append("Guest CPU per I/O \"without sleeps\" takes out the cost of fio sleeping for a completion "
          "(%s µs of guest CPU per sleep, fitted over the rounds), whose frequency depends on host "
          "timing." % ("–" if SLEEP_WAKE_US is None else "%.2f" % SLEEP_WAKE_US))
md.append("")
md.append("Geometric means of the ratios over the jobs both drivers ran: " + "; ".join(
    "%s: IOPS %s, guest CPU per I/O %s (without sleeps %s), p50 total latency %s" % (
        t, fmt_ratio(o["iops_ratio_geomean"]), fmt_ratio(o["cpu_ratio_geomean"]),
        fmt_ratio(o["cpu_nosleep_ratio_geomean"]), fmt_ratio(o["lat_p50_ratio_geomean"]))
    for t, o in overall.items()) + ".")
R = "--:"
for tname, tdesc in TARGETS:
    md += ["", "## %s: %s" % (tname, tdesc), ""]
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        tk = "mib_s" if by_bandwidth(job) else "iops"
        rows.append([jdesc] + [cell(row, d, job, fmt_tp(row, d, job)) for d in DRIVERS]
                    + [fmt_ratio(row["ratio_rust_over_nvme"][tk])]
                    + pair(row, job, "clat_p50_us", fmt_us) + pair(row, job, "clat_p99_us", fmt_us))
    md += table(["job", "IOPS or MiB/s: nvme", "rust_nvme", "ratio", "clat p50 µs: nvme", "rust_nvme", "ratio",
                 "clat p99 µs: nvme", "rust_nvme", "ratio"], ["---"] + [R] * 9, rows)
    md.append("")
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        rows.append([jdesc] + pair(row, job, "lat_p50_us", fmt_us) + pair(row, job, "lat_p99_us", fmt_us))
    md += table(["job", "lat p50 µs: nvme", "rust_nvme", "ratio", "lat p99 µs: nvme", "rust_nvme", "ratio"],
                ["---"] + [R] * 6, rows)
    md.append("")
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        rows.append([jdesc] + pair(row, job, "busy_us_per_io", lambda v: fmt_n(v, 2))
                    + pair(row, job, "busy_nosleep_us_per_io", lambda v: fmt_n(v, 2))
                    + pair(row, job, "cpu_us_per_io", lambda v: fmt_n(v, 2))
                    + pair(row, job, "ctx_per_io", fmt_n, ratio=False))
    md += table(["job", "guest CPU µs/IO: nvme", "rust_nvme", "ratio", "without sleeps: nvme", "rust_nvme", "ratio",
                 "fio CPU µs/IO: nvme", "rust_nvme", "ratio", "fio sleeps/IO: nvme", "rust_nvme"],
                ["---"] + [R] * 11, rows)
    md.append("")
    rows = []
    for job, jdesc in JOBS:
        row = summary[tname][job]
        rows.append([jdesc] + pair(row, job, "irqs_per_io", fmt_n)
                    + pair(row, job, "sq_db_per_io", fmt_n) + pair(row, job, "cq_db_per_io", fmt_n)
                    + pair(row, job, "mmio_reads_per_io", lambda v: fmt_n(v, 3), ratio=False))
    md += table(["job", "irq/IO: nvme", "rust_nvme", "ratio", "SQ doorbells/IO: nvme", "rust_nvme", "ratio",
                 "CQ doorbells/IO: nvme", "rust_nvme", "ratio", "MMIO reads/IO: nvme", "rust_nvme"],
                ["---"] + [R] * 11, rows)

md += ["", "## null_blk: the no-device ceiling", "",
       "`null_blk queue_mode=2 irqmode=0 submit_queues=%s poll_queues=1`: requests complete inside "
       "submission, with no device, no interrupt and no doorbell." % guest.get("ncpu", "?"), ""]
rows = []
for job, jdesc in JOBS:
    row = summary["null_blk"][job]
    rows.append([jdesc, cell(row, "null_blk", job, fmt_tp(row, "null_blk", job))]
                + [cell(row, "null_blk", job, fmt_us(med(row, "null_blk", k)))
                   for k in ("clat_p50_us", "clat_p99_us", "lat_p50_us", "lat_p99_us")]
                + [cell(row, "null_blk", job, fmt_n(med(row, "null_blk", k)))
                   for k in ("busy_us_per_io", "busy_nosleep_us_per_io", "cpu_us_per_io")])
md += table(["job", "IOPS or MiB/s", "clat p50 µs", "clat p99 µs", "lat p50 µs", "lat p99 µs",
             "guest CPU µs/IO", "without sleeps", "fio CPU µs/IO"], ["---"] + [R] * 8, rows)

md += ["", "## Spread across rounds", "",
       "(max - min) / median over the rounds, of IOPS / guest CPU per I/O / guest CPU per I/O without "
       "sleeps: how far the rounds agree.", ""]
cols = [(t, d) for t, _ in TARGETS for d in DRIVERS] + [("null_blk", "null_blk")]
rows = []
for job, jdesc in JOBS:
    cells = [jdesc]
    for t, d in cols:
        m = summary[t][job][d]["metrics"]
        a, b, c = m["iops"], m["busy_us_per_io"], m["busy_nosleep_us_per_io"]
        cells.append("–" if not a else "%.0f%% / %.1f%% / %s" % (
            a["spread_pct"], b["spread_pct"], "–" if not c else "%.1f%%" % c["spread_pct"]))
    rows.append(cells)
md += table(["job"] + ["%s %s" % (t, d) if t != d else t for t, d in cols], ["---"] + [R] * len(cols), rows)

fails = sorted({(t, j, d, row[d]["failure"]["message"]) for t in summary for j, row in summary[t].items()
                for d in row if d in DRIVERS + ("null_blk",) and row[d]["failure"]})
if fails:
    md += ["", "## Jobs that did not run", ""]
    for t, j, d, msg in fails:
        md.append("- %s, %s, %s: `%s`" % (t, d, j, msg))
md.append("")

result = {
    "schema": "rust-nvme-bench/1",
    "stamp": stamp,
    "wall_seconds": wall_s,
    "rounds": int(rounds),
    "scale": float(scale),
    "io_counts": json.loads(sizes),
    "qemu": {"version": qemu, "accel": "tcg", "icount": "shift=0,sleep=off", "smp": 2, "mem": "1G",
             "null_co": "driver=null-co,read-zeroes=on,size=2G",
             "ram_image": "raw, 1 GiB in /dev/shm (tmpfs), cache=writeback, aio=threads"},
    "guest": guest,
    "kernel_release": krel,
    "module": {"git": gitrev, "sha256_16": modsum},
    "drivers": {"nvme": "insmod nvme.ko poll_queues=1", "rust_nvme": "insmod rust_nvme.ko poll_queues=1",
                "null_blk": "queue_mode=2 irqmode=0 submit_queues=NCPU poll_queues=1 gb=2 hw_queue_depth=1024"},
    "jobs": JOB_DESC,
    "metrics": {k: {"meaning": v[0], "better": "higher" if v[1] == "hi" else "lower"} for k, v in METRICS.items()},
    "ns_per_spinner_loop": NS_PER_LOOP,
    "sleep_wake_us": SLEEP_WAKE_US,
    "probe_messages": dmesg,
    "overall": overall,
    "summary": summary,
    "runs": runs,
}
os.makedirs(outdir, exist_ok=True)
base = os.path.join(outdir, stamp)
with open(base + ".json.tmp", "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
with open(base + ".md.tmp", "w") as f:
    f.write("\n".join(md))
os.rename(base + ".json.tmp", base + ".json")
os.rename(base + ".md.tmp", base + ".md")
print("\n".join(md))
leaked = [r for r in runs if any("bench-idle: killed" in e for e in r["fio_stderr"])]
if leaked:
    print("bench: WARNING: %d job(s) ended with an idle spinner left running (bench-idle); the guest time of "
          "the jobs after them until then was shared with it: %s" % (len(leaked), ", ".join(
              "round %s %s %s %s" % (r["round"], r["target"], r["driver"], r["job"]) for r in leaked)))
print("bench: results in %s.json and %s.md" % (os.path.relpath(base), os.path.relpath(base)))
