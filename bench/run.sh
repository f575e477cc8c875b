#!/usr/bin/env bash
# ssdface next to established face detectors: accuracy, speed and size, in one run.
#
#   bench/run.sh            writes BENCHMARKS.md and bench/results/*.png, raw results in bench/out/
#   SSDFACE_WEIGHTS=model.ssdface bench/run.sh    another model than the bundled one (the
#                                                 browser pages always run the bundled one)
#   BENCH_QUICK=1 bench/run.sh                    few rounds: checks the pipeline in minutes
#
# Set-up is part of the run and skipped when done: a Python virtualenv in bench/.venv
# (bench/requirements.txt), the browser peers' npm packages in bench/node_modules, the release
# build and the WebAssembly build. Peers come from ../shared/peer-models (native) and npm
# (browser); nothing is downloaded while measuring. Not part of the tests: a full run takes
# about an hour on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"
out=bench/out
data=../shared/data/val
wider=../shared/data/wider-dev
python=bench/.venv/bin/python

step() { printf '\n== %s\n' "$*"; }

step "set-up"
[ -x "$python" ] || python3 -m venv bench/.venv
if ! cmp -s bench/requirements.txt bench/.venv/requirements.txt; then
    "$python" -m pip install -q -r bench/requirements.txt
    cp bench/requirements.txt bench/.venv/requirements.txt
fi
if ! cmp -s bench/package-lock.json bench/node_modules/.package-lock.json; then
    npm install --prefix bench --no-audit --no-fund
fi
[ -d tests/browser/node_modules/playwright-core ] || npm install --prefix tests/browser --no-audit --no-fund
cargo build --release --quiet
ssdface="$CARGO_TARGET_DIR/release/ssdface"
weights=${SSDFACE_WEIGHTS:-models/default-320.ssdface}
[ -f "$weights" ] || { echo "no weights at $weights: set SSDFACE_WEIGHTS" >&2; exit 1; }
weights=$(realpath "$weights")
./build.sh >/dev/null
photo=$(realpath "$data/images/$(sed -n 1p "$data/labels.txt")")
mkdir -p "$out"

if [ -n "${BENCH_QUICK:-}" ]; then
    rounds=2 runs=5 frames=3 steps=2
else
    rounds=5 runs=10 frames=20 steps=5
fi

# The peers' boxes on wasm equal their boxes on the (software) GPU backends, in a fraction
# of the time here.
wasm_peers=faceapi-ssd-mobilenetv1@wasm,faceapi-tiny@wasm,human-blazeface@wasm

# Every detector's WIDER submission files under $3: ssdface's from `ssdface eval --data $1`
# (whose own evaluation lands in $4, rewritten by the scoring below), the peers' from the
# photos in $2.
predict_all() {
    local data=$1 photos=$2 predictions=$3 own_eval=$4
    "$ssdface" eval --data "$data" --weights "$weights" --out "$own_eval" >/dev/null
    mkdir -p "$predictions"
    mv "$own_eval/predictions" "$predictions/ssdface"
    "$python" bench/native_peers.py predict --data "$photos" --out "$predictions"
    node bench/browser_peers.mjs predict --data "$photos" --out "$predictions" \
        --detectors "$wasm_peers"
}

step "accuracy: predictions on $data"
rm -rf "$out/predictions" "$out/eval"
predict_all "$data" "$data" "$out/predictions" "$out/eval/ssdface-iou50"

step "accuracy: predictions on $wider (WIDER FACE easy, medium, hard)"
# The settings list the same images; the peers predict once (on easy/'s copy) and every
# detector's boxes are scored against the three settings by one `ssdface eval`.
rm -rf "$out/wider-predictions" "$out/wider-eval"
predict_all "$wider" "$wider/easy" "$out/wider-predictions" "$out/wider-eval/ssdface"
for predictions in "$out"/wider-predictions/*/; do
    name=$(basename "$predictions")
    "$ssdface" eval --data "$wider" --predictions "$predictions" --out "$out/wider-eval/$name" \
        2>/dev/null | sed -n '/^WIDER FACE settings/,$p' | sed "s/^/$name: /"
done

step "accuracy: scores"
for predictions in "$out"/predictions/*/; do
    name=$(basename "$predictions")
    for iou in 50 30; do
        "$ssdface" eval --data "$data" --predictions "$predictions" --iou "0.$iou" \
            --out "$out/eval/$name-iou$iou" 2>/dev/null | sed -n 3p | sed "s/^/$name IoU 0.$iou: /"
    done
done

step "native speed"
"$python" bench/native_peers.py sizes --out "$out/native_sizes.json"
SSDFACE_WEIGHTS="$weights" "$python" bench/native_peers.py speed --frame "$photo" \
    --rounds "$rounds" --runs "$runs" --out "$out/native_speed.json"

step "browser speed"
# Each peer on the best backend it finds (here WebGL or WebGPU on a software adapter) and on
# wasm; ssdface on WebGPU and on its wasm CPU backend.
all_browser="ssdface@webgpu,ssdface@cpu,faceapi-ssd-mobilenetv1,faceapi-tiny,human-blazeface,$wasm_peers"
node bench/browser_peers.mjs sizes --out "$out/browser_sizes.json" --detectors "$all_browser"
node bench/browser_peers.mjs speed --frame "$photo" --rounds "$rounds" --frames "$frames" \
    --slow-frames 2 --detectors "$all_browser" --out "$out/browser_speed.json"

step "training speed"
# The PyTorch port must be ssdface's network: the same outputs on the same weights and input.
"$python" bench/torch_ssd.py check --weights "$weights"
# ssdface on Flex and on LibTorch (PyTorch's CPU kernels), built with test.sh's features so
# that the build is shared; libtorch.sh runs in a subshell so that only cargo sees it.
(
    source ./libtorch.sh
    SSDFACE_BENCH_FEATURES=libtorch,wgpu "$python" bench/torch_ssd.py speed --batch 16 \
        --rounds "$rounds" --steps "$steps" --out "$out/training_speed.json"
    # Where the step's time goes, unit by unit, against the port's.
    SSDFACE_BENCH_FEATURES=libtorch,wgpu "$python" bench/torch_ssd.py layers --batch 16 \
        --rounds 3 --repeats 5 --out "$out/training_layers.json"
)

step "report"
"$python" bench/report.py --out "$out" --weights "$weights"
