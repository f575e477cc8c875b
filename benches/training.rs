//! Training throughput: images per second of a full optimisation step (forward, MultiBox loss,
//! backward, Adam) at batch 16 and 32, 320x240, on each backend this build has; and the input
//! pipeline (decode, augment, match) on its own.
//!
//! `cargo bench --bench training` (add `--features wgpu` for the GPU column). Prints figures; asserts nothing.

use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use ssdface::data::FaceDataset;
use ssdface::model::SsdConfig;
use ssdface::train::{
    AugmentConfig, AugmentedDataset, DetectionBatcher, TrainingModel, multibox_loss,
};

fn data_dir() -> PathBuf {
    std::env::var_os("SSDFACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let config = SsdConfig::new();
    let images = FaceDataset::open(&[data_dir().join("train")]).expect("training data");
    let dataset = AugmentedDataset::new(
        images,
        AugmentConfig::new(),
        config.clone(),
        0.35,
        1,
        true,
        0,
    );

    // The input pipeline alone, one thread.
    let n = 64;
    let start = Instant::now();
    let items: Vec<_> = (0..n).map(|i| dataset.get(i).expect("item")).collect();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "loader (decode + augment + match), 1 thread: {:.1} images/s",
        n as f64 / seconds
    );

    #[allow(unused_mut)]
    let mut backends = vec![("cpu (flex)", Device::flex())];
    #[cfg(feature = "wgpu")]
    backends.push(("wgpu", Device::wgpu(burn::tensor::DeviceKind::default())));

    println!("training step, 320x240, median of 5 steps after 1 warm-up:");
    for (name, device) in backends {
        for batch_size in [16, 32] {
            let autodiff = device.clone().autodiff();
            let mut model = TrainingModel {
                ssd: config.init(&autodiff).expect("model"),
                negatives_per_positive: 3,
            };
            let mut optimizer = AdamConfig::new().init();
            let batcher = DetectionBatcher::new(&config);
            let batch_items: Vec<_> = items.iter().cycle().take(batch_size).cloned().collect();
            let mut times = Vec::new();
            for step in 0..6 {
                let batch = batcher.batch(batch_items.clone(), &autodiff);
                let start = Instant::now();
                let output = model.ssd.forward(batch.images);
                let loss = multibox_loss(
                    output.logits,
                    output.offsets,
                    batch.labels,
                    batch.offsets,
                    3,
                );
                let grads = GradientsParams::from_grads(loss.total.backward(), &model);
                model = optimizer.step(1e-3, model, grads);
                // Wait for the step on asynchronous devices.
                device.sync().expect("device sync");
                if step > 0 {
                    times.push(start.elapsed().as_secs_f64());
                }
            }
            let seconds = median(times);
            println!(
                "  {name:<12} batch {batch_size:>2}: {:>6.1} images/s ({:.0} ms/step)",
                batch_size as f64 / seconds,
                seconds * 1e3
            );
        }
    }
}
