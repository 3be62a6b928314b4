#!/bin/sh
# The device work queued in kernels/cuda/NOTES.md ("Still queued"), in one
# call, in order of value: each step is a tools/gpu-run.sh run into its own folder and
# gets what is left of TOTAL_S (default 500) minus what the later steps need at least, so that a
# slow step cuts its own sweep short rather than the rest. Edit the queue with the notes.
#
#   COSTCURVE_GIT_SHA=<sha> TOTAL_S=540 sh tools/gpu-next.sh   # the call: timeout_s 600
#
# Give the device call's limit ~60 s more than TOTAL_S (the last step's grace and packing).
#
# Steps: build -> both scenarios swept in full -> costcurve_probe over the seesaw's diagnostics
# and variants and top-k's bulk prefetch -> the MQA and top-k tests. (Earlier queues, with A/B and
# racecheck steps: git log.)
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
# All of $w into $o/steps.tgz, replaced whole so that a cut-off call never leaves half an archive.
pack() {
  tar -C "$w" --exclude='*.ncu-rep' -czf "$o/steps.tgz.part" . && mv "$o/steps.tgz.part" "$o/steps.tgz"
}
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
  pack
}
v32=deepseek-v3.2
v31=deepseek-v3.1-terminus
# The build alone first, the tests last: the sweeps use only the default kernels (each point is
# validated before it is timed) and the probe validates each variant's first run, so with little
# device time left the tests of the opt-in paths are what a cut-off call loses.
stages="build sass"
floor=120 # the build (~100 s) is what every later step needs
step build 300
floor=0 # later steps get only what is left: a floor kept from the build would run the call past its limit
stages=sweep
step sweep 200 SCENARIOS="$v32 $v31"
# Where the seesaw's time goes (NOTES.md, attention v5.4's outcome): each shape timed cold by
# costcurve_probe with its loads or its MMAs switched off, the default again as a control for
# drift, and dense decode with the leader's L2 prefetch and with TMA (attention v5.5, v5.6); then
# top-k decode with the bulk prefetch of each chunk (not timed since v3.1).
probe() {
  name=$1
  shift
  [ "$(left)" -ge 20 ] || { echo "probe $name: skipped" | tee -a "$o/summary.txt"; return 0; }
  mkdir -p "$w/probe"
  timeout -k 5 "$(left)" build-gpu/costcurve_probe --backend cuda --batch 32 --sq 2 "$@" \
    >"$w/probe/$name.txt" 2>&1
  echo "probe $name: exit $? at $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
  pack
}
diag="--env COSTCURVE_MQA_DIAG=resident --env COSTCURVE_MQA_DIAG=nomma --env COSTCURVE_MQA_DIAG=neither
  --env COSTCURVE_MQA_DIAG="
# shellcheck disable=SC2086
probe dense16k --op dense_decode --len 16384 $diag --env COSTCURVE_MQA_L2_PREFETCH=leader \
  --env COSTCURVE_MQA_TMA=1
# shellcheck disable=SC2086
probe sparse128k --op sparse_decode --len 131072 $diag --env COSTCURVE_MQA_L2_PREFETCH=0
probe topk128k --op topk --len 131072 --env COSTCURVE_TOPK_BULK_PREFETCH=1 --env COSTCURVE_TOPK_V4=1 \
  --env COSTCURVE_TOPK_BULK_PREFETCH=
# shellcheck disable=SC2086
probe dense128k --op dense_decode --len 131072 --runs 10 --check default $diag \
  --env COSTCURVE_MQA_L2_PREFETCH=leader --env COSTCURVE_MQA_TMA=1
stages=cudatest
step tests 0 TEST_FILTER='Cuda/CudaMqaTest.*:Cuda/CudaTopk.*:CudaMqaDiag.*:CudaMqaTma.*' TEST_SHARDS=8
echo "total $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
