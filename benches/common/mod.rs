//! What the benchmark programs share: the CPU threads they run on and the backends they time.

use burn::prelude::*;

/// Threads of burn's CPU backend: rayon's pool, sized by `RAYON_NUM_THREADS` or the cores.
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The CPU, on LibTorch too in a build with the `libtorch` feature, and the GPU in one with
/// the `wgpu` feature.
pub fn backends() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut backends = vec![("cpu (flex)", Device::flex())];
    // burn marks LibTorch deprecated; it is measured here against flex and PyTorch.
    #[cfg(feature = "libtorch")]
    #[allow(deprecated)]
    backends.push(("cpu (libtorch)", Device::libtorch()));
    #[cfg(feature = "wgpu")]
    backends.push(("wgpu", Device::wgpu(burn::tensor::DeviceKind::default())));
    backends
}
