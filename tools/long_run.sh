#!/usr/bin/env bash
# The project's long training run, continued across sessions and machines.
#
#   tools/long_run.sh MINUTES      continue it for about MINUTES (stops cleanly with a checkpoint
#                                  before an epoch would end later), then save its state
#   tools/long_run.sh --save       only save the state of runs/long-1 (e.g. after a run stopped)
#
# The run folder (runs/long-1, not committed) does not survive a change of machine, so its
# state lives in models/runs/long-1: the settings (train_config.json, data.json), the history
# and the newest complete epoch's three checkpoint files (network, optimiser, schedule), which is
# all `ssdface train --resume` needs. A missing run folder is restored from there first; the
# first call of all starts the run (the command below).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"
run=runs/long-1
state=models/runs/long-1

save() {
    local epoch
    epoch=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); print(max(e["epoch"] for e in h["epochs"]))' \
        "$run/history.json")
    for kind in model optim scheduler; do
        [ -s "$run/checkpoint/$kind-$epoch.bpk" ] || { echo "epoch $epoch has no $kind checkpoint" >&2; exit 1; }
    done
    rm -rf "$state.tmp" && mkdir -p "$state.tmp/checkpoint"
    cp "$run"/{train_config.json,data.json,history.json} "$state.tmp/"
    [ -f "$run/metrics.csv" ] && cp "$run/metrics.csv" "$state.tmp/"
    for kind in model optim scheduler; do
        cp "$run/checkpoint/$kind-$epoch.bpk" "$state.tmp/checkpoint/"
    done
    # The curve on both yardsticks (tools/long_run_curve.py) stays with the state.
    for kept in yardsticks.json curve.png; do
        [ -f "$state/$kept" ] && cp "$state/$kept" "$state.tmp/"
    done
    rm -rf "$state" && mv "$state.tmp" "$state"
    echo "saved epoch $epoch of $run to $state"
}

if [ "${1:-}" = "--save" ]; then
    save
    exit 0
fi
minutes=${1:?usage: tools/long_run.sh MINUTES | --save}
# On LibTorch, the faster CPU backend for training (BENCHMARKS.md, "Training speed"); built
# with the test command's features, so that both share one build.
# shellcheck source=../libtorch.sh
source ./libtorch.sh
cargo build --release --quiet --features libtorch,wgpu
ssdface="$CARGO_TARGET_DIR/release/ssdface"
if [ ! -d "$run" ] && [ -d "$state" ]; then
    mkdir -p runs && cp -r "$state" "$run"
fi
if [ -d "$run" ]; then
    "$ssdface" train --resume "$run" --backend libtorch --max-minutes "$minutes"
else
    # The wide network from a random start on the teacher-labelled photos (the held-back tenth
    # excluded), validated on that tenth, with the schedule planned for 150 epochs.
    "$ssdface" train --model models/wide-stride8.json \
        --data labels/teacher/train --data labels/teacher/shanghaitech \
        --data labels/teacher/wider-test --data labels/teacher/caltech-webfaces \
        --val labels/holdout/all --out "$run" --epochs 150 --backend libtorch \
        --max-minutes "$minutes"
fi
save
