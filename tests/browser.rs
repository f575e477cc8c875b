//! The demo page in headless Chromium (Debian's, driven by playwright-core from
//! `tests/browser/`): the photo path against the native CLI, WebGPU against the CPU fallback,
//! the fake camera, a denied camera. Needs `/usr/bin/chromium` and `npm install` in
//! `tests/browser` (`.ci/run` does both).

mod common;

use std::path::Path;
use std::process::Command;

use image::imageops::FilterType;
use ssdface::data::FaceDataset;
use ssdface::train::LAST_WEIGHTS;

/// A 2-second 640x480 YUV 4:2:0 video of `photo`, for Chromium's fake camera.
fn write_y4m(photo: &Path, out: &Path) {
    let rgb = image::open(photo)
        .unwrap()
        .resize_exact(640, 480, FilterType::Triangle)
        .to_rgb8();
    let (w, h) = (640usize, 480usize);
    let mut y = vec![0u8; w * h];
    let mut u = vec![0u8; w * h / 4];
    let mut v = vec![0u8; w * h / 4];
    for (x, row, p) in rgb.enumerate_pixels() {
        let [r, g, b] = p.0.map(f32::from);
        let (x, row) = (x as usize, row as usize);
        y[row * w + x] = (16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8;
        if x % 2 == 0 && row % 2 == 0 {
            let i = (row / 2) * (w / 2) + x / 2;
            u[i] = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8;
            v[i] = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8;
        }
    }
    let mut video = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..60 {
        video.extend_from_slice(b"FRAME\n");
        video.extend_from_slice(&y);
        video.extend_from_slice(&u);
        video.extend_from_slice(&v);
    }
    std::fs::write(out, video).unwrap();
}

#[test]
fn the_page_detects_like_the_native_cli_on_cpu_and_webgpu() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::require_browser_tools();
    let dir = common::scratch("browser");
    let run = dir.join("run");
    common::train_tiny(&run);
    let weights = run.join(LAST_WEIGHTS);
    common::build_web(Some(&weights));

    let dataset = FaceDataset::open(&common::tiny_data().train).unwrap();
    let photo = dataset.path(0).to_path_buf();
    let native_json = dir.join("native.json");
    common::write_native_faces(&photo, &weights, &native_json);
    let y4m = dir.join("face.y4m");
    write_y4m(&photo, &y4m);

    let output = Command::new("node")
        .arg(root.join("tests/browser/run.mjs"))
        .env("SSDFACE_WWW", root.join("www"))
        .env("SSDFACE_PHOTO", &photo)
        .env("SSDFACE_NATIVE_JSON", &native_json)
        .env("SSDFACE_Y4M", &y4m)
        .env("SSDFACE_ARTIFACTS", &dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    println!("{log}\nscreenshots in {}", dir.display());
    assert!(
        output.status.success(),
        "browser checks failed:\n{log}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
