//! Choosing the burn device from the command line.

use anyhow::bail;
use burn::prelude::*;

/// Where the network runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The CPU (burn's Flex backend: SIMD, all cores). `ndarray` is accepted as a synonym.
    #[value(alias = "ndarray", alias = "flex")]
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal or DX12); needs the `wgpu` cargo feature.
    Wgpu,
    /// NVIDIA GPUs through CUDA; needs the `cuda` cargo feature.
    Cuda,
    /// The CPU through LibTorch (PyTorch's kernels); needs the `libtorch` cargo feature.
    Libtorch,
}

/// `count` devices of `backend` (data-parallel training when more than one): GPUs, or handles
/// to the same CPU cores.
pub fn devices(backend: Backend, count: usize) -> anyhow::Result<Vec<Device>> {
    let count = count.max(1);
    match backend {
        // Several CPU "devices" are the same cores: data-parallel training over them works
        // (burn-train's multi-device strategy), for trying it without GPUs.
        Backend::Cpu => Ok(vec![Device::flex(); count]),
        Backend::Wgpu => wgpu_devices(count),
        Backend::Cuda => cuda_devices(count),
        Backend::Libtorch => libtorch_device().map(|device| vec![device; count]),
    }
}

/// The `--backend` option of every command that runs the network.
#[derive(clap::Args, Debug)]
pub struct BackendArgs {
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
}

impl BackendArgs {
    /// The one device of the commands that detect (`detect`, `eval`).
    pub fn device(&self) -> anyhow::Result<Device> {
        Ok(devices(self.backend, 1)?.remove(0))
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_devices(count: usize) -> anyhow::Result<Vec<Device>> {
    use burn::tensor::DeviceKind;
    if count == 1 {
        return Ok(vec![Device::wgpu(DeviceKind::default())]);
    }
    Ok((0..count)
        .map(|i| Device::wgpu(DeviceKind::DiscreteGpu(i)))
        .collect())
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_devices(_: usize) -> anyhow::Result<Vec<Device>> {
    bail!("this build has no wgpu backend: build with `--features wgpu`")
}

#[cfg(feature = "cuda")]
fn cuda_devices(count: usize) -> anyhow::Result<Vec<Device>> {
    Ok((0..count).map(Device::cuda).collect())
}

#[cfg(not(feature = "cuda"))]
fn cuda_devices(_: usize) -> anyhow::Result<Vec<Device>> {
    bail!("this build has no CUDA backend: build with `--features cuda`")
}

#[cfg(feature = "libtorch")]
fn libtorch_device() -> anyhow::Result<Device> {
    // burn marks its LibTorch backend deprecated in favour of CubeCL's CPU runtime, whose build
    // downloads LLVM; LibTorch is the CPU backend with PyTorch's own kernels that builds offline.
    #[allow(deprecated)]
    Ok(Device::libtorch())
}

#[cfg(not(feature = "libtorch"))]
fn libtorch_device() -> anyhow::Result<Device> {
    bail!(
        "this build has no LibTorch backend: run `source ./libtorch.sh` and build with `--features libtorch`"
    )
}
