#!/bin/sh
# The main job: install what is missing, build, check every kernel against its float64 reference,
# then run the default CPU sweep, price it (this CPU; projected to H800) and write the report.
# Re-running it resumes an interrupted sweep of the same build.
set -eu
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -G Ninja
cmake --build build
./build/costcurve validate
sha=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
out="results/cpu-default.$(hostname -s).$sha"
./build/costcurve sweep scenarios/cpu-default.json --out "$out.json" --resume
# Price the curves on this machine, then project them to DeepSeek's H800 deployment.
./build/costcurve cost "$out.json" --hardware cpu-epyc-2core --price cpu-epyc-2core \
  --deployment single-cpu --request 32768:1024 --out "$out.cost.json" --csv "$out.cost.csv"
./build/costcurve cost "$out.json" --hardware h800-sxm --price h800 --deployment deepseek-h800 \
  --measured-on cpu-epyc-2core --calibrate deepseek-v3-h800-2025-02 --request 32768:1024 \
  --out "$out.h800.cost.json" --csv "$out.h800.cost.csv"
./build/costcurve report "$out.json" --cost "$out.cost.json" --cost "$out.h800.cost.json" --out "$out.report"
echo "open $out.report/index.html"
