#!/usr/bin/env python3
"""Per-source-line summary of Nsight Compute's source page.

Reads what `ncu --import R --page source --csv --print-source cuda,sass` prints (gzipped or
not): blocks of one file each, a CUDA line row followed by its SASS rows. Prints, per CUDA line,
its share of the warp stall samples, its two largest stall reasons, and the excess shared
wavefronts and global sectors, largest share first. Why: the GUI is not at hand where the
profiles come back, and the stall samples of one kernel are only readable summed by line.

  tools/ncu_lines.py ncu-0-source.csv.gz [--top 40] [--function REGEX]
"""
import argparse
import csv
import gzip
import re
import sys


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        yield from csv.reader(f)


def num(x):
    try:
        return float(x)
    except ValueError:
        return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=40, help="lines to print (default 40)")
    ap.add_argument("--function", default="", help="only functions matching this regex")
    a = ap.parse_args()
    fn_re = re.compile(a.function)
    lines = {}  # (file, line) -> [samples, source, reasons{}, excess shared, excess global]
    file = func = ""
    header = None
    keep = True
    for r in rows(a.csv):
        if not r:
            continue
        if r[0] == "File Path":
            file = r[1].rsplit("/", 1)[-1]
            continue
        if r[0] == "Function Name":
            func = r[1]
            keep = bool(fn_re.search(func))
            continue
        if r[0] == "Line No":
            header = r
            col = {}
            for i, name in enumerate(r):
                col.setdefault(name, i)  # two columns are named "Source" (CUDA, SASS): the first
            continue
        if header is None or not keep or r[0] == "":
            continue  # SASS rows: the CUDA line above them carries their sums
        key = (file, r[0])
        e = lines.setdefault(key, [0.0, r[1].strip(), {}, 0.0, 0.0])
        e[0] += num(r[col["Warp Stall Sampling (All Samples)"]])
        e[3] += num(r[col.get("L1 Wavefronts Shared Excessive", 0)])
        e[4] += num(r[col.get("L2 Theoretical Sectors Global Excessive", 0)])
        for name, i in col.items():
            if name.startswith("stall_") and not name.endswith("(Not Issued)"):
                e[2][name] = e[2].get(name, 0.0) + num(r[i])
    if not lines:
        sys.exit(f"ncu_lines.py: {a.csv} holds no source lines (not `ncu --page source --csv`?)")
    total = sum(e[0] for e in lines.values()) or 1.0
    print(f"Total stall samples: {total:.0f}")
    print(" share  top stall reasons                  excess-shm  excess-gl  line  source")
    for (f, ln), e in sorted(lines.items(), key=lambda kv: -kv[1][0])[: a.top]:
        top = sorted(e[2].items(), key=lambda kv: -kv[1])[:2]
        why = ", ".join(f"{n[6:]} {v / max(e[0], 1) * 100:.0f}%" for n, v in top if v > 0)
        print(f"{e[0] / total * 100:5.1f}%  {why:34.34s} {e[3]:10.0f} {e[4]:10.0f}  "
              f"{f}:{ln}  {e[1][:90]}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError, csv.Error, UnicodeDecodeError) as e:
        sys.exit(f"ncu_lines.py: cannot read the source page: {e}")
