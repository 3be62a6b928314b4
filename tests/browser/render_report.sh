#!/bin/sh
# Renders a costcurve report in headless Chromium and checks that it shows its plots.
# usage: render_report.sh COSTCURVE SOURCE_DIR WORK_DIR   (exit 77: skipped, no Chromium)
set -eu
costcurve=$1 src=$2 work=$3
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then echo "Chromium not installed: skipping the browser test"; exit 77; fi
rm -rf "$work" && mkdir -p "$work"
results=$(ls "$src"/results/cpu-default.*.json | grep -v '\.cost\.json$' | head -n 1)
set -- 
for c in "$src"/results/cpu-default.*.cost.json; do set -- "$@" --cost "$c"; done
"$costcurve" report "$results" "$@" --out "$work/report"
flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars --user-data-dir=$work/profile"
# The DOM as the browser built it: the inline SVG plots must be there.
# shellcheck disable=SC2086
"$chromium" $flags --dump-dom "file://$work/report/index.html" > "$work/dom.html" 2>/dev/null
svgs=$(grep -o '<svg' "$work/dom.html" | wc -l)
echo "the browser sees $svgs inline SVG plots"
[ "$svgs" -ge 5 ] || { echo "expected at least 5 plots in the page"; exit 1; }
# shellcheck disable=SC2086
"$chromium" $flags --window-size=1400,2400 --screenshot="$work/page.png" "file://$work/report/index.html" 2>/dev/null
python3 "$src/tests/browser/png_stats.py" "$work/page.png"
