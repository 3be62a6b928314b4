#!/bin/sh
# One call on a lent GPU machine (see the device tool): build with CUDA for Hopper, run the test
# suite there (GPU tests run for real), measure the CUDA backend's ceilings. Logs go to $OUT.
# Header-only packages missing there travel in .deps (CLI11 from Debian, unpacked with dpkg -x).
# The tree arrives without .git: run it as COSTCURVE_GIT_SHA=<sha> sh tools/device-check.sh.
set -eu
out=${OUT:-/tmp/device-out}
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks.max.sm --format=csv; nvcc --version | tail -1; } > "$out/device.txt" 2>&1 || true
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DCLI11_DIR="$PWD/.deps/cli11/usr/share/cmake/CLI11" > "$out/configure.log" 2>&1
cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
./build-gpu/costcurve version | tee -a "$out/device.txt"
rc=0
(cd build-gpu && ctest -j 8 --output-on-failure --timeout 300) > "$out/ctest.log" 2>&1 || rc=$?
grep -E "tests passed|tests failed|\(Failed\)" "$out/ctest.log" || true
./build-gpu/costcurve_tests --gtest_filter='*cuda*:Cuda*' > "$out/cuda-tests.log" 2>&1 || rc=1
grep -E "PASSED|FAILED|SKIPPED \]" "$out/cuda-tests.log" | head -20
./build-gpu/costcurve validate --backend cuda --op gemm | tee "$out/validate-cuda.txt" || rc=1
./build-gpu/costcurve ceilings --backend cuda --out "$out/ceilings-cuda.json" | tee "$out/ceilings-cuda.txt" || rc=1
exit $rc
