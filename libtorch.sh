# LibTorch for the `libtorch` cargo feature (`--backend libtorch`: PyTorch's CPU kernels).
#
#   source ./libtorch.sh
#   cargo run --release --features libtorch -- train --backend libtorch ...
#
# Sourced, not run: it exports what the build needs into the current shell. The first time it
# installs PyPI's torch 2.9.0 (the version burn's LibTorch bindings are written for; about
# 5 GB with the CUDA libraries the wheel depends on) and numpy, which torch imports, into a
# virtualenv under ~/.cache, outside the clone; afterwards it only exports:
#   VIRTUAL_ENV, PATH         torch-sys's build script asks this Python where libtorch is
#   LIBTORCH_USE_PYTORCH=1    ... instead of downloading a libtorch archive
# The built programs find libtorch by themselves (build.rs records its folder in them).
ssdface_libtorch_venv="${SSDFACE_LIBTORCH_VENV:-$HOME/.cache/ssdface-libtorch/venv}"
if [ ! -f "$ssdface_libtorch_venv/torch-2.9.0.installed" ]; then
    python3 -m venv "$ssdface_libtorch_venv" \
        && "$ssdface_libtorch_venv/bin/pip" install -q torch==2.9.0 numpy \
        && touch "$ssdface_libtorch_venv/torch-2.9.0.installed" \
        || { echo "libtorch.sh: could not install torch 2.9.0 into $ssdface_libtorch_venv" >&2
             unset ssdface_libtorch_venv; return 1; }
fi
export VIRTUAL_ENV="$ssdface_libtorch_venv"
export PATH="$ssdface_libtorch_venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
unset ssdface_libtorch_venv
