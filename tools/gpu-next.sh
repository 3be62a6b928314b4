#!/bin/sh
# The device work queued in kernels/cuda/NOTES.md ("Still queued"), in one
# call, in order of value: each step is a tools/gpu-run.sh run into its own folder and
# gets what is left of TOTAL_S (default 500) minus what the later steps need at least, so that a
# slow step cuts its own sweep short rather than the rest. Edit the queue with the notes.
#
#   COSTCURVE_GIT_SHA=<sha> TOTAL_S=500 sh tools/gpu-next.sh
#
# Steps: build (with line tables) and the top-k tests -> top-k v5's phase stamps -> A/B of v5
# against v4 -> source-level profiles of the seesaw MQA kernel (dense, then sparse decode). (Earlier queues, with A/B and racecheck steps: git log.)
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
  tar -C "$w" --exclude='*.ncu-rep' -czf "$o/steps.tgz.part" . && mv "$o/steps.tgz.part" "$o/steps.tgz"
}
v32=deepseek-v3.2
v31=deepseek-v3.1-terminus
stages="build sass cudatest"
floor=150 # the build (~50 s) and the tests (~45 s on 8 shards) are what later steps need
# -lineinfo for the source-level profiles below (it adds line tables, not code).
step tests 260 TEST_FILTER='Cuda/CudaTopk.*' TEST_SHARDS=8 CUDA_FLAGS=-lineinfo
# Top-k v5 (vector reads of bins and bitmaps, the staged output; opt-in): where its time goes,
# then A/B against v4 on one card.
stages=sweep
floor=0
step phases-v5 220 COSTCURVE_TOPK_PHASES=1 COSTCURVE_TOPK_V5=1 SCENARIOS=$v32 \
  SWEEP_FILTER='topk/decode/' RESULTS_TAG=phases
stages=ab
step topk-v5 130 AB_SCENARIOS=$v32 AB_FILTER='topk/(decode|prefill)/L(16384|32768|65536|131072)/' \
  AB_ENV=COSTCURVE_TOPK_V5=1
# Where the seesaw MQA kernel's time goes per line: dense decode at B=32, 16K (58% of the bf16
# ceiling, the target 60%), then sparse decode at B=32, 128K (53% of copy bandwidth, target 70%).
stages=profile
step profile-dense 60 PROFILE_KERNELS=mqa_seesaw PROFILE_SCENARIO=$v31 PROFILE_SOURCE=1 \
  PROFILE_FILTER='dense_decode/decode/L16384/B32/'
step profile-sparse 40 PROFILE_KERNELS=mqa_seesaw PROFILE_SCENARIO=$v32 PROFILE_SOURCE=1 \
  PROFILE_FILTER='sparse_decode/decode/L131072/B32/sq2/k2048/bf16'
# The seesaw over an fp8 cache (opt-in; measured 2% slower than the one-tile kernel): why.
step profile-fp8 0 PROFILE_KERNELS=mqa_seesaw PROFILE_SCENARIO=$v32 PROFILE_SOURCE=1 \
  PROFILE_FILTER='sparse_decode/decode/L131072/B32/sq2/k2048/fp8' COSTCURVE_MQA_SEESAW_FP8=1
echo "total $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
