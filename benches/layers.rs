//! Training time layer by layer: forward and backward of each unit of the network, timed on
//! its own at the shape it has in a training step, on each CPU backend this build has.
//!
//! The layers come from a JSON spec that `bench/torch_ssd.py layers` writes from its PyTorch
//! port of the network (the same network, checked by `torch_ssd.py check`) and times there
//! too, so each layer is compared with PyTorch's in one table. Run that script rather than this
//! program; by hand: `cargo bench --bench layers -- --spec FILE [--json]`.
//!
//! Each entry is one of:
//! - `conv_bn`: the network's own [`ConvBn`] (convolution, batch norm with the batch's
//!   statistics, optional ReLU6), exactly as training runs it;
//! - `norm_act`: batch norm (and ReLU6 when `activate`) alone on the unit's output shape, as
//!   [`ConvBn`] runs it (`batch_norm_training`), so the convolution's share is the difference;
//! - `head_conv`: a detection head's 3x3 convolution with bias.
//!
//! Backward is timed from a weighted sum of the output (a fixed random weight per element), so
//! every input and parameter gradient of the unit is computed, as in the network. Prints
//! figures; asserts nothing.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use burn::nn::conv::Conv2dConfig;
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;
use clap::Parser;
use serde::Deserialize;
use ssdface::model::{ConvBn, batch_norm_training};

/// `cargo bench --bench layers -- [OPTIONS]`.
#[derive(clap::Parser)]
struct Options {
    /// The layers to time (written by `bench/torch_ssd.py layers`).
    #[arg(long)]
    spec: PathBuf,
    /// Timed repeats per layer.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Repeats before the timed ones.
    #[arg(long, default_value_t = 1)]
    warm_up: usize,
    /// One JSON line per backend with every repeat's milliseconds.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backends: common::BackendFilter,
    /// Passed by cargo to every benchmark program.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Deserialize)]
struct Spec {
    layers: Vec<LayerSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    ConvBn,
    NormAct,
    HeadConv,
}

#[derive(Deserialize)]
struct LayerSpec {
    name: String,
    kind: Kind,
    /// Input and output channels.
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    activate: bool,
    /// `[batch, channels, height, width]` of the input.
    input: [usize; 4],
}

/// The unit a spec entry names, on one device.
enum Layer {
    ConvBn(Box<ConvBn>),
    NormAct(burn::nn::BatchNorm, bool),
    HeadConv(burn::nn::conv::Conv2d),
}

impl Layer {
    fn new(spec: &LayerSpec, device: &Device) -> Self {
        match spec.kind {
            Kind::ConvBn => Layer::ConvBn(Box::new(ConvBn::new(
                spec.channels,
                spec.kernel,
                spec.stride,
                spec.groups,
                spec.activate,
                device,
            ))),
            Kind::NormAct => Layer::NormAct(
                BatchNormConfig::new(spec.channels[0]).init(device),
                spec.activate,
            ),
            Kind::HeadConv => {
                let pad = spec.kernel / 2;
                Layer::HeadConv(
                    Conv2dConfig::new(spec.channels, [spec.kernel, spec.kernel])
                        .with_stride([spec.stride, spec.stride])
                        .with_groups(spec.groups)
                        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                        .init(device),
                )
            }
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        match self {
            Layer::ConvBn(layer) => layer.forward(input),
            Layer::NormAct(norm, activate) => batch_norm_training(norm, input, *activate),
            Layer::HeadConv(conv) => conv.forward(input),
        }
    }
}

/// Milliseconds since `start`, after the device has finished its queued work.
fn elapsed_ms(start: Instant, device: &Device) -> f64 {
    device.sync().expect("device sync");
    start.elapsed().as_secs_f64() * 1e3
}

/// Forward and backward milliseconds of every repeat after the warm-up.
fn time_layer(
    spec: &LayerSpec,
    device: &Device,
    repeats: usize,
    warm_up: usize,
) -> (Vec<f64>, Vec<f64>) {
    let autodiff = device.clone().autodiff();
    let layer = Layer::new(spec, &autodiff);
    let input = Tensor::<4>::random(spec.input, Distribution::Default, &autodiff);
    let mut forward_ms = Vec::new();
    let mut backward_ms = Vec::new();
    for repeat in 0..warm_up + repeats {
        let input = input.clone().detach().require_grad();
        let start = Instant::now();
        let output = layer.forward(input);
        let forward = elapsed_ms(start, device);
        let weight = output.random_like(Distribution::Default).detach();
        let loss = (output * weight).sum();
        device.sync().expect("device sync");
        let start = Instant::now();
        let gradients = loss.backward();
        let backward = elapsed_ms(start, device);
        drop(gradients);
        if repeat >= warm_up {
            forward_ms.push(forward);
            backward_ms.push(backward);
        }
    }
    (forward_ms, backward_ms)
}

fn main() {
    // LibTorch's idle OpenMP threads would otherwise spin on the cores the kernels need, as
    // `ssdface train --backend libtorch` avoids.
    #[cfg(all(feature = "libtorch", unix))]
    ssdface::openmp::restart_with_passive_openmp();
    let options = Options::parse();
    let text = std::fs::read_to_string(&options.spec)
        .unwrap_or_else(|e| panic!("{}: {e}", options.spec.display()));
    let spec: Spec = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not a layer spec: {e}", options.spec.display()));
    let threads = common::cpu_threads();
    let backends = options.backends.backends();
    for (name, device) in backends {
        let mut layers = Vec::new();
        for layer in &spec.layers {
            let (forward_ms, backward_ms) =
                time_layer(layer, &device, options.repeats, options.warm_up);
            if !options.json {
                println!(
                    "{name:<14} {:<44} forward {:>7.1} ms  backward {:>7.1} ms",
                    layer.name,
                    common::median(forward_ms.clone()),
                    common::median(backward_ms.clone())
                );
            }
            layers.push(serde_json::json!({
                "name": layer.name,
                "forward_ms": forward_ms,
                "backward_ms": backward_ms,
            }));
        }
        if options.json {
            let line = serde_json::json!({
                "detector": "ssdface",
                "backend": name,
                "threads": threads,
                "layers": layers,
            });
            println!("{line}");
        }
    }
}
