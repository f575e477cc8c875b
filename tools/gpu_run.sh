#!/usr/bin/env bash
# The long run (tools/long_run.sh) continued on a lent GPU machine in one call: that machine
# has no Rust and no ../shared, and takes at most 64 MiB of files, so the binary is built here
# and the run's photos travel as a compact copy.
#
#   tools/gpu_run.sh setup          Pillow for the compact copy, in ~/.cache/ssdface-tools-venv
#   tools/gpu_run.sh pack [--max-side PX] [--quality Q] [--max-photos N] [--binary FILE]
#                         [--no-loaders]
#                                   writes .gpu/ (git-ignored): the binary (built with `wgpu`,
#                                   no LibTorch), the run's training and validation folders
#                                   (models/runs/long-1/data.json) with photos scaled to fit
#                                   PX (640) at JPEG quality Q (75), and the Vulkan loader
#                                   packages; prints the device call to make. Where the photos
#                                   do not fit, a sample of each training folder that does,
#                                   drawn anew for each epoch the committed state has reached
#                                   (the validation folder whole)
#   tools/gpu_run.sh device MINUTES [BACKEND]
#                                   on the GPU machine, in the checkout's copy: trains the
#                                   run for about MINUTES on BACKEND (wgpu) from the committed
#                                   state and writes the new state to $OUT/long-1.tar.gz
#   tools/gpu_run.sh unpack FILE [STATE]
#                                   replaces STATE (models/runs/long-1) with the state in FILE
#                                   when it holds later epochs
#   tools/gpu_run.sh dry            the whole cycle on this machine's CPU, in a scratch copy
#                                   of the checkout: pack (8 photos a folder, the binary in
#                                   $SSDFACE_BIN or the test build's), device (1 minute,
#                                   --backend cpu), unpack into a scratch state; checks that
#                                   an epoch was added
set -euo pipefail
cd "$(dirname "$0")/.."
state=models/runs/long-1
pack=.gpu
venv="$HOME/.cache/ssdface-tools-venv"

die() {
    echo "gpu_run: $*" >&2
    exit 1
}

# The newest epoch in a run's history (0 for none).
last_epoch() {
    python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); print(max([e["epoch"] for e in h["epochs"]] or [0]))' \
        "$1/history.json"
}

# The run's training and validation folders, one per line.
run_folders() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("\n".join(d["train"] + [d["val"]]))' \
        "$state/data.json"
}

setup() {
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import PIL" 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "pillow==13.0.0"
    fi
}

pack() {
    local max_side=640 quality=75 max_photos="" binary="" loaders=1
    while [ $# -gt 0 ]; do
        case "$1" in
            --max-side) max_side=${2:?}; shift 2 ;;
            --quality) quality=${2:?}; shift 2 ;;
            --max-photos) max_photos=${2:?}; shift 2 ;;
            --binary) binary=${2:?}; shift 2 ;;
            --no-loaders) loaders=0; shift ;;
            *) die "pack: unknown option $1" ;;
        esac
    done
    setup
    rm -rf "$pack" && mkdir -p "$pack/data"
    if [ -z "$binary" ]; then
        # Only the GPU backend: the LibTorch build links a libtorch the machine does not have.
        # (Its artifacts sit beside the test build's in one target folder.)
        local target="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"
        CARGO_TARGET_DIR="$target" cargo build --release --quiet --features wgpu
        binary="$target/release/ssdface"
    fi
    [ -x "$binary" ] || die "no binary at $binary"
    cp "$binary" "$pack/ssdface"
    strip "$pack/ssdface" 2>/dev/null || true
    xz ${XZ_OPT:--9} "$pack/ssdface"
    local folder val share=1 salt
    val=$(run_folders | tail -1)
    salt=$(last_epoch "$state")
    shrink() {
        local folder=$1 share=$2
        rm -rf "${pack:?}/data/$folder"
        "$venv/bin/python" tools/shrink_photos.py "$folder" "$pack/data/$folder" \
            --max-side "$max_side" --quality "$quality" --share "$share" --salt "$salt" \
            ${max_photos:+--max-photos "$max_photos"}
    }
    run_folders >"$pack/folders"
    while read -r folder; do shrink "$folder" 1; done <"$pack/folders"
    local tree budget data
    tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
    # What is left of 64 MiB beside the checkout, the binary, the loaders and some slack.
    budget=$((64 * 1048576 - tree - $(stat -c %s "$pack/ssdface.xz") - 2 * 1048576))
    data=$(du -sb "$pack/data" | cut -f1)
    if [ "$data" -gt "$budget" ]; then
        local val_size
        val_size=$(du -sb "$pack/data/$val" | cut -f1)
        share=$(python3 -c "import sys; print(round(max(0.01, (int(sys.argv[1]) - int(sys.argv[3])) / (int(sys.argv[2]) - int(sys.argv[3])) * 0.95), 3))" \
            "$budget" "$data" "$val_size")
        echo "the photos take $((data / 1048576)) MiB of $((budget / 1048576)): a share of $share of each training folder"
        while read -r folder; do
            [ "$folder" = "$val" ] || shrink "$folder" "$share"
        done <"$pack/folders"
    fi
    if [ "$loaders" = 1 ]; then
        # The Vulkan loader that wgpu needs, which that machine's image lacks (the device
        # tool's README), as Debian packages unpacked there.
        mkdir -p "$pack/gl" /tmp/amd64/partial
        local apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
        apt-get "${apt[@]}" update -qq
        (cd "$pack/gl" && apt-get "${apt[@]}" download -qq libvulkan1 libegl1 libglvnd0)
    fi
    local carried
    carried=$(du -sb "$pack" | cut -f1)
    echo "packed $pack: $((carried / 1048576)) MiB (+ $((tree / 1048576)) MiB of checkout; the machine takes 64)"
    [ $((tree + carried)) -le $((64 * 1048576)) ] || die "over 64 MiB: lower --max-side or --quality"
    if [ "$pack" = .gpu ]; then
        echo "device call: run(carry=[\"$pack\"], timeout_s=600, command=\"bash tools/gpu_run.sh device 7 wgpu\")"
        echo "then: tools/gpu_run.sh unpack <files_at>/long-1.tar.gz && git add $state"
    fi
}

device() {
    local minutes=${1:?usage: device MINUTES [BACKEND]} backend=${2:-wgpu}
    [ -d "$pack/data" ] || die "no $pack/data: run pack first and carry $pack"
    : "${OUT:?OUT must name the folder whose files come back}"
    if compgen -G "$pack/gl/*.deb" >/dev/null; then
        for deb in "$pack"/gl/*.deb; do dpkg -x "$deb" /; done
        ldconfig
        [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
            export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    # The packed folders in place of the checkout's (whose images link to ../shared).
    local folder
    while read -r folder; do
        rm -rf "$folder" && mkdir -p "$(dirname "$folder")"
        cp -r "$pack/data/$folder" "$folder"
    done <"$pack/folders"
    local binary
    binary=$(mktemp -d)/ssdface
    xz -dc "$pack/ssdface.xz" >"$binary" && chmod +x "$binary"
    rm -rf runs/long-1 && mkdir -p runs && cp -r "$state" runs/long-1
    local before
    before=$(last_epoch runs/long-1)
    "$binary" train --resume runs/long-1 --backend "$backend" --max-minutes "$minutes"
    tools/long_run.sh --save
    echo "epochs $((before + 1)) to $(last_epoch "$state") trained"
    tar -czf "$OUT/long-1.tar.gz" -C "$(dirname "$state")" "$(basename "$state")"
}

unpack() {
    local file=${1:?usage: unpack FILE [STATE]} into=${2:-$state}
    local scratch
    scratch=$(mktemp -d)
    tar -xzf "$file" -C "$scratch"
    local new="$scratch/$(basename "$state")"
    [ -f "$new/history.json" ] && [ -d "$new/checkpoint" ] || die "$file holds no run state"
    local from to
    from=$(last_epoch "$into")
    to=$(last_epoch "$new")
    [ "$to" -gt "$from" ] || die "$file ends at epoch $to, not after $into's $from: kept $into"
    rm -rf "$into" && mv "$new" "$into"
    echo "$into: epochs $from -> $to"
}

dry() {
    local binary=${SSDFACE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}/release/ssdface}
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    # The checkout as the machine gets it (tracked files and untracked ones git does not
    # ignore), the packed folder beside them.
    git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$scratch"
    # (The quickest compression of the binary: the cycle is what this checks, not its size.)
    XZ_OPT=-0 pack="$scratch/.gpu" pack --max-photos 8 --binary "$binary" --no-loaders
    # The compact copy's boxes still fit its photos: the bundled model scores the packed
    # validation photos as it scores the same photos at full size.
    local val
    val=$(run_folders | tail -1)
    "$venv/bin/python" tools/shrink_photos.py "$val" "$scratch/full" --max-side 100000 \
        --quality 95 --max-photos 8
    "$binary" eval --data "$scratch/full" --out "$scratch/eval-full" >/dev/null 2>&1
    "$binary" eval --data "$scratch/.gpu/data/$val" --out "$scratch/eval-packed" >/dev/null 2>&1
    python3 - "$scratch/eval-full/report.json" "$scratch/eval-packed/report.json" <<'PY'
import json, sys
full, packed = (next(r["ap"] for r in json.load(open(f))["results"] if r["sizes"] == "all")
                for f in sys.argv[1:])
print(f"AP of the first validation photos: full size {full:.3f}, packed {packed:.3f}")
if abs(full - packed) > 0.05:
    sys.exit("gpu_run: the packed photos score unlike the originals: are their boxes scaled?")
PY
    mkdir -p "$scratch/out"
    (cd "$scratch" && OUT="$scratch/out" bash tools/gpu_run.sh device 0.3 cpu)
    cp -r "$state" "$scratch/state"
    unpack "$scratch/out/long-1.tar.gz" "$scratch/state"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
    setup) setup ;;
    pack) pack "$@" ;;
    device) device "$@" ;;
    unpack) unpack "$@" ;;
    dry) dry ;;
    *) die "usage: tools/gpu_run.sh setup | pack [options] | device MINUTES [BACKEND] | unpack FILE [STATE] | dry" ;;
esac
