#!/usr/bin/env bash
# The test command: installs what the tests need (skipping what is present: Debian's
# Chromium and Mesa's software Vulkan driver, the npm packages of tests/browser, PyPI's torch
# for the LibTorch backend, Pillow for tools/gpu_run.sh's dry run; build.sh adds the wasm32
# Rust target and wasm-bindgen's CLI), then
# checks formatting and lints and runs every test, with the LibTorch and wgpu backends built
# in so that tests/backends.rs compares them with the CPU one. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"

# Build cache outside the clone, so a fresh clone rebuilds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"

if [ ! -f ../shared/data/val/labels.txt ] && [ -z "${SSDFACE_DATA:-}" ]; then
    echo "error: the face data is missing: expected ../shared/data beside the repository" >&2
    exit 1
fi

# Debian's Chromium for the browser tests (never a downloaded browser), and Mesa's lavapipe,
# a Vulkan driver on the CPU, for the wgpu backend's tests on a machine without a GPU.
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
compgen -G "/usr/share/vulkan/icd.d/lvp_icd.*.json" >/dev/null || packages+=(mesa-vulkan-drivers libvulkan1)
# libtorch.sh makes a virtualenv, which Debian's Python leaves to a package of its own.
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)
if [ ${#packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${packages[@]}"
fi
# shellcheck source=libtorch.sh
source ./libtorch.sh
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -x tests/browser/node_modules/.bin/vite ] \
    || [ ! -x tests/browser/node_modules/.bin/tsc ]; then
    # `npm install` at the locked versions (a no-op for packages already there).
    npm install --prefix tests/browser --no-audit --no-fund
fi

backends=(--features libtorch,wgpu)
cargo fmt --check
cargo clippy --release --all-targets "${backends[@]}" -- -D warnings
# The WebAssembly build (the browser tests use it; it sets up its own tools first).
./build.sh
for features in web webgpu; do
    cargo clippy --profile wasm-small --lib --target wasm32-unknown-unknown --no-default-features \
        --features "$features" -- -D warnings
done
# Pillow for tools/gpu_run.sh, whose dry run is a test.
tools/gpu_run.sh setup
cargo test --release "${backends[@]}"
