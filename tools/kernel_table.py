#!/usr/bin/env python3
"""Markdown table of kernel throughput against the same run's measured ceilings, at chosen points
of one or more results files (a "before" and an "after" column when given two sets).

usage: tools/kernel_table.py AFTER_FILES... [--before BEFORE_FILES...]
(where files hold the same point, the later file's wins: list them oldest first)
"""
import argparse
import json
import sys

ROWS = [  # (op, phase, batch, dtype, position)
    ("dense_prefill", "prefill", 1, "bf16", 131072),
    ("dense_prefill", "prefill", 1, "bf16", 16384),
    ("dense_decode", "decode", 32, "bf16", 131072),
    ("dense_decode", "decode", 1, "bf16", 131072),
    ("indexer", "prefill", 1, "fp8_e4m3", 131072),
    ("indexer", "decode", 32, "fp8_e4m3", 131072),
    ("topk", "prefill", 1, "f32", 131072),
    ("topk", "decode", 32, "f32", 131072),
    ("topk", "decode", 1, "f32", 131072),
    ("sparse_prefill", "prefill", 1, "bf16", 131072),
    ("sparse_decode", "decode", 32, "bf16", 131072),
    ("sparse_decode", "decode", 32, "fp8_e4m3", 131072),
    ("sparse_decode", "decode", 1, "bf16", 131072),
]


def load(files):
    pts = {}
    for f in files:
        try:
            with open(f) as fh:
                d = json.load(fh)
            for p in d["costcurve"]["points"]:
                if p["status"] == "ok":
                    key = (p["op"], p["phase"], p["batch"], p["dtype"], p["position"])
                    # The fields the table reads, looked up here so that an error names the file.
                    p["timing"]["median_s"], p["roofline"]["fraction"], p["rates"]
                    pts[key] = p
        except (OSError, ValueError) as e:
            sys.exit("kernel_table: %s: %s" % (f, e))
        except (KeyError, TypeError) as e:
            sys.exit("kernel_table: %s: not a costcurve results file (missing %s)" % (f, e))
    return pts


def cell(p):
    if p is None:
        return "-"
    r, f = p["rates"], p["roofline"]
    rate = ("%.0f GB/s" % (r["bytes_per_s"] / 1e9) if p["op"] == "topk"
            else "%.0f TFLOP/s" % (r["flop_per_s"] / 1e12))
    return "%.0f us, %s, %.0f%% (%s)" % (p["timing"]["median_s"] * 1e6, rate,
                                        100 * f["fraction"], f["bound"])


ap = argparse.ArgumentParser(
    description="Markdown table of kernel throughput against each run's measured ceilings, at "
    "the points the README quotes, and the DSA decode step against its floor.")
ap.add_argument("after", nargs="+", help="results files of the run to show (oldest first)")
ap.add_argument("--before", nargs="+", default=[], help="results files of the earlier run")
opts = ap.parse_args()
before = opts.before
after, prev = load(opts.after), load(before)
head = "| operation | condition | " + ("before | after |" if before else "measured |")
print(head)
print("|" + "---|" * (head.count("|") - 1))
for key in ROWS:
    op, phase, b, dt, pos = key
    cond = "%s, B=%d, L=%dK, %s" % (phase, b, pos // 1024, dt)
    cells = ([cell(prev.get(key))] if before else []) + [cell(after.get(key))]
    print("| %s | %s | %s |" % (op, cond, " | ".join(cells)))

# The whole DSA decode step (issue 9's last row): indexer, top-k and sparse attention run one after
# another, so the step's floor is the sum of their roofline floors.
print()
for dt in ("bf16", "fp8_e4m3"):
    for label, pts in (("before", prev), ("after", after)) if before else (("measured", after),):
        parts = [pts.get(("indexer", "decode", 32, "fp8_e4m3", 131072)),
                 pts.get(("topk", "decode", 32, "f32", 131072)),
                 pts.get(("sparse_decode", "decode", 32, dt, 131072))]
        if None in parts:
            continue
        t = sum(p["timing"]["median_s"] for p in parts)
        floor = sum(p["roofline"]["floor_s"] for p in parts)
        print("DSA decode step, B=32, L=128K, %s cache (%s): %.0f us against a floor of %.0f us, "
              "%.2fx  " % (dt, label, t * 1e6, floor * 1e6, t / floor))
