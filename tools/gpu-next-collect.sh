#!/bin/sh
# Files what one tools/gpu-next.sh call brought back into results/DIR, named by the build's short
# SHA, and prices and reports its sweeps, so that a session with little device time spends none of
# it on bookkeeping:
#
#   sh tools/gpu-next-collect.sh DIR FILES_AT SHA [BUILD]
#
# DIR: the results folder (results/DIR, created if missing); FILES_AT: where the device tool left
# steps.tgz; SHA: the commit the call built (COSTCURVE_GIT_SHA); BUILD: the local build folder
# whose costcurve prices the sweeps (default build). What it writes:
#   results/DIR/logs/summary.SHA7.txt            the call's summary
#   results/DIR/logs/<log>.SHA7.<ext>            each step's logs (build, sass, tests, sweeps)
#   results/DIR/probe/<name>.SHA7.txt            costcurve_probe's tables
#   results/DIR/<scenario>.json                  the sweeps, as they came back
#   results/DIR/compare-h100-v10.<scenario>.md   the device's compare against results/h100-v10
#   results/DIR/{h100,h800}.cost.{json,csv}, results/DIR/report/  priced as in h100-v10's PROVENANCE
# and prints the README's kernel table against results/h100-v10. PROVENANCE.md and the notes are
# for a person to write: this script only moves and computes.
set -eu
[ $# -ge 3 ] || {
  sed -n '2,17p' "$0" >&2
  exit 2
}
dir=results/$1 sha=$3 build=${4:-build}
at=$(cd "$2" 2>/dev/null && pwd) || {
  echo "gpu-next-collect: no folder $2" >&2
  exit 1
}
die() {
  echo "gpu-next-collect: $*" >&2
  exit 2
}
case $1 in */* | .* | "") die "DIR must be one plain folder name, not '$1'" ;; esac
case $sha in *[!0-9a-f]* | "") die "SHA must be hex, not '$sha'" ;; esac
[ -f "$at/steps.tgz" ] || {
  echo "gpu-next-collect: no steps.tgz in $at" >&2
  exit 1
}
s7=$(echo "$sha" | cut -c1-7)
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$at/steps.tgz"
mkdir -p "$dir/logs"
[ -f "$at/summary.txt" ] && cp "$at/summary.txt" "$dir/logs/summary.$s7.txt"
# Each step's logs.tgz holds logs/; its own summary.txt is the step's part of the call's summary.
for step in "$tmp"/*/; do
  name=$(basename "$step")
  if [ -f "$step/logs.tgz" ]; then
    mkdir -p "$tmp/x/$name"
    tar -C "$tmp/x/$name" -xzf "$step/logs.tgz"
    for f in "$tmp/x/$name"/logs/*; do
      [ -f "$f" ] || continue
      b=$(basename "$f")
      case $b in
        *.*) dst="${b%.*}.$s7.${b##*.}" ;;
        *) dst="$b.$s7" ;;
      esac
      # device.txt comes from every step; keep the build's.
      [ "$b" = device.txt ] && [ "$name" != build ] && continue
      cp "$f" "$dir/logs/$dst"
    done
  fi
  [ -f "$step/summary.txt" ] && cp "$step/summary.txt" "$dir/logs/summary-$name.$s7.txt"
done
if [ -d "$tmp/probe" ]; then
  mkdir -p "$dir/probe"
  for f in "$tmp"/probe/*.txt; do
    [ -f "$f" ] && cp "$f" "$dir/probe/$(basename "$f" .txt).$s7.txt"
  done
fi
scen=""
for f in "$tmp"/sweep/*.json "$tmp"/sweep/compare-*.md; do
  [ -f "$f" ] || continue
  cp "$f" "$dir/"
  case $f in *.json) scen="$scen $dir/$(basename "$f")" ;; esac
done
echo "filed into $dir:"
find "$dir" -type f -name "*.$s7.*" | sort | sed 's/^/  /'
for f in $scen; do echo "  $f"; done
[ -n "$scen" ] || {
  echo "no sweeps came back: nothing to price"
  exit 0
}
cc=$build/costcurve
# shellcheck disable=SC2086
"$cc" cost $scen --hardware h100-sxm --price h100 --deployment deepseek-h800 \
  --request 32768:1024 --out "$dir/h100.cost.json" --csv "$dir/h100.cost.csv"
# shellcheck disable=SC2086
"$cc" cost $scen --hardware h800-sxm --price h800 --deployment deepseek-h800 \
  --measured-on h100-sxm --calibrate deepseek-v3-h800-2025-02 --request 32768:1024 \
  --out "$dir/h800.cost.json" --csv "$dir/h800.cost.csv"
# shellcheck disable=SC2086
"$cc" report $scen --cost "$dir/h100.cost.json" --cost "$dir/h800.cost.json" --out "$dir/report"
# shellcheck disable=SC2086
python3 tools/kernel_table.py $scen --before results/h100-v10/deepseek-v3.2.json \
  results/h100-v10/deepseek-v3.1-terminus.json
