//! Training throughput: images per second of a full optimisation step (forward, MultiBox loss,
//! backward, Adam) at batch 16 and 32, 320x240, on each backend this build has; and the input
//! pipeline (decode, augment, match) on its own.
//!
//! `cargo bench --bench training` (add `--features libtorch` for LibTorch's row after `source
//! ./libtorch.sh`, `--features wgpu` for the GPU's). Prints figures; asserts nothing. `--
//! --batch B --steps N --warm-up N --json` times one batch size and prints one JSON line per
//! backend with every step's milliseconds (the ssdface side of `bench/torch_ssd.py`);
//! `RAYON_NUM_THREADS` sets flex's CPU threads, `OMP_NUM_THREADS` LibTorch's. Each step is
//! also split into forward, loss, backward and optimiser, with a device sync after each (on a
//! GPU the step then loses the overlap between phases).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::Device;
use clap::Parser;
use ssdface::data::FaceDataset;
use ssdface::model::SsdConfig;
use ssdface::train::{
    AugmentConfig, AugmentedDataset, DetectionBatcher, TrainConfig, TrainingModel,
};

fn data_dir() -> PathBuf {
    std::env::var_os("SSDFACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// Milliseconds of the phases of one step, each ended by a device sync (asynchronous devices
/// would otherwise charge one phase's work to the next).
struct Phases<'a> {
    device: &'a Device,
    since: Instant,
    ms: Vec<f64>,
}

impl<'a> Phases<'a> {
    fn start(device: &'a Device) -> Self {
        Self {
            device,
            since: Instant::now(),
            ms: Vec::new(),
        }
    }

    fn end(&mut self) {
        self.device.sync().expect("device sync");
        let now = Instant::now();
        self.ms.push((now - self.since).as_secs_f64() * 1e3);
        self.since = now;
    }
}

/// `cargo bench --bench training -- [OPTIONS]`.
#[derive(clap::Parser)]
struct Options {
    /// One batch size (default: 16 and 32).
    #[arg(long)]
    batch: Option<usize>,
    /// Timed steps per batch size.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Steps before the timed ones.
    #[arg(long, default_value_t = 1)]
    warm_up: usize,
    /// One JSON line per backend with every step's milliseconds.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backends: common::BackendFilter,
    /// Passed by cargo to every benchmark program.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    // LibTorch's idle OpenMP threads would otherwise spin on the cores the kernels need, as
    // `ssdface train --backend libtorch` avoids.
    #[cfg(all(feature = "libtorch", unix))]
    ssdface::openmp::restart_with_passive_openmp();
    let options = Options::parse();
    let batches = options.batch.map_or(vec![16, 32], |b| vec![b]);
    let config = SsdConfig::new();
    let images = FaceDataset::open(&[data_dir().join("train")]).expect("training data");
    let dataset = AugmentedDataset::new(
        images,
        AugmentConfig::new(),
        config.clone(),
        TrainConfig::new().target_rules(),
        1,
        true,
        0,
    );

    // The input pipeline alone, one thread.
    let n = 64;
    let start = Instant::now();
    let items: Vec<_> = (0..n).map(|i| dataset.get(i).expect("item")).collect();
    let seconds = start.elapsed().as_secs_f64();
    let threads = common::cpu_threads();
    if !options.json {
        println!(
            "loader (decode + augment + match), 1 thread: {:.1} images/s",
            n as f64 / seconds
        );
        println!(
            "training step, 320x240, {threads} threads, median of {} steps after {} warm-up:",
            options.steps, options.warm_up
        );
    }

    let backends = options.backends.backends();
    for (name, device) in backends {
        for &batch_size in &batches {
            let autodiff = device.clone().autodiff();
            let train_config = TrainConfig::new().with_model(config.clone());
            let mut model = TrainingModel::new(&train_config, &autodiff).expect("model");
            let mut optimizer = AdamConfig::new().init();
            let batcher = DetectionBatcher::new(&config);
            let batch_items: Vec<_> = items.iter().cycle().take(batch_size).cloned().collect();
            let mut step_ms = Vec::new();
            // Per phase (forward, loss, backward, optimiser), each ended by a device sync.
            let mut phase_ms: [Vec<f64>; 4] = Default::default();
            for step in 0..options.warm_up + options.steps {
                let batch = batcher.batch(batch_items.clone(), &autodiff);
                let mut phases = Phases::start(&device);
                let output = model.ssd.forward(batch.images);
                phases.end();
                let loss = model.loss(output, batch.labels, batch.offsets);
                phases.end();
                let grads = GradientsParams::from_grads(loss.total.backward(), &model);
                phases.end();
                model = optimizer.step(1e-3, model, grads);
                phases.end();
                if step >= options.warm_up {
                    step_ms.push(phases.ms.iter().sum());
                    for (all, ms) in phase_ms.iter_mut().zip(phases.ms) {
                        all.push(ms);
                    }
                }
            }
            if options.json {
                let line = serde_json::json!({
                    "detector": "ssdface",
                    "backend": name,
                    "batch": batch_size,
                    "size": format!("{}x{}", config.input_width, config.input_height),
                    "threads": threads,
                    "step_ms": step_ms,
                    "phase_ms": {
                        "forward": phase_ms[0],
                        "loss": phase_ms[1],
                        "backward": phase_ms[2],
                        "optimiser": phase_ms[3],
                    },
                });
                println!("{line}");
            } else {
                let ms = common::median(step_ms);
                let [forward, loss, backward, optimiser] = phase_ms.map(common::median);
                println!(
                    "  {name:<14} batch {batch_size:>2}: {:>6.1} images/s ({ms:.0} ms/step: \
                     forward {forward:.0}, loss {loss:.0}, backward {backward:.0}, \
                     optimiser {optimiser:.0})",
                    batch_size as f64 * 1e3 / ms
                );
            }
        }
    }
}
