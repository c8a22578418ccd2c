#!/usr/bin/env python3
"""Draws the numbers of bench/scale.sh as an SVG line chart.

    bench/chart.py [CSV] [SVG] [NOTE]

CSV defaults to target/bench/scale.csv, SVG to docs/scale.svg; NOTE, a line
under the title (the machine, the library's commit), to none.

x: the tree size N (members), on a log2 axis. y: the cost in microseconds,
on a log10 axis: per member for start, claim, idle CPU (us of CPU per second
of wall time) and leave; per call for `throttle info` (the whole ledger).
One colour per cost; solid lines with the library, dashed without it.
Values that are missing or not above zero (the plain members' idle CPU is
0) cannot sit on a log axis and are not drawn; the chart's note says which.

Plain Python 3, no dependencies: the SVG is written by hand.
"""

import csv
import math
import os
import sys
from xml.sax.saxutils import escape

# cost name in the CSV -> (label, colour); the order of the legend
COSTS = [
    ("start", "fork to ready: join, claim, a thread", "#1f77b4"),
    ("claim", "first sysconf (joins share, census)", "#d62728"),
    ("claim_cpu", "  the same, CPU on its own thread", "#8c564b"),
    ("join_cpu", "CPU per member until all joined", "#17becf"),
    ("idle_cpu", "CPU time per second while idle", "#2ca02c"),
    ("leave", "all told to exit: per member", "#9467bd"),
    ("info", "`throttle info`: one call", "#ff7f0e"),
]
SUFFIX = {"idle_cpu": "/s"}
TO_US = {"us": 1.0, "us_cpu_per_s": 1.0, "ms": 1000.0}

W, H = 1000, 600
LEFT, RIGHT, TOP, BOTTOM = 90, 320, 70, 80  # plot margins; the legend goes right


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read(path):
    """{(cost, 'library'|'no_library'): {n: us}} and the set of N."""
    series, ns = {}, set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            n = int(row["n"])
            ns.add(n)
            scale = TO_US.get(row["unit"], 1.0)
            for column in ("library", "no_library"):
                v = number(row.get(column))
                if v is not None:
                    series.setdefault((row["cost"], column), {})[n] = v * scale
    return series, sorted(ns)


def fmt_us(v):
    """1, 10, 100, 1 ms, 10 ms, 1 s ..."""
    if v >= 1e6:
        return f"{v / 1e6:.3g} s"
    if v >= 1e3:
        return f"{v / 1e3:.3g} ms"
    return f"{v:.3g} us"


def chart(series, ns, title, note=""):
    out = []
    add = out.append
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    positive = [v for s in series.values() for v in s.values() if v > 0]
    if not positive or not ns:
        raise SystemExit("chart.py: nothing to draw")
    lo = 10 ** math.floor(math.log10(min(positive)))
    hi = 10 ** math.ceil(math.log10(max(positive)))
    if hi <= lo:
        hi = lo * 10
    x_lo, x_hi = math.log2(ns[0]), math.log2(ns[-1])
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1

    def x(n):
        return LEFT + (math.log2(n) - x_lo) / (x_hi - x_lo) * pw

    def y(v):
        return TOP + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">')
    add(f'<rect width="{W}" height="{H}" fill="white"/>')
    add(f'<text x="{LEFT}" y="28" font-size="18" font-weight="bold">{escape(title)}</text>')
    subtitle = "cost per member (info: per call) against the number of processes sharing one ledger; log scales"
    if note:
        subtitle += "; " + note
    add(f'<text x="{LEFT}" y="48" fill="#444">{escape(subtitle)}</text>')

    # grid and y labels: every decade, minor lines at 2..9
    decade = lo
    while decade <= hi * 1.0001:
        yy = y(decade)
        add(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}" stroke="#ccc"/>')
        add(f'<text x="{LEFT - 8}" y="{yy + 4:.1f}" text-anchor="end">{escape(fmt_us(decade))}</text>')
        if decade < hi:
            for k in range(2, 10):
                ym = y(decade * k)
                add(f'<line x1="{LEFT}" y1="{ym:.1f}" x2="{LEFT + pw}" y2="{ym:.1f}" stroke="#eee"/>')
        decade *= 10
    for n in ns:
        xx = x(n)
        add(f'<line x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{TOP + ph}" stroke="#e4e4e4"/>')
        add(f'<text x="{xx:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{n}</text>')
    add(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    add(f'<text x="{LEFT + pw / 2:.1f}" y="{H - 42}" text-anchor="middle" font-size="13">'
        'N, processes in the tree (log2 scale)</text>')
    add(f'<text transform="translate(24 {TOP + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        'font-size="13">time per member, or CPU time per second (log scale)</text>')

    # a guide: what a cost per member growing linearly with N looks like
    g0 = lo * 2
    g1 = g0 * ns[-1] / ns[0]
    if len(ns) > 1 and g1 <= hi:
        add(f'<line x1="{x(ns[0]):.1f}" y1="{y(g0):.1f}" x2="{x(ns[-1]):.1f}" y2="{y(g1):.1f}" '
            'stroke="#999" stroke-width="1.2" stroke-dasharray="1 4"/>')

    # lines; end labels kept apart
    labels, skipped = [], []
    for cost, label, colour in COSTS:
        for column, dash in (("library", ""), ("no_library", ' stroke-dasharray="6 4"')):
            points = series.get((cost, column), {})
            drawn = [(n, v) for n, v in sorted(points.items()) if v > 0]
            if len(drawn) < len(points):
                skipped.append(f"{cost} ({'library' if column == 'library' else 'no library'}) at or below 0")
            if not drawn:
                continue
            path = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in drawn)
            width = 2.4 if column == "library" else 1.6
            add(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>')
            for n, v in drawn:
                add(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="{3 if column == "library" else 2.2}" '
                    f'fill="{colour if column == "library" else "white"}" stroke="{colour}"/>')
            if column == "library":
                n, v = drawn[-1]
                labels.append([y(v), f"{cost} {fmt_us(v)}{SUFFIX.get(cost, '')}", colour, x(n)])
    labels.sort()
    for i in range(1, len(labels)):
        labels[i][0] = max(labels[i][0], labels[i - 1][0] + 15)
    for yy, text, colour, xx in labels:
        add(f'<text x="{xx + 8:.1f}" y="{yy + 4:.1f}" fill="{colour}" font-size="11" stroke="white" '
            f'stroke-width="3" paint-order="stroke">{escape(text)}</text>')

    # legend
    lx, ly = LEFT + pw + 100, TOP + 10
    add(f'<text x="{lx}" y="{ly}" font-weight="bold">costs</text>')
    for i, (cost, label, colour) in enumerate(COSTS):
        yy = ly + 20 + i * 34
        add(f'<line x1="{lx}" y1="{yy}" x2="{lx + 26}" y2="{yy}" stroke="{colour}" stroke-width="2.4"/>')
        add(f'<text x="{lx + 32}" y="{yy + 4}" font-weight="bold">{escape(cost)}</text>')
        add(f'<text x="{lx + 32}" y="{yy + 18}" fill="#444" font-size="10.5">{escape(label)}</text>')
    yy = ly + 20 + len(COSTS) * 34 + 8
    add(f'<line x1="{lx}" y1="{yy}" x2="{lx + 26}" y2="{yy}" stroke="#333" stroke-width="2.4"/>')
    add(f'<text x="{lx + 32}" y="{yy + 4}">with libthrottle</text>')
    add(f'<line x1="{lx}" y1="{yy + 20}" x2="{lx + 26}" y2="{yy + 20}" stroke="#333" stroke-width="1.6" '
        'stroke-dasharray="6 4"/>')
    add(f'<text x="{lx + 32}" y="{yy + 24}">without (plain processes)</text>')
    add(f'<line x1="{lx}" y1="{yy + 40}" x2="{lx + 26}" y2="{yy + 40}" stroke="#999" stroke-width="1.2" '
        'stroke-dasharray="1 4"/>')
    add(f'<text x="{lx + 32}" y="{yy + 44}">slope of a cost per member</text>')
    add(f'<text x="{lx + 32}" y="{yy + 58}">proportional to N</text>')
    notes = []
    last_library = max((n for (cost, column), points in series.items() if column == "library" for n in points),
                       default=None)
    if last_library is not None and last_library < ns[-1]:
        notes.append(f"with the library: no values past N={last_library} (those runs did not complete "
                     "within the benchmark's time limit)")
    if skipped:
        notes.append("not drawn (log scale): " + "; ".join(skipped))
    for i, note in enumerate(reversed(notes)):
        add(f'<text x="{LEFT}" y="{H - 10 - 15 * i}" fill="#666" font-size="10.5">{escape(note)}</text>')
    add("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = argv[1] if len(argv) > 1 else os.path.join(root, "target", "bench", "scale.csv")
    dst = argv[2] if len(argv) > 2 else os.path.join(root, "docs", "scale.svg")
    note = argv[3] if len(argv) > 3 else ""
    if len(argv) > 4:
        print("usage: bench/chart.py [CSV] [SVG] [NOTE]", file=sys.stderr)
        return 2
    series, ns = read(src)
    svg = chart(series, ns, "libthrottle: what a process-tree ledger costs as the tree grows", note)
    with open(dst, "w") as f:
        f.write(svg)
    print(f"chart.py: wrote {dst} ({len(ns)} tree sizes, from {src})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
