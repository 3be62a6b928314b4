#!/bin/sh
# The main job: install what is missing, build, check every kernel against its float64 reference,
# sweep, price the curves and write the report. Re-running it resumes an interrupted sweep of the
# same build.
#
#   tools/main-job.sh                  the default CPU sweep; priced on this CPU and projected to H800
#   tools/main-job.sh --backend cuda   the DeepSeek V3.1/V3.2 sweeps on this machine's GPU; priced on
#                                      it (as HARDWARE, default h100-sxm) and projected to H800
set -eu
cd "$(dirname "$0")/.."
backend=cpu
if [ "${1:-}" = "--backend" ]; then backend=${2:?--backend needs cpu or cuda}; fi
case $backend in cpu | cuda) ;; *) echo "main-job: unknown backend '$backend' (cpu or cuda)" >&2; exit 2 ;; esac

if [ "$backend" = cuda ]; then
  # GPU machines are often not Debian: build with what is there (CLI11 may come from .deps).
  ./tools/install-deps.sh || echo "main-job: install-deps failed; building with what is installed"
else
  ./tools/install-deps.sh
fi
gen=""
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"
extra=""
[ -d .deps/cli11 ] && extra="-DCLI11_DIR=$PWD/.deps/cli11/usr/share/cmake/CLI11"
[ "$backend" = cuda ] && extra="$extra -DCOSTCURVE_CUDA=ON"
# shellcheck disable=SC2086
cmake -S . -B build $gen $extra
cmake --build build -j "$(nproc)"
./build/costcurve validate --backend "$backend"
sha=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "${COSTCURVE_GIT_SHA:-unknown}" | cut -c1-12)

if [ "$backend" = cpu ]; then
  out="results/cpu-default.$(hostname -s).$sha"
  ./build/costcurve sweep scenarios/cpu-default.json --out "$out.json" --resume
  results="$out.json"
  here=cpu-epyc-2core
  price=cpu-epyc-2core
  deployment=single-cpu
  # The CPU spec is one measurement of a machine class whose hosts differ (copy bandwidth 47-97
  # GB/s seen): project from what this run measured.
  from_ceilings=--from-ceilings
else
  out="results/gpu.$(hostname -s).$sha"
  for s in deepseek-v3.1-terminus deepseek-v3.2; do
    ./build/costcurve sweep "scenarios/$s.json" --backend cuda --out "$out.$s.json" --resume
  done
  results="$out.deepseek-v3.1-terminus.json $out.deepseek-v3.2.json"
  here=${HARDWARE:-h100-sxm}
  price=${PRICE:-h100}
  deployment=deepseek-h800
  from_ceilings=""
fi

# Price the curves on this machine, then project them to DeepSeek's H800 deployment.
# shellcheck disable=SC2086
./build/costcurve cost $results --hardware "$here" --price "$price" --deployment "$deployment" \
  --request 32768:1024 --out "$out.cost.json" --csv "$out.cost.csv"
# shellcheck disable=SC2086
./build/costcurve cost $results --hardware h800-sxm --price h800 --deployment deepseek-h800 \
  --measured-on "$here" $from_ceilings --calibrate deepseek-v3-h800-2025-02 --request 32768:1024 \
  --out "$out.h800.cost.json" --csv "$out.h800.cost.csv"
# shellcheck disable=SC2086
./build/costcurve report $results --cost "$out.cost.json" --cost "$out.h800.cost.json" \
  --out "$out.report"
echo "open $out.report/index.html"
