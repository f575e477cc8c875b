#!/usr/bin/env bash
# Build the detector for the browser: the library compiled to WebAssembly (release).
# Prints the module's size, raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

cargo build --release --lib --target wasm32-unknown-unknown --no-default-features

wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/ssdface.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "built $wasm: $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped"
