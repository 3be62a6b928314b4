#!/bin/sh
# The device work queued in kernels/cuda/NOTES.md ("Queued for the next device call"), in one
# call, in order of value: each step is a tools/gpu-run.sh run into its own folder under $OUT and
# gets what is left of TOTAL_S (default 500) minus what the later steps need at least, so that a
# slow step cuts its own sweep short rather than the rest. Edit the queue with the notes.
#
#   COSTCURVE_GIT_SHA=<sha> TOTAL_S=500 sh tools/gpu-next.sh
#
# Steps: tests (MQA, top-k, flush) -> A/B of each opt-in variant on its points -> top-k profile
# -> racecheck with and without the P1 diagnostic -> the L2 probe and the flush A/B.
set -u
cd "$(dirname "$0")/.."
o=${OUT:-/tmp/gpu-next}
total=${TOTAL_S:-500}
start=$(date +%s)
mkdir -p "$o"
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
  timeout -k 10 $((b + 15)) env OUT="$o/$name" BUDGET_S="$b" RESULTS_NAME=none "$@" \
    sh tools/gpu-run.sh $stages >>"$o/summary.txt" 2>&1
  echo "$name: exit $? at $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
}
v32=deepseek-v3.2
stages="build sass cudatest"
floor=200 # the build (~45 s) and the tests (~90 s on 8 shards) are what every later step needs
step tests 330 TEST_FILTER='Cuda/CudaMqaTest.*:Cuda/CudaTopk.*:Cuda.*' TEST_SHARDS=8
stages=ab
floor=0
step prefetch-sparse 270 AB_SCENARIOS=$v32 \
  AB_FILTER='sparse_(decode/decode/L131072/B32|prefill/prefill/L131072)/' \
  AB_ENV=COSTCURVE_MQA_L2_PREFETCH=1
step prefetch-dense 220 AB_SCENARIOS=deepseek-v3.1-terminus \
  AB_FILTER='dense_decode/decode/L131072/B32/' AB_ENV=COSTCURVE_MQA_L2_PREFETCH=1
step seesaw-fp8 180 AB_SCENARIOS=$v32 AB_FILTER='sparse_decode/decode/L131072/B32/sq2/k2048/fp8' \
  AB_ENV=COSTCURVE_MQA_SEESAW_FP8=1
step topk-bulk 140 AB_SCENARIOS=$v32 AB_FILTER='topk/decode/L(32768|131072)/' \
  AB_ENV=COSTCURVE_TOPK_BULK_PREFETCH=1
stages=profile
step profile-b32 110
step profile-b1 80 PROFILE_FILTER='topk/decode/L131072/B1/'
stages=sanitize
step racecheck-p1-sync 50 COSTCURVE_MQA_SEESAW_SYNC_P1=1 \
  TEST_FILTER='Cuda/CudaMqaTest.*/seesaw_sparse_k96_odd_tiles'
step racecheck-p1-arrive 30 TEST_FILTER='Cuda/CudaMqaTest.*/seesaw_sparse_k96_odd_tiles'
stages="probe ab"
step flush 0 AB_SCENARIOS=$v32 AB_FILTER='(indexer|topk|sparse_decode)/decode/L131072/B32/' \
  AB_ENV=COSTCURVE_L2_FLUSH=discard
echo "total $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
