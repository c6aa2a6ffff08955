#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# The picture of a 'make bench' result: bench/bench-picture.py RESULT.json [OUT.svg]
# (default: the JSON's name with .svg). One panel per target; in each, one group of bars per
# job: throughput (IOPS, or MiB/s for sequential jobs), guest CPU per I/O and p99 total
# latency, each as rust_nvme's advantage over the C driver (C at 1.0; right of 1.0 is ours
# better: our throughput over C's, C's CPU and latency over ours). The bar is the median over
# the rounds, each dot one round's ratio, so the spread shows. Standard library only.

import json, os, re, sys
from xml.sax.saxutils import escape

MEASURES = [
    # (key, label, colour, ours better when higher)
    ("tp", "throughput (IOPS or MiB/s)", "#4477aa", True),
    ("busy_us_per_io", "guest CPU per I/O", "#ee6677", False),
    ("lat_p99_us", "p99 latency", "#228833", False),
]


def qemu_version(res):
    v = res.get("qemu", {}).get("version", "?")
    m = re.search(r"version (\S+)", v)
    return "QEMU " + (m.group(1) if m else v)


def by_bandwidth(job):
    return job.startswith(("read-", "write-"))


def value(run, key, job):
    if key == "tp":
        key = "mib_s" if by_bandwidth(job) else "iops"
    return run.get(key)


def advantage(ours, c, higher):
    if not ours or not c:
        return None
    return ours / c if higher else c / ours


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(src)[0] + ".svg"
    with open(src) as f:
        res = json.load(f)
    jobs = list(res["jobs"].items())
    targets = [t for t in res["summary"] if t != "null_blk"]
    runs = res["runs"]

    # per (target, job, measure): median ratio and the rounds' ratios
    data = {}
    for t in targets:
        for job, _ in jobs:
            for key, _, _, higher in MEASURES:
                per_round = {}
                for r in runs:
                    if r["target"] == t and r["job"] == job:
                        per_round.setdefault(r["round"], {})[r["driver"]] = value(r, key, job)
                dots = [advantage(d.get("rust_nvme"), d.get("nvme"), higher) for d in per_round.values()]
                dots = [d for d in dots if d is not None]
                row = res["summary"][t][job]
                mk = "mib_s" if key == "tp" and by_bandwidth(job) else ("iops" if key == "tp" else key)
                med = [(row.get(d) or {}).get("metrics", {}).get(mk) for d in ("rust_nvme", "nvme")]
                bar = advantage(*(m["median"] if m else None for m in med), higher)
                data[t, job, key] = (bar, dots)

    vals = [v for b, ds in data.values() for v in ([b] if b else []) + ds]
    # A readable axis: at most 0.75 to 1.25; what lies beyond is drawn at the edge as a
    # triangle pointing out (a p99 latency can be twice as long in one round).
    lo = max(0.75, min(vals + [0.95]) - 0.02)
    hi = min(1.25, max(vals + [1.05]) + 0.02)
    step = 0.05

    label_w, plot_w, right = 390, 560, 30
    width = label_w + plot_w + right
    bar_h, gap, group_gap = 7, 2, 10
    group_h = len(MEASURES) * (bar_h + gap) + group_gap

    def x(v):
        v = min(max(v, lo), hi)
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = []
    y = 20
    title = "rust_nvme against the C nvme driver: %s rounds, %s" % (res.get("rounds", "?"), res.get("stamp", ""))
    parts.append('<text x="10" y="%d" font-size="14" font-weight="bold">%s</text>' % (y, escape(title)))
    y += 18
    parts.append('<text x="10" y="%d" font-size="11">Linux %s, %s under icount. Bars: the median ratio over '
                 'the rounds; dots: each round (triangles: beyond the axis).</text>' % (
                     y, escape(res.get("kernel_release", "?")), escape(qemu_version(res))))
    y += 15
    parts.append('<text x="10" y="%d" font-size="11">Right of 1.0, rust_nvme is better: more throughput, less '
                 'guest CPU per I/O, shorter p99 latency.</text>' % y)
    y += 18
    lx = 10
    for _, label, colour, _ in MEASURES:
        parts.append('<rect x="%d" y="%d" width="12" height="10" fill="%s"/>' % (lx, y - 9, colour))
        parts.append('<text x="%d" y="%d" font-size="11">%s</text>' % (lx + 16, y, escape(label)))
        lx += 30 + 7 * len(label)
    y += 16
    for t in targets:
        top = y
        parts.append('<text x="10" y="%d" font-size="13" font-weight="bold">%s</text>' % (y + 12, escape(t)))
        y += 22
        grid_top = y
        for job, desc in jobs:
            parts.append('<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>' % (
                label_w - 8, y + group_h // 2, escape(desc)))
            for i, (key, _, colour, _) in enumerate(MEASURES):
                by = y + i * (bar_h + gap)
                bar, dots = data[t, job, key]
                if bar is not None:
                    x0, x1 = sorted((x(1.0), x(bar)))
                    parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.75">'
                                 '<title>%s, %s: %.3f</title></rect>' % (
                                     x0, by, max(x1 - x0, 0.5), bar_h, colour, escape(desc), key, bar))
                for d in dots:
                    cy = by + bar_h / 2
                    if lo <= d <= hi:
                        parts.append('<circle cx="%.1f" cy="%.1f" r="2" fill="black"/>' % (x(d), cy))
                    else:
                        e, s = (x(hi), 1) if d > hi else (x(lo), -1)
                        parts.append('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="black">'
                                     '<title>%.3f</title></polygon>' % (
                                         e - 5 * s, cy - 3.5, e - 5 * s, cy + 3.5, e, cy, d))
            y += group_h
        v = lo - (lo % step) + step
        while v < hi:
            parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>' % (
                x(v), grid_top - 4, x(v), y, "black" if abs(v - 1.0) < 1e-9 else "#cccccc",
                "1.2" if abs(v - 1.0) < 1e-9 else "0.5"))
            parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%.2f</text>' % (x(v), y + 12, v))
            v += step
        y += 26
        del top
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (width, y),
           '<rect width="100%" height="100%" fill="white"/>'] + parts + ["</svg>", ""]
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(svg))
    os.rename(out + ".tmp", out)
    print("bench: picture in %s" % os.path.relpath(out))


main()
