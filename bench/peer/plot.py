#!/usr/bin/env python3
"""Draws docs/peer_speed.svg from the summaries of bench/peer/compare_all.sh (runs/peer/*/summary.json):
for each model and bitwidth, the AdaRound stage and the whole run of adaflow and of the PyTorch peer, in
seconds on a log scale, with the ratio. Plain SVG, no plotting library.

Usage: /usr/bin/python3 bench/peer/plot.py [runs/peer] [docs/peer_speed.svg]
"""
import glob
import json
import math
import os
import sys


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/peer"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/peer_speed.svg"
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
        s = json.load(open(path))
        label = f"{s['arch']} W{s['param_bw']}"
        rows.append((f"{label} AdaRound", s["adaflow_adaround_s"], s["peer_adaround_s"]))
        rows.append((f"{label} whole run", s["adaflow_wall_s"], s["peer_wall_s"]))
    if not rows:
        sys.exit(f"no summaries under {root}")
    left, bar, gap, width = 170, 11, 10, 420
    top = 40
    height = top + len(rows) * (2 * bar + gap) + 40
    lo, hi = 1.0, 10 ** math.ceil(math.log10(max(max(r[1], r[2]) for r in rows)))
    x = lambda v: left + width * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="16" font-size="13">seconds on 2 cores (log scale), 2000 iterations: '
           '<tspan fill="#1f77b4">adaflow</tspan> vs <tspan fill="#d62728">PyTorch peer</tspan></text>']
    decade = lo
    while decade <= hi:
        svg.append(f'<line x1="{x(decade):.1f}" y1="{top - 8}" x2="{x(decade):.1f}" y2="{height - 30}" '
                   'stroke="#ddd"/>')
        svg.append(f'<text x="{x(decade):.1f}" y="{height - 16}" text-anchor="middle">{decade:g}</text>')
        decade *= 10
    y = top
    for label, ours, theirs in rows:
        svg.append(f'<text x="{left - 6}" y="{y + bar + 4}" text-anchor="end">{label}</text>')
        for value, color, dy in ((ours, "#1f77b4", 0), (theirs, "#d62728", bar)):
            svg.append(f'<rect x="{left}" y="{y + dy}" width="{x(value) - left:.1f}" height="{bar - 1}" '
                       f'fill="{color}"/>')
            svg.append(f'<text x="{x(value) + 4:.1f}" y="{y + dy + bar - 2}">{value:.1f}</text>')
        svg.append(f'<text x="{left + width + 50}" y="{y + bar + 4}" font-weight="bold">'
                   f'{theirs / ours:.1f}×</text>')
        y += 2 * bar + gap
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(out)


if __name__ == "__main__":
    main()
