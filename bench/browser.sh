#!/usr/bin/env bash
# Detection speed in the browser and natively on the same 640x480 frame, in one run.
#
#   bench/browser.sh [PHOTO]        (default: the first validation photo)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"
photo="${1:-}"
if [ -z "$photo" ]; then
    photo="../shared/data/val/images/$(sed -n 1p ../shared/data/val/labels.txt)"
fi
photo=$(realpath "$photo")

./build.sh >/dev/null
echo "== browser"
node bench/browser_peers.mjs speed --frame "$photo" --detectors ssdface@webgpu,ssdface@cpu \
    --out bench/out/browser_ssdface.json
echo "== native"
cargo bench --bench detection -- --frame "$photo" 2>/dev/null | grep -v '^$'
