#!/usr/bin/env bash
# Build the detector for the browser: the library compiled to WebAssembly (release; a CPU-only
# module and a WebGPU one), bound to JavaScript by wasm-bindgen into pkg/, and copied into
# www/pkg/ for the demo page. Prints the sizes, raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ssdface-target}"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen's CLI must match the library version exactly.
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
    # --force: also when cargo remembers an install whose binary is gone.
    cargo install --force wasm-bindgen-cli --version "$version"
fi

# wasm's SIMD (simd128) for all of the code, not only for the kernels that enable it per
# function: burn's element-wise and depthwise kernels (macerator) check for it at compile time.
# The modules already need a browser with SIMD for the matrix products.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128"

# Two modules: the CPU-only one (`web`), which most pages need, and the WebGPU one (`webgpu`,
# the CPU backend too), loaded only where WebGPU runs. Each is bound into pkg/ under its name.
bind() {
    local features=$1 name=$2
    cargo build --profile wasm-small --lib --target wasm32-unknown-unknown --no-default-features \
        --features "$features"
    local wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-small/ssdface.wasm"
    wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir pkg \
        --out-name "$name" "$wasm"
    # Debian's binaryen (version 108) emits broken modules from this input: use wasm-opt only
    # when it is recent enough.
    if command -v wasm-opt >/dev/null; then
        local opt_version
        opt_version=$(wasm-opt --version | grep -o '[0-9]\+' | head -1)
        if [ "${opt_version:-0}" -ge 116 ]; then
            wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
                -o "pkg/${name}_bg.wasm" "pkg/${name}_bg.wasm"
        else
            echo "skipping wasm-opt $opt_version (older than 116)"
        fi
    fi
}
bind web ssdface_cpu
bind webgpu ssdface

mkdir -p www/pkg www/samples
# The demo's "Try a sample photo": the quick start's CC0 photo (see the README's licences).
cp assets/maksssksksss699.jpg www/samples/group.jpg
cp pkg/index.js pkg/draw.js pkg/video.js pkg/worker.js pkg/ssdface.js pkg/ssdface_bg.wasm \
    pkg/ssdface_cpu.js pkg/ssdface_cpu_bg.wasm www/pkg/

for file in pkg/ssdface_cpu_bg.wasm pkg/ssdface_cpu.js pkg/ssdface_bg.wasm pkg/ssdface.js; do
    raw=$(stat -c %s "$file")
    gz=$(gzip -9 -c "$file" | wc -c)
    echo "$file: $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped"
done
