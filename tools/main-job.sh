#!/bin/sh
# The main job: install what is missing, build, check every kernel against its float64 reference,
# then run the default CPU sweep. Re-running it resumes an interrupted sweep of the same build.
set -eu
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -G Ninja
cmake --build build
./build/costcurve validate
sha=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
./build/costcurve sweep scenarios/cpu-default.json --out "results/cpu-default.$(hostname -s).$sha.json" --resume
