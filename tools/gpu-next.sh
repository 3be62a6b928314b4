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
# Steps: build -> the MQA, prefill and top-k tests -> costcurve_probe over attention v5.6 (TMA, now
# the default for dense tiles), v5.7 (list entries read a pair ahead, opt-in), v5.8 (gathered rows
# by TMA, opt-in), v5.3 with the L2 prefetch (the seesaw over an fp8 cache, opt-in) and top-k v6
# (opt-in) against the kernels as they were -> both scenarios swept in full. (Earlier queues, with
# A/B, racecheck and diagnostics steps: git log.)
set -u
cd "$(dirname "$0")/.." || exit 1
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
  tar -C "$w" --exclude='*.ncu-rep' -czf "$o/steps.tgz.part" . &&
    mv "$o/steps.tgz.part" "$o/steps.tgz"
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
# The build alone first; the MQA and prefill tests next (the prefill's zeroed tail and v5.7 have
# not run on a GPU, and the tests are short); then the probes, which validate each variant's first
# run; the sweeps last, which use only the default kernels and validate every point before timing
# it.
stages="build sass"
floor=120 # the build (~100 s) is what every later step needs
step build 300
# Later steps get only what is left: a floor kept from the build would run the call past its limit.
floor=0
stages=cudatest
# TESTS_RESERVE (default 230): what the tests leave for the probes and sweeps; 0 in a short call.
tests='Cuda/CudaMqaTest.*:CudaMqaDiag.*:CudaMqaTma.*:Cuda/CudaPrefillTest.*'
tests="$tests:Cuda/CudaTopk.*/default_prefetch:Cuda/CudaTopk.*/v6:CudaTopkVersions.*"
step tests "${TESTS_RESERVE:-230}" TEST_SHARDS=8 TEST_FILTER="$tests"
# Attention v5.6 and v5.7 against the kernel they replace (NOTES.md), each shape timed cold by
# costcurve_probe in one process: dense decode by TMA (the default) against cp.async (the kernel as
# it ran in h100-v10/v11), then, with cp.async, the list entries read ahead; sparse decode and
# prefill with the entries read in place (the default) against ahead, ahead with the gathered rows
# by TMA (v5.8), without the L2 prefetch, and the "neither" diagnostic (the chain alone, which the
# reads may hold up).
# A probe takes 5-7 s on an H100 (h100-v12); each is held to PROBE_CAP_S (default 60), so that a
# variant that hangs (an mbarrier waiting for bytes that never come) costs a minute, not the sweep.
probe() {
  name=$1
  shift
  [ "$(left)" -ge 20 ] || { echo "probe $name: skipped" | tee -a "$o/summary.txt"; return 0; }
  mkdir -p "$w/probe"
  cap=${PROBE_CAP_S:-60}
  [ "$(left)" -lt "$cap" ] && cap=$(left)
  # shellcheck disable=SC2086
  timeout -k 5 "$cap" env $penv build-gpu/costcurve_probe --backend cuda "$@" \
    >"$w/probe/$name.txt" 2>&1
  echo "probe $name: exit $? at $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
  pack
}
dec="--batch 32 --sq 2"
penv= # the environment of a probe's default variant
# shellcheck disable=SC2086
probe dense16k --op dense_decode --len 16384 $dec --env COSTCURVE_MQA_TMA=0 --env COSTCURVE_MQA_TMA=
penv=COSTCURVE_MQA_TMA=0
# shellcheck disable=SC2086
probe dense16k-cpasync --op dense_decode --len 16384 $dec \
  --env COSTCURVE_MQA_IDX_AHEAD=1 --env COSTCURVE_MQA_IDX_AHEAD=
penv=
# v5.8 last in each: a TMA fault would end the process, and with it the variants after it.
# shellcheck disable=SC2086
probe sparse128k --op sparse_decode --len 131072 --top-k 2048 $dec \
  --env COSTCURVE_MQA_IDX_AHEAD=1 --env COSTCURVE_MQA_L2_PREFETCH=0 \
  --env COSTCURVE_MQA_DIAG=neither --env COSTCURVE_MQA_IDX_AHEAD= --env COSTCURVE_MQA_TMA_ROWS=1
probe sparse-prefill128k --op sparse_prefill --len 131072 --top-k 2048 --batch 1 --sq 512 \
  --env COSTCURVE_MQA_IDX_AHEAD=1 --env COSTCURVE_MQA_IDX_AHEAD= --env COSTCURVE_MQA_TMA_ROWS=1
# The seesaw over an fp8 cache (opt-in, v5.3) now with the L2 prefetch (its A/B ran without):
# against itself without it, the one-tile kernel that fp8 caches run by default, and (last, as
# v5.8 above) v5.9, the cache read as f16.
penv=COSTCURVE_MQA_SEESAW_FP8=1
# shellcheck disable=SC2086
probe sparse-fp8-128k --op sparse_decode --dtype fp8_e4m3 --len 131072 --top-k 2048 $dec \
  --env COSTCURVE_MQA_L2_PREFETCH=0 --env COSTCURVE_MQA_SEESAW_FP8= --env COSTCURVE_MQA_FP8_F16=1
penv=
# Top-k v6 (opt-in) against v5 at decode (several blocks a row) and prefill (one block a row), then
# both stamped: the phases' line per shape (at exit, in the probe's output) splits the sample into
# its load and its selection, where v6's one-warp tail acts.
# shellcheck disable=SC2086
probe topk128k --op topk --len 131072 $dec --env COSTCURVE_TOPK_V6=1
probe topk-prefill128k --op topk --phase prefill --len 131072 --sq 512 --env COSTCURVE_TOPK_V6=1
penv=COSTCURVE_TOPK_PHASES=1
# shellcheck disable=SC2086
probe topk128k-phases --op topk --len 131072 $dec --env COSTCURVE_TOPK_V6=1
# v6 with the bulk prefetch (each block's whole chunk asked of L2 during the sample): under v5 it
# changed nothing (+0.3%), which said the chunk pass was not waiting on HBM; if v6's pipelined pass
# is bound by its loads' latency, L2-resident chunks would now show.
penv=COSTCURVE_TOPK_V6=1
# shellcheck disable=SC2086
probe topk128k-v6-bulk --op topk --len 131072 $dec --env COSTCURVE_TOPK_BULK_PREFETCH=1
penv=
# shellcheck disable=SC2086
probe dense128k --op dense_decode --len 131072 $dec --runs 10 --env COSTCURVE_MQA_TMA=0 \
  --env COSTCURVE_MQA_TMA=
# The sweep takes the faster of the fp8 seesaw (v5.3) and its f16 form (v5.9) where the probe just
# measured it validated and at least 5% faster than the one-tile kernel (its results record the
# variable in context.kernel_env, as for top-k v6 below).
fp8env=
f=$w/probe/sparse-fp8-128k.txt
[ -f "$f" ] && fp8env=$(awk '$6 == "pass" && $1 == "default" { d = $2 }
    $6 == "pass" && $1 == "COSTCURVE_MQA_FP8_F16=1" { h = $2 }
    $6 == "pass" && $1 == "COSTCURVE_MQA_SEESAW_FP8=" { o = $2 }
    END {
      if (o <= 0) exit
      if (h > 0 && h <= 0.95 * o && (d <= 0 || h < d)) print "COSTCURVE_MQA_FP8_F16=1"
      else if (d > 0 && d <= 0.95 * o) print "COSTCURVE_MQA_SEESAW_FP8=1"
    }' "$f")
# Likewise top-k v6, where both probes validated it, decode (B=32) at least 5% faster than v5 and
# prefill no more than 2% slower.
topkenv=
d=$w/probe/topk128k.txt f=$w/probe/topk-prefill128k.txt
[ -f "$d" ] && [ -f "$f" ] && topkenv=$(awk 'FNR == 1 { file++ }
    $1 == "COSTCURVE_TOPK_V6=1" && $6 == "pass" { r[file] = $5 }
    END { if (r[1] > 0 && r[1] <= 0.95 && r[2] > 0 && r[2] <= 1.02) print "COSTCURVE_TOPK_V6=1" }' \
  "$d" "$f")
echo "sweep with: ${fp8env:-} ${topkenv:-} (empty: the defaults)" | tee -a "$o/summary.txt"
stages=sweep
# shellcheck disable=SC2086
step sweep 0 SCENARIOS="$v32 $v31" $fp8env $topkenv
# Each sweep against results/h100-v10/ (the last full sweep's defaults), ready to read on return.
for sc in $v32 $v31; do
  [ -f "$w/sweep/$sc.json" ] || continue
  build-gpu/costcurve compare "results/h100-v10/$sc.json" "$w/sweep/$sc.json" \
    --markdown "$w/sweep/compare-h100-v10.$sc.md" >"$w/sweep/compare-h100-v10.$sc.txt" 2>&1
  echo "compare $sc: exit $?" | tee -a "$o/summary.txt"
done
pack
echo "total $(($(date +%s) - start)) s" | tee -a "$o/summary.txt"
