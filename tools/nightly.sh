#!/bin/sh
# The nightly regression job: sweep, compare against the last good baseline of this machine kind,
# measure flagged points again in a fresh process, report, and exit non-zero on a regression.
#
#   tools/nightly.sh [--scenario FILE] [--backend cpu|cuda] [--kind NAME] [--dir DIR]
#                    [--threshold T] [--threads N] [--bin PATH] [--keep-baseline]
#                    [--baseline-runs N]
#
# Files, under DIR/KIND/ (DIR defaults to results/nightly, KIND to a name made from the GPU or CPU
# model, e.g. nvidia-h100-80gb-hbm3 or amd-epyc-9b14-2-cores):
#   baseline.json             the last good run (the first run becomes it)
#   baseline.2.json ...       the same build swept again in fresh processes when it became the
#                             baseline (--baseline-runs, default 2): compare pools them, so that
#                             one process's luck (10-30% on some points on shared VMs) is no bar
#   baseline.bin              a copy of the baseline's costcurve binary: the confirmation sweeps
#                             flagged points with it too, beside today's build, so that the
#                             machine drifting since the baseline night is not blamed on the code
#   DAY.json                  today's sweep (re-running the job the same day resumes it)
#   DAY.verdict.md/.json      compare's verdict against the baseline
#   DAY.confirm.json/.md      flagged points measured again, and their verdict
#   DAY.beside.json, .2.json  the same points swept by baseline.bin before and after DAY.confirm
#   DAY.report/               plots and tables of today's sweep
# Exit codes: 0 no regression, 1 a confirmed regression or points that failed, 2 bad arguments or
# input. A run with no regression and no failed point becomes the new baseline unless
# --keep-baseline is given (keep it to stop slow drifts, a few percent a night, from passing).
set -eu

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
  echo "nightly: $*" >&2
  exit 2
}

scenario=scenarios/cpu-default.json
backend=cpu
kind=""
dir=results/nightly
threshold=""
threads=""
bin=""
keep=0
runs=2
while [ $# -gt 0 ]; do
  case $1 in
  --scenario) scenario=${2:?--scenario needs a file} && shift ;;
  --backend) backend=${2:?--backend needs cpu or cuda} && shift ;;
  --kind) kind=${2:?--kind needs a name} && shift ;;
  --dir) dir=${2:?--dir needs a directory} && shift ;;
  --threshold) threshold=${2:?--threshold needs a value such as 5%} && shift ;;
  --threads) threads=${2:?--threads needs a number} && shift ;;
  --bin) bin=${2:?--bin needs the costcurve binary} && shift ;;
  --keep-baseline) keep=1 ;;
  --baseline-runs) runs=${2:?--baseline-runs needs a number} && shift ;;
  -h | --help) usage && exit 0 ;;
  *) usage >&2 && die "unknown argument '$1'" ;;
  esac
  shift
done
[ -n "$bin" ] || bin="$(cd "$(dirname "$0")/.." && pwd)/build/costcurve"
[ -x "$bin" ] || die "no costcurve binary at '$bin' (build it, or pass --bin)"
case $backend in cpu | cuda) ;; *) die "--backend must be cpu or cuda, not '$backend'" ;; esac
[ -f "$scenario" ] || die "--scenario '$scenario' is not a file"
case $runs in '' | *[!0-9]* | 0 | 0[0-9]*) die "--baseline-runs must be a number from 1, not '$runs'" ;; esac

slug() { tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//'; }
if [ -z "$kind" ]; then
  if [ "$backend" = cuda ]; then
    kind=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 | slug)
  else
    kind="$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1 | slug)-$(nproc)-cores"
  fi
  [ -n "$kind" ] || die "cannot tell the machine kind: pass --kind"
fi
# The kind names a directory: one path component of plain characters.
case $kind in
.* | *[!A-Za-z0-9._-]*) die "--kind '$kind' may hold only letters, digits, '.', '_' and '-', and not start with '.'" ;;
esac
# On shared CPU machines whole sweeps drift by 5-20% from run to run (README "Nightly
# regressions"); dedicated GPU nodes hold 5%.
[ -n "$threshold" ] || { [ "$backend" = cuda ] && threshold=5% || threshold=10%; }

base="$dir/$kind"
mkdir -p "$base"
day=$(date -u +%F)
run="$base/$day.json"
sweep_by() {
  b=$1 && shift
  "$b" sweep "$scenario" --backend "$backend" ${threads:+--threads "$threads"} "$@"
}
sweep() { sweep_by "$bin" "$@"; }
# compare RUN ARGS...: against the baseline, every run of it pooled.
compare() {
  set -- "$base/baseline.json" "$@"
  for f in "$base"/baseline.[0-9]*.json; do
    [ ! -f "$f" ] || set -- "$@" --also-baseline "$f"
  done
  "$bin" compare "$@"
}

echo "nightly: $kind, $scenario on $backend, threshold $threshold -> $run"
sweep_rc=0
sweep --out "$run" --resume || sweep_rc=$?
[ "$sweep_rc" -le 1 ] || exit "$sweep_rc"

"$bin" report "$run" --out "$base/$day.report" >"$base/$day.report.log" 2>&1 ||
  echo "nightly: the report failed, see $base/$day.report.log" >&2

promote() {
  [ "$keep" -eq 0 ] && [ "$sweep_rc" -eq 0 ] || return 0
  # The other runs of the new baseline, each in a fresh process, before anything is replaced: a
  # failure leaves the old baseline whole.
  i=2
  while [ "$i" -le "$runs" ]; do
    rm -f "$base/.baseline.$i.json.tmp"
    echo "nightly: baseline run $i of $runs"
    if ! sweep --out "$base/.baseline.$i.json.tmp" >"$base/$day.baseline-$i.log" 2>&1; then
      echo "nightly: baseline run $i failed (see $base/$day.baseline-$i.log); the old baseline stays" >&2
      return 0
    fi
    i=$((i + 1))
  done
  # The binary too, so that a confirmation can sweep the baseline's build beside a later one.
  if ! { cp "$bin" "$base/.baseline.bin.tmp" && chmod +x "$base/.baseline.bin.tmp"; }; then
    rm -f "$base/.baseline.bin.tmp"
    echo "nightly: could not keep a copy of $bin; confirmations will not sweep the baseline's build" >&2
  fi
  rm -f "$base"/baseline.[0-9]*.json
  i=2
  while [ "$i" -le "$runs" ]; do
    mv "$base/.baseline.$i.json.tmp" "$base/baseline.$i.json"
    i=$((i + 1))
  done
  if [ -f "$base/.baseline.bin.tmp" ]; then
    mv "$base/.baseline.bin.tmp" "$base/baseline.bin"
  else
    rm -f "$base/baseline.bin"
  fi
  cp "$run" "$base/.baseline.json.tmp" && mv "$base/.baseline.json.tmp" "$base/baseline.json"
  echo "nightly: $run is the new baseline ($runs runs)"
}

if [ ! -f "$base/baseline.json" ]; then
  echo "nightly: no baseline for $kind yet"
  promote
  exit "$sweep_rc"
fi

verdict=0
compare "$run" --threshold "$threshold" \
  --markdown "$base/$day.verdict.md" --json "$base/$day.verdict.json" \
  --rerun-filter "$base/$day.rerun" || verdict=$?
[ "$verdict" -le 1 ] || exit "$verdict"
if [ "$verdict" -eq 1 ]; then
  # One flagged run is not a verdict on a machine that drifts: measure the flagged points again,
  # in a fresh process, and believe only a slowdown that appears again. The baseline's build
  # sweeps the same points just before and just after, when its binary was kept: a machine that
  # got slower since the baseline night slows those too, and compare --beside then clears it.
  echo "nightly: measuring the flagged points again"
  confirm="$base/$day.confirm.json"
  filter=$(cat "$base/$day.rerun")
  rm -f "$confirm" "$base/$day.beside.json" "$base/$day.beside.2.json"
  # beside FILE: the flagged points swept by baseline.bin into FILE; false when it is missing or
  # the sweep failed.
  beside() {
    [ -x "$base/baseline.bin" ] || return 1
    sweep_by "$base/baseline.bin" --out "$1" --filter "$filter" >"$1.log" 2>&1 && [ -f "$1" ] &&
      return 0
    echo "nightly: the baseline's binary could not sweep (see $1.log); judging without it" >&2
    return 1
  }
  b1=0 b2=0
  beside "$base/$day.beside.json" && b1=1
  sweep --out "$confirm" --filter "$filter" || true
  beside "$base/$day.beside.2.json" && b2=1
  set --
  [ "$b1" -eq 0 ] || set -- "$@" --beside "$base/$day.beside.json"
  [ "$b2" -eq 0 ] || set -- "$@" --beside "$base/$day.beside.2.json"
  verdict=0
  compare "$confirm" --threshold "$threshold" "$@" \
    --markdown "$base/$day.confirm.md" || verdict=$?
  if [ "$verdict" -eq 2 ] && [ $# -gt 0 ]; then
    # compare refused something, said what above; most likely baseline.bin is not the build of
    # baseline.json (one of them replaced by hand).
    echo "nightly: compare refused the confirmation with the baseline's binary beside it (does it match baseline.json?); judging without it" >&2
    set --
    verdict=0
    compare "$confirm" --threshold "$threshold" --markdown "$base/$day.confirm.md" || verdict=$?
  fi
  [ "$verdict" -le 1 ] || exit "$verdict"
  if [ "$verdict" -eq 1 ]; then
    echo "nightly: REGRESSION confirmed by a second measurement: $base/$day.confirm.md"
    exit 1
  fi
  if [ $# -gt 0 ]; then
    echo "nightly: the flagged points were not slower when measured again, beside the baseline's build: no regression"
  else
    echo "nightly: the flagged points were not slower when measured again: no regression"
  fi
fi
[ "$sweep_rc" -eq 0 ] || echo "nightly: some points failed: see $run" >&2
promote
exit "$sweep_rc"
