//! What the benchmark programs share: the CPU threads they run on and the backends they time.

use burn::prelude::*;

/// Threads of burn's CPU backend: rayon's pool, sized by `RAYON_NUM_THREADS` or the cores.
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The upper middle of `values` (the median of an odd count), as every bench reports it.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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

/// `--backend NAME`: only the backends whose name starts with NAME (`cpu`: flex and LibTorch).
#[derive(clap::Args)]
pub struct BackendFilter {
    #[arg(long = "backend", value_name = "NAME")]
    prefix: Option<String>,
}

impl BackendFilter {
    /// The backends of [`backends`] that the filter lets through.
    pub fn backends(&self) -> Vec<(&'static str, Device)> {
        backends()
            .into_iter()
            .filter(|(name, _)| {
                self.prefix
                    .as_ref()
                    .is_none_or(|prefix| name.starts_with(prefix.as_str()))
            })
            .collect()
    }
}
