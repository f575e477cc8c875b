//! Detection latency: milliseconds per frame (preprocessing, network, read-back, decoding and
//! suppression) on each backend this build has, warm median after warm-up frames. The native
//! column of `bench/browser.sh`, and the ssdface side of `bench/native_peers.py`.
//!
//! `cargo bench --bench detection -- [--frame PHOTO] [--size WxH] [--runs N] [--warm-up N] [--json]`
//! (defaults: the first validation photo, 640x480, 100 runs, 10 warm-up). The photo is stretched
//! to the frame size. `SSDFACE_WEIGHTS=model.ssdface` picks the weights (default: the bundled
//! model); `RAYON_NUM_THREADS` the CPU threads. `--json` prints one JSON line per backend with
//! every time. Prints figures; asserts nothing.
//!
//! `--outputs FILE` instead writes the CPU network's input tensor and raw outputs for the frame
//! as JSON, which `bench/torch_ssd.py check` feeds to the PyTorch port of the network.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use image::imageops::FilterType;
use ssdface::default_model::DEFAULT_WEIGHTS;
use ssdface::detector::Detector;
use ssdface::preprocess::{ImageView, PixelFormat, to_input_tensor};

/// `cargo bench --bench detection -- [OPTIONS]`.
#[derive(clap::Parser)]
struct Options {
    /// The photo to time, stretched to `--size` (default: the first validation photo).
    #[arg(long)]
    frame: Option<PathBuf>,
    /// Frame size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480", value_parser = ssdface::model::parse_size)]
    size: (usize, usize),
    /// Timed frames.
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// Frames before the timed ones, the first of them reported as the cold call.
    #[arg(long, default_value_t = 10)]
    warm_up: usize,
    /// One JSON line per backend with every time.
    #[arg(long)]
    json: bool,
    /// Write the network's input and raw outputs for the frame to this JSON file, time nothing.
    #[arg(long)]
    outputs: Option<PathBuf>,
    #[command(flatten)]
    backends: common::BackendFilter,
    /// Passed by cargo to every benchmark program.
    #[arg(long, hide = true)]
    bench: bool,
}

fn first_validation_photo() -> PathBuf {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/val");
    let dataset = ssdface::data::FaceDataset::open(&[data]).expect("validation data");
    dataset.path(0).to_path_buf()
}

fn main() {
    let options = Options::parse();
    let weights = match std::env::var_os("SSDFACE_WEIGHTS") {
        Some(path) => std::fs::read(path).expect("SSDFACE_WEIGHTS is readable"),
        None => DEFAULT_WEIGHTS.to_vec(),
    };
    let path = options.frame.clone().unwrap_or_else(first_validation_photo);
    let (width, height) = (options.size.0 as u32, options.size.1 as u32);
    let frame = image::open(&path)
        .expect("the frame decodes")
        .resize_exact(width, height, FilterType::Triangle)
        .to_rgba8();
    let view = ImageView::new(frame.as_raw(), width, height, PixelFormat::Rgba).expect("RGBA");
    if let Some(file) = &options.outputs {
        write_outputs(file, &weights, &view);
        return;
    }
    let threads = common::cpu_threads();

    if !options.json {
        println!(
            "detection of {} at {width}x{height}, {threads} threads, warm median of {} frames:",
            path.display(),
            options.runs
        );
    }
    for (name, device) in options.backends.backends() {
        let detector = Detector::from_weights(&weights, device).expect("weights load");
        let start = Instant::now();
        detector.detect(&view).expect("detection");
        let cold_ms = start.elapsed().as_secs_f64() * 1e3;
        for _ in 1..options.warm_up {
            detector.detect(&view).expect("detection");
        }
        let times: Vec<f64> = (0..options.runs)
            .map(|_| {
                let start = Instant::now();
                detector.detect(&view).expect("detection");
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        if options.json {
            let line = serde_json::json!({
                "detector": "ssdface",
                "backend": name,
                "size": format!("{width}x{height}"),
                "threads": threads,
                "cold_ms": cold_ms,
                "times_ms": times,
            });
            println!("{line}");
        } else {
            let min = times.iter().copied().fold(f64::INFINITY, f64::min);
            let max = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "  native {name:<12} median {:6.1} ms/frame (min {min:.1}, max {max:.1}; cold {cold_ms:.0} ms)",
                common::median(times),
            );
        }
    }
}

/// The CPU network's input tensor and raw outputs (logits and box offsets per prior) for
/// `view`, with their shapes and the network's config, as one JSON object in `file`.
fn write_outputs(file: &Path, weights: &[u8], view: &ImageView) {
    let device = Device::flex();
    let (config, model) = ssdface::weights::from_bytes(weights, &device).expect("weights load");
    let input = to_input_tensor(view, &config, &device);
    let output = model.forward(input.clone());
    let tensor = |t: Tensor<3>| {
        serde_json::json!({
            "shape": t.dims(),
            "values": t.into_data().try_to_vec::<f32>().expect("f32 values"),
        })
    };
    let input = input.squeeze_dim::<3>(0);
    let record = serde_json::json!({
        "config": config,
        "input": tensor(input),
        "logits": tensor(output.logits),
        "offsets": tensor(output.offsets),
    });
    std::fs::write(file, record.to_string()).expect("the outputs file is writable");
}
