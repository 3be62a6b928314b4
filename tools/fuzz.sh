#!/bin/sh
# Builds the libFuzzer targets (fuzz/: clang, every library under ASan + UBSan) in build-fuzz/ and
# runs each for SECONDS_PER_TARGET (default 45) over a scratch copy of its seed corpus
# tests/fuzz_corpus/<target>/ (new inputs never go into the repository). Exits 1 when a target
# finds something (a crash, an unexpected exception, a sanitizer report, a timeout, running out of
# memory) and prints where the input that triggers it was saved and how to reproduce it.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Environment: COSTCURVE_FUZZ_BUILD (build directory, default build-fuzz; one configured with
# COSTCURVE_FUZZ=ON, such as the asan preset's build-asan, is reused), CXX_FUZZ (clang++),
# COSTCURVE_FUZZ_JOBS (targets at a time, default: the CPUs).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-45}
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_scenario fuzz_results fuzz_specs fuzz_compare"}
build=${COSTCURVE_FUZZ_BUILD:-build-fuzz}
case "$seconds" in '' | *[!0-9]*)
  echo "usage: tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
  ;;
esac

cxx=${CXX_FUZZ:-}
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then
      cxx=$c
      break
    fi
  done
fi
if [ -z "$cxx" ]; then
  echo "fuzz: no clang++ (tools/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 2
fi
cc=$(echo "$cxx" | sed 's/clang++/clang/')

start=$(date +%s)
# A build directory already configured with the fuzz targets (the asan preset's build-asan, which
# .ci/run has just built and tested) is reused as it is: its libraries are the instrumented ones.
if ! grep -qs '^COSTCURVE_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
    -DCOSTCURVE_FUZZ=ON -DCOSTCURVE_CUDA=OFF -DCOSTCURVE_TESTS=OFF -DCOSTCURVE_BENCH=OFF >/dev/null
fi
cmake --build "$build" --target costcurve_fuzzers
echo "fuzz: built in $(($(date +%s) - start)) s"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/costcurve-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
artifacts="$root/$build/fuzz-artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Targets run side by side, as many at a time as there are CPUs (COSTCURVE_FUZZ_JOBS): each
# libFuzzer process is single-threaded, so on CI's 2 cores two targets fuzz for the same time each
# in half the wall time.
jobs=${COSTCURVE_FUZZ_JOBS:-$(nproc)}
fuzz_one() {
  t=$1
  # Long enough for the largest seeds (two results documents for fuzz_compare), short enough to
  # keep executions fast.
  case "$t" in
    fuzz_compare) max_len=65536 ;;
    fuzz_results) max_len=32768 ;;
    fuzz_scenario) max_len=8192 ;;
    *) max_len=4096 ;;
  esac
  rc=0
  "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -dict=fuzz/costcurve.dict -artifact_prefix="$artifacts/$t/" -print_final_stats=1 \
    "$scratch/$t" >"$artifacts/$t/fuzz.log" 2>&1 || rc=$?
  echo "$rc" >"$artifacts/$t/rc"
}

running=0
for t in $targets; do
  rm -rf "${artifacts:?}/$t"
  mkdir -p "$scratch/$t" "$artifacts/$t"
  cp "tests/fuzz_corpus/$t/"* "$scratch/$t/"
  echo "fuzz: $t for $seconds s (corpus $(ls "$scratch/$t" | wc -l) seeds)"
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait
    running=0
  fi
done
wait

failed=""
for t in $targets; do
  log="$artifacts/$t/fuzz.log"
  rc=$(cat "$artifacts/$t/rc" 2>/dev/null || echo 1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $t ok: ${runs:-?} runs, ${rate:-?} exec/s, $cov, corpus now $(ls "$scratch/$t" | wc -l)"
  else
    failed="$failed $t"
    echo "fuzz: $t FAILED (exit $rc); the end of its log ($log):"
    grep -v '^#[0-9]' "$log" | tail -n 40
    for f in "$artifacts/$t"/crash-* "$artifacts/$t"/leak-* "$artifacts/$t"/timeout-* \
      "$artifacts/$t"/oom-*; do
      [ -e "$f" ] || continue
      echo "fuzz: $t input saved at $f"
      echo "fuzz:   reproduce: $build/$t $f"
    done
  fi
done
echo "fuzz: done in $(($(date +%s) - start)) s"
if [ -n "$failed" ]; then
  echo "fuzz: findings in:$failed" >&2
  exit 1
fi
