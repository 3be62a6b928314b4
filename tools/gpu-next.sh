#!/bin/sh
# The device work queued in kernels/cuda/NOTES.md ("Still queued"), in one
# call, in order of value: each step is a tools/gpu-run.sh run into its own folder and
# gets what is left of TOTAL_S (default 500) minus what the later steps need at least, so that a
# slow step cuts its own sweep short rather than the rest. Edit the queue with the notes.
#
#   COSTCURVE_GIT_SHA=<sha> TOTAL_S=500 sh tools/gpu-next.sh
#
# Steps: build and the MQA and top-k tests -> the flush tests alone on the card -> top-k decode's
# phase stamps -> both scenarios swept in full with what time is left. (Earlier queues, with A/B and racecheck steps: git log.)
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
floor=150 # the build (~50 s) and the tests (~30 s on 8 shards) are what later steps need
# -lineinfo: line tables for compute-sanitizer reports; the generated code is the same.
step tests 260 CUDAFLAGS=-lineinfo TEST_FILTER='Cuda/CudaMqaTest.*:Cuda/CudaTopk.*' TEST_SHARDS=8
# The flush tests time a copy: alone on the card, not beside seven other shards.
stages=cudatest
floor=0
step flush-tests 230 TEST_FILTER='Cuda.*' TEST_SHARDS=1
# Where top-k decode's time goes: the phase stamps' medians, one line a shape at the end of
# logs/sweep-deepseek-v3.2.log (times taken with the stamps read back are not the kernel's).
stages=sweep
step topk-phases 170 COSTCURVE_TOPK_PHASES=1 SCENARIOS=$v32 SWEEP_FILTER='topk/decode/' \
  RESULTS_TAG=phases
# Both scenarios with top-k v3.2 (no memset per call) by default: ~150 s for the two.
step sweep 0
echo "total $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
