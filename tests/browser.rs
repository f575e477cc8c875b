//! The demo page in headless Chromium (Debian's, driven by playwright-core from
//! `tests/browser/`): the photo path against the native CLI, WebGPU against the CPU fallback,
//! the fake camera, a denied camera. Needs `/usr/bin/chromium` and `npm install` in
//! `tests/browser` (`.ci/run` does both).

mod common;

use std::path::Path;

use ssdface::data::FaceDataset;
use ssdface::train::LAST_WEIGHTS;

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

    common::run_node_checks(
        "run.mjs",
        &[
            ("SSDFACE_WWW", &root.join("www")),
            ("SSDFACE_PHOTO", &photo),
            ("SSDFACE_NATIVE_JSON", &native_json),
            ("SSDFACE_ARTIFACTS", &dir),
        ],
    );
    println!("screenshots in {}", dir.display());
}
