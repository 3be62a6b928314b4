#!/bin/sh
# Installs what costcurve needs from Debian 12's packages, and only what is missing.
# Run as root (or with sudo available). The CUDA toolkit is not a Debian package: when nvcc is at
# /usr/local/cuda the CUDA backend is built too, otherwise the build is CPU-only.
set -eu
# The fuzz build (tools/fuzz.sh): clang 14, its OpenMP, and libclang-rt-14-dev, which holds the
# ASan/UBSan runtimes and the libFuzzer that -fsanitize=fuzzer links (clang-14 only recommends it;
# Debian's libfuzzer-14-dev, a standalone libFuzzer.a, is not needed).
packages="build-essential cmake ninja-build git libopenblas-dev nlohmann-json3-dev libcli11-dev
libbenchmark-dev libgtest-dev gnuplot-nox clang-14 libclang-rt-14-dev libomp-14-dev"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
