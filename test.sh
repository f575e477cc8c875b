#!/usr/bin/env bash
# The test command: installs what the tests need (skipping what is present: the wasm32 Rust
# target, wasm-bindgen's CLI, Debian's Chromium, the npm packages of tests/browser), then checks
# formatting and lints and runs every test. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"

# Build cache outside the clone, so a fresh clone rebuilds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen's CLI, pinned to the library's version (build.sh checks it too).
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
    cargo install wasm-bindgen-cli --version "$version"
fi

# Debian's Chromium for the browser tests (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -x tests/browser/node_modules/.bin/vite ] \
    || [ ! -x tests/browser/node_modules/.bin/tsc ]; then
    # `npm install` at the locked versions: the lock lists only this platform's optional
    # packages (esbuild's and rollup's native builds), which `npm ci` refuses.
    npm install --prefix tests/browser --no-audit --no-fund
fi

if [ ! -f ../shared/data/val/labels.txt ] && [ -z "${SSDFACE_DATA:-}" ]; then
    echo "error: the face data is missing: expected ../shared/data beside the repository" >&2
    exit 1
fi

cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo clippy --profile wasm-small --lib --target wasm32-unknown-unknown --no-default-features \
    --features web -- -D warnings
cargo test --release
