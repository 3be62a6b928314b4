#!/bin/sh
# The device work queued in kernels/cuda/NOTES.md ("Still queued"), in one
# call, in order of value: each step is a tools/gpu-run.sh run into its own folder and
# gets what is left of TOTAL_S (default 500) minus what the later steps need at least, so that a
# slow step cuts its own sweep short rather than the rest. Edit the queue with the notes.
#
#   COSTCURVE_GIT_SHA=<sha> TOTAL_S=500 sh tools/gpu-next.sh
#
# Steps: build and the top-k tests -> top-k v4's phase stamps with each prefetch -> A/B of v4
# against v3.2 and against the bulk prefetch. (Earlier queues, with A/B and racecheck steps: git log.)
set -u
cd "$(dirname "$0")/.."
o=${OUT:-/tmp/gpu-next}
# The device tool brings back at most 8 files from $OUT: the steps work in $w, and after each one
# all of $w is packed again into $o/steps.tgz, so that what finished survives a cut-off call.
w=${WORK:-/tmp/gpu-next-work}
total=${TOTAL_S:-500}
start=$(date +%s)
mkdir -p "$o" "$w"
left() { echo $((total - ($(date +%s) - start))); }
# step NAME RESERVE [VAR=VALUE ...]: gpu-run.sh $stages with the variables, into $o/NAME, with the
# time left less RESERVE seconds for the steps after it (at least $floor, default 0); skipped when
# under 20 s remain.
floor=0
step() {
  name=$1 reserve=$2
  shift 2
  b=$(($(left) - reserve))
  [ "$b" -ge "$floor" ] || b=$floor
  if [ "$b" -lt 20 ]; then
    echo "$name: skipped, $(left) s left" | tee -a "$o/summary.txt"
    return 0
  fi
  echo "== $name ($b s)" | tee -a "$o/summary.txt"
  # The sweeps stop within BUDGET_S themselves; the sanitizer and the profiler are held to it here.
  # shellcheck disable=SC2086
  timeout -k 10 $((b + 15)) env OUT="$w/$name" BUDGET_S="$b" RESULTS_NAME=none "$@" \
    sh tools/gpu-run.sh $stages >>"$o/summary.txt" 2>&1
  echo "$name: exit $? at $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
  tar -C "$w" -czf "$o/steps.tgz.part" . && mv "$o/steps.tgz.part" "$o/steps.tgz"
}
v32=deepseek-v3.2
stages="build sass cudatest"
floor=150 # the build (~50 s) and the tests (~60 s on 8 shards) are what later steps need
step tests 200 TEST_FILTER='Cuda/CudaTopk.*' TEST_SHARDS=8
# Top-k v4 (block-local lists, a two-pass sample): where its time goes, with each prefetch, then
# A/B against v3.2 (COSTCURVE_TOPK_V3=1) and against the bulk prefetch on one card.
stages=sweep
floor=0
topk3='topk/decode/L(32768|65536|131072)/'
step phases-v4 180 COSTCURVE_TOPK_PHASES=1 SCENARIOS=$v32 SWEEP_FILTER="$topk3" RESULTS_TAG=phases
step phases-v4-bulk 165 COSTCURVE_TOPK_PHASES=1 COSTCURVE_TOPK_BULK_PREFETCH=1 SCENARIOS=$v32 \
  SWEEP_FILTER="$topk3" RESULTS_TAG=phases
stages=ab
topk4='topk/(decode|prefill)/L(16384|32768|65536|131072)/'
step topk-v3 80 AB_SCENARIOS=$v32 AB_FILTER="$topk4" AB_ENV=COSTCURVE_TOPK_V3=1
step topk-bulk 0 AB_SCENARIOS=$v32 AB_FILTER="$topk4" AB_ENV=COSTCURVE_TOPK_BULK_PREFETCH=1
echo "total $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
