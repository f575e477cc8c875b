#!/usr/bin/env bash
# The test command: installs what the tests need (skipping what is present: Debian's
# Chromium, the npm packages of tests/browser; build.sh adds the wasm32 Rust target and
# wasm-bindgen's CLI), then checks formatting and lints and runs every test. CI (.ci/run) runs
# exactly this.
set -euo pipefail
cd "$(dirname "$0")"

# Build cache outside the clone, so a fresh clone rebuilds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"

# Debian's Chromium for the browser tests (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -x tests/browser/node_modules/.bin/vite ] \
    || [ ! -x tests/browser/node_modules/.bin/tsc ]; then
    # `npm install` at the locked versions (a no-op for packages already there).
    npm install --prefix tests/browser --no-audit --no-fund
fi

if [ ! -f ../shared/data/val/labels.txt ] && [ -z "${SSDFACE_DATA:-}" ]; then
    echo "error: the face data is missing: expected ../shared/data beside the repository" >&2
    exit 1
fi

cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
# The WebAssembly build (the browser tests use it; it sets up its own tools first).
./build.sh
for features in web webgpu; do
    cargo clippy --profile wasm-small --lib --target wasm32-unknown-unknown --no-default-features \
        --features "$features" -- -D warnings
done
cargo test --release
