#!/bin/sh
# Everything costcurve does on a bare GPU machine, in one go: build with CUDA for Hopper, run the
# test suite (GPU tests for real), compute-sanitizer (memcheck, racecheck) over the CUDA tests,
# check every CUDA kernel against the float64 reference, measure the ceilings, and sweep the two
# DeepSeek scenarios on the CUDA backend. Logs and results go to $OUT (default /tmp/gpu-run).
#
#   COSTCURVE_GIT_SHA=<sha> sh tools/gpu-run.sh [STAGE...]
#
# STAGE: build test sanitize validate probe ceilings sweep (default: all, in that order; ab and
# profile on request, see below); probe
# times L2-resident kernels hot and after each way of flushing (tools/l2_probe.cu); cudatest runs
# only the CUDA tests (TEST_FILTER, a gtest filter, narrows them and the sanitizer run; they run
# as TEST_SHARDS concurrent gtest shards, default 4, into one log) and sass
# counts each kernel's matrix, spill and barrier instructions (logs/sass.txt), both for kernel work.
# SCENARIOS (default: both DeepSeek sweeps) and SWEEP_FILTER (a sweep --filter regex) narrow the
# sweep stage; a filtered sweep writes <scenario>.<RESULTS_TAG or filtered>.json.
# ab (not in the default list): the points AB_FILTER selects (default 'dense_prefill') swept with
# the default kernels (<scenario>.ab-base.json), then with AB_ENV set (default: the opt-in kernel,
# COSTCURVE_PREFILL_OVERLAP=1; <scenario>.ab-optin.json), and `costcurve compare` of the two
# (logs/ab-<scenario>.md): before and after on one card, one call. AB_SCENARIOS (default:
# SCENARIOS) narrows it to the scenarios that hold such points.
# profile (not in the default list): Nsight Compute over PROFILE_COUNT (default 1) launches of
# the kernels PROFILE_KERNELS names (an ncu --kernel-name regex, default 'topk'), after skipping
# PROFILE_SKIP (default 3: validation and warm-up) of them, in a sweep of the points
# PROFILE_FILTER selects (default: top-k decode at B=32, 128K) of PROFILE_SCENARIO (default
# deepseek-v3.2); clocks as the benchmark leaves them (--clock-control none). Each run of the
# stage adds logs/ncu-N.txt (the details page) and ncu-N.ncu-rep (for the Nsight Compute GUI).
# PROFILE_SOURCE=1 adds Nsight Compute's source counters (stall samples and memory transactions per
# line; build with CUDA_FLAGS=-lineinfo for CUDA lines) and exports that page as
# logs/ncu-N-source.csv.gz. CUDA_FLAGS (default empty) goes to CMAKE_CUDA_FLAGS at the build.
# BACKEND (default cuda) lets the stages run on a CPU, to check this script.
# BUDGET_S (default 560): the sweeps stop cleanly before the run has taken this many seconds; a
# sweep cut short resumes next time from results/$RESULTS_NAME/, where the partial results of an
# earlier run of the same build (COSTCURVE_GIT_SHA) are looked for (copy them there and run again).
# Header-only packages missing on the GPU machine travel in .deps (CLI11 unpacked from Debian's
# package with dpkg -x); the tree may arrive without .git, hence COSTCURVE_GIT_SHA.
set -eu
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-run}
budget=${BUDGET_S:-560}
name=${RESULTS_NAME:-h100}
start=$(date +%s)
stages=${*:-build test sanitize validate probe ceilings sweep}
scenarios=${SCENARIOS:-deepseek-v3.1-terminus deepseek-v3.2}
cuda_filter=${TEST_FILTER:-'*cuda*:*Cuda*:*/1'}
san_filter=${TEST_FILTER:-'AllOps/KernelTest.*/cuda_*:Backends/EdgeTest.*/1:Cuda/CudaPrefillTest.*:Cuda/CudaTopk.*'}
mkdir -p "$out/logs"
summary="$out/summary.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }
has() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }
left() { echo $((budget - ($(date +%s) - start))); }
# Points of a results file with the given status (0 when the file is missing).
count() { n=$(grep -cE "\"status\": \"$1\"" "$2" 2>/dev/null) || true; echo "${n:-0}"; }
bin=build-gpu
backend=${BACKEND:-cuda}

{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.limit,temperature.gpu --format=csv
  nvcc --version | tail -2
  nproc
} >"$out/logs/device.txt" 2>&1 || true
say "device: $(sed -n 2p "$out/logs/device.txt")"

if has build; then
  gen=""
  command -v ninja >/dev/null 2>&1 && gen="-G Ninja"
  cli11=""
  [ -d .deps/cli11 ] && cli11="-DCLI11_DIR=$PWD/.deps/cli11/usr/share/cmake/CLI11"
  # shellcheck disable=SC2086
  cmake -S . -B $bin $gen -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a $cli11 \
    -DCMAKE_CUDA_FLAGS="${CUDA_FLAGS:-}" \
    >"$out/logs/configure.log" 2>&1 || { tail -30 "$out/logs/configure.log"; exit 1; }
  cmake --build $bin -j "$(nproc)" >"$out/logs/build.log" 2>&1 || {
    grep -E "error|Error" "$out/logs/build.log" | head -30
    exit 1
  }
  ./$bin/costcurve version >>"$out/logs/device.txt"
  say "build: ok ($(($(date +%s) - start)) s)"
fi

rc=0
if has test; then
  (cd $bin && ctest -j 8 --timeout 300 --output-on-failure >"$out/logs/ctest.log" 2>&1) || rc=1
  say "ctest: $(grep -E 'tests passed|tests failed' "$out/logs/ctest.log")"
  grep -E "\(Failed\)|\(Timeout\)" "$out/logs/ctest.log" | head -20 | tee -a "$summary" || true
fi
if has test || has cudatest; then
  # Four gtest shards at once: the float64 references run on the host's cores while the GPU is
  # shared. On an H100 host the CUDA tests took 116 s in one process (h100-v7) and 68 s as four
  # processes split by test suite (h100-v8's A/B call); gtest's own sharding, used here, has not
  # run there yet.
  shards=${TEST_SHARDS:-4}
  i=0
  pids=""
  while [ $i -lt "$shards" ]; do
    GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i ./$bin/costcurve_tests \
      --gtest_filter="$cuda_filter" >"$out/logs/cuda-tests.$i.log" 2>&1 &
    pids="$pids $!"
    i=$((i + 1))
  done
  for pid in $pids; do wait "$pid" || rc=1; done
  cat "$out"/logs/cuda-tests.*.log >"$out/logs/cuda-tests.log" && rm -f "$out"/logs/cuda-tests.*.log
  say "cuda tests: $(grep -cE '^\[       OK' "$out/logs/cuda-tests.log") ok," \
    "$(grep -cE '^\[  SKIPPED \] .*\([0-9]+ ms\)$' "$out/logs/cuda-tests.log") skipped," \
    "$(grep -cE '^\[  FAILED  \] .*\([0-9]+ ms\)$' "$out/logs/cuda-tests.log") failed"
  grep -E "^\[  FAILED  \] [A-Z]|Failure|rel_l2" "$out/logs/cuda-tests.log" | head -30 | tee -a "$summary" || true
fi

if has sanitize; then
  san=/usr/local/cuda/bin/compute-sanitizer
  [ -x $san ] || san=$(command -v compute-sanitizer || echo "")
  if [ -n "$san" ]; then
    for tool in memcheck racecheck; do
      timeout 200 "$san" --tool $tool --error-exitcode 3 ./$bin/costcurve_tests \
        --gtest_filter="$san_filter" \
        >"$out/logs/sanitizer-$tool.log" 2>&1 && s=clean || s="exit $?"
      say "compute-sanitizer $tool: $s; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/logs/sanitizer-$tool.log" | tail -1)"
    done
  else
    say "compute-sanitizer: not found"
  fi
fi

if has sass; then
  # Per kernel: wgmma (HGMMA/QGMMA), legacy MMA, local-memory traffic (spills) and barriers.
  objs=$(find $bin/kernels -name '*.cu.o')
  for o in $objs; do
    cuobjdump -sass "$o" 2>/dev/null | awk -v f="$(basename "$o")" '
      /Function :/ { fn = $3 }
      { for (i = 1; i <= NF; ++i) if ($i ~ /^(HGMMA|QGMMA|HMMA|LDL|STL|BAR|SYNCS)/) { split($i, a, "."); c[fn " " a[1]]++ } }
      END { for (k in c) print f, k, c[k] }'
  done | sort >"$out/logs/sass.txt"
  say "sass: $(grep -c . "$out/logs/sass.txt") kernel/instruction counts in logs/sass.txt"
  grep -E "prefill_wgmma" "$out/logs/sass.txt" | tee -a "$summary" || true
fi

if has validate; then
  ./$bin/costcurve validate --backend cuda >"$out/logs/validate-cuda.txt" 2>&1 || rc=1
  tail -25 "$out/logs/validate-cuda.txt" | tee -a "$summary"
fi

if has probe; then
  nvcc -O3 -gencode=arch=compute_90a,code=sm_90a tools/l2_probe.cu -o $bin/l2_probe &&
    ./$bin/l2_probe >"$out/logs/l2-probe.txt" 2>&1 || rc=1
  tee -a "$summary" <"$out/logs/l2-probe.txt"
fi

if has ceilings; then
  ./$bin/costcurve ceilings --backend cuda --out "$out/ceilings-cuda.json" >"$out/logs/ceilings.txt" 2>&1 || rc=1
  tee -a "$summary" <"$out/logs/ceilings.txt"
fi

if has sweep; then
  for s in $scenarios; do
    dst="$out/$s.json"
    filter=""
    if [ -n "${SWEEP_FILTER:-}" ]; then
      dst="$out/$s.${RESULTS_TAG:-filtered}.json"
      filter="--filter $SWEEP_FILTER"
    fi
    # Resumed only from a file of this very build: --resume refuses another build's file.
    src="results/$name/$(basename "$dst")"
    if [ -f "$src" ] && grep -q "\"git_sha\": \"${COSTCURVE_GIT_SHA:-unknown}\"" "$src"; then
      cp "$src" "$dst"
    fi
    t=$(left)
    if [ "$t" -le 20 ]; then
      say "sweep $s: no time left"
      continue
    fi
    # SIGINT first: the sweep finishes the file it is writing; every finished point is kept.
    # shellcheck disable=SC2086
    timeout -s INT -k 15 "$t" ./$bin/costcurve sweep "scenarios/$s.json" --backend "$backend" $filter \
      --out "$dst" --resume >"$out/logs/sweep-$s.log" 2>&1 && st=done || st="stopped (exit $?)"
    say "sweep $s: $st; $(count ok "$dst") points ok"
    tail -3 "$out/logs/sweep-$s.log" | tee -a "$summary"
  done
fi

if has ab; then
  ab_filter=${AB_FILTER:-dense_prefill}
  ab_env=${AB_ENV:-COSTCURVE_PREFILL_OVERLAP=1}
  for s in ${AB_SCENARIOS:-$scenarios}; do
    for side in base optin; do
      t=$(left)
      if [ "$t" -le 20 ]; then
        say "ab $s $side: no time left"
        continue
      fi
      dst="$out/$s.ab-$side.json"
      run_env=""
      [ "$side" = optin ] && run_env=$ab_env
      # shellcheck disable=SC2086
      timeout -s INT -k 15 "$t" env $run_env ./$bin/costcurve sweep "scenarios/$s.json" \
        --backend "$backend" --filter "$ab_filter" --out "$dst" \
        >"$out/logs/ab-$s-$side.log" 2>&1 && st=done || st="stopped (exit $?)"
      say "ab $s $side ($run_env): $st; $(count ok "$dst") points ok, $(count failed "$dst") failed"
    done
    if [ -f "$out/$s.ab-base.json" ] && [ -f "$out/$s.ab-optin.json" ]; then
      # Exit 1 means the opt-in side was slower somewhere: reported, not a failure of this run.
      ./$bin/costcurve compare "$out/$s.ab-base.json" "$out/$s.ab-optin.json" \
        --markdown "$out/logs/ab-$s.md" >"$out/logs/ab-$s.txt" 2>&1 || true
      cat "$out/logs/ab-$s.md" >>"$summary" 2>/dev/null || true
      grep -E "^\|" "$out/logs/ab-$s.md" 2>/dev/null | head -30 || true
    fi
  done
fi

if has profile; then
  ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
  pf=${PROFILE_FILTER:-'topk/decode/L131072/B32/'}
  ps=${PROFILE_SCENARIO:-deepseek-v3.2}
  n=$(ls "$out"/ncu-*.ncu-rep 2>/dev/null | wc -l)
  t=$(left)
  if [ ! -x "$ncu" ]; then
    say "profile: ncu not found"
  elif [ "$t" -le 30 ]; then
    say "profile: no time left"
  else
    srcsec=""
    [ "${PROFILE_SOURCE:-0}" = 1 ] && srcsec="--section SourceCounters --import-source yes"
    # shellcheck disable=SC2086
    timeout -k 10 "$t" "$ncu" --clock-control none --kernel-name "regex:${PROFILE_KERNELS:-topk}" \
      --launch-skip "${PROFILE_SKIP:-3}" --launch-count "${PROFILE_COUNT:-1}" $srcsec --section SpeedOfLight \
      --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section WarpStateStats \
      --section LaunchStats --section Occupancy --section SchedulerStats -f -o "$out/ncu-$n" \
      ./$bin/costcurve sweep "scenarios/$ps.json" --backend "$backend" --filter "$pf" \
      --out "$out/logs/profile-$n.json" >"$out/logs/ncu-$n.log" 2>&1 && st=done || st="exit $?"
    "$ncu" --import "$out/ncu-$n.ncu-rep" --page details >"$out/logs/ncu-$n.txt" 2>&1 || true
    if [ -n "$srcsec" ]; then
      "$ncu" --import "$out/ncu-$n.ncu-rep" --page source --csv --print-source cuda,sass 2>&1 |
        gzip >"$out/logs/ncu-$n-source.csv.gz" || true
    fi
    say "profile $pf ($ps): $st; $(grep -cE '^  [A-Za-z_].*\(' "$out/logs/ncu-$n.txt" 2>/dev/null || echo 0) kernels in logs/ncu-$n.txt"
    grep -E "^  [A-Za-z_].*\(|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Registers Per|Achieved Occupancy" \
      "$out/logs/ncu-$n.txt" 2>/dev/null | head -40 | tee -a "$summary" || true
  fi
fi

tar -C "$out" -czf "$out/logs.tgz" logs && rm -rf "$out/logs"
say "total $(($(date +%s) - start)) s"
exit $rc
