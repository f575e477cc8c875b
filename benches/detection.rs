//! Detection latency: milliseconds per 640x480 frame (preprocessing, network, read-back,
//! decoding and suppression), warm median of 100 frames after 10 warm-up frames, on each
//! backend this build has. The native column of `bench/browser.sh`.
//!
//! `SSDFACE_WEIGHTS=model.ssdface SSDFACE_FRAME=photo.jpg cargo bench --bench detection`
//! (the bundled model and the first validation photo when unset). Prints figures; asserts nothing.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use image::imageops::FilterType;
use ssdface::default_model::DEFAULT_WEIGHTS;
use ssdface::detector::Detector;
use ssdface::preprocess::{ImageView, PixelFormat};

const WARM_UP: usize = 10;
const FRAMES: usize = 100;

fn frame_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SSDFACE_FRAME") {
        return PathBuf::from(path);
    }
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/val");
    let dataset = ssdface::data::FaceDataset::open(&[data]).expect("validation data");
    dataset.path(0).to_path_buf()
}

fn main() {
    let weights = match std::env::var_os("SSDFACE_WEIGHTS") {
        Some(path) => std::fs::read(path).expect("SSDFACE_WEIGHTS is readable"),
        None => DEFAULT_WEIGHTS
            .expect("this build bundles no model: set SSDFACE_WEIGHTS")
            .to_vec(),
    };
    let path = frame_path();
    let frame = image::open(&path)
        .expect("the frame decodes")
        .resize_exact(640, 480, FilterType::Triangle)
        .to_rgba8();
    let view = ImageView::new(frame.as_raw(), 640, 480, PixelFormat::Rgba).expect("RGBA frame");

    #[allow(unused_mut)]
    let mut backends = vec![("cpu (flex)", Device::flex())];
    #[cfg(feature = "wgpu")]
    backends.push(("wgpu", Device::wgpu(burn::tensor::DeviceKind::default())));

    println!(
        "detection of {} at 640x480, warm median of {FRAMES} frames:",
        path.display()
    );
    for (name, device) in backends {
        let detector = Detector::from_weights(&weights, device).expect("weights load");
        for _ in 0..WARM_UP {
            detector.detect(&view).expect("detection");
        }
        let mut times: Vec<f64> = (0..FRAMES)
            .map(|_| {
                let start = Instant::now();
                detector.detect(&view).expect("detection");
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "  native {name:<12} median {:6.1} ms/frame (min {:.1}, max {:.1})",
            times[FRAMES / 2],
            times[0],
            times[FRAMES - 1]
        );
    }
}
