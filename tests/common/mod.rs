//! Fixtures shared by the integration tests: the real images in `../shared/data` and a
//! scratch folder per test.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ssdface::model::SsdConfig;
use ssdface::train::{self, AugmentConfig, RunData, TrainConfig};

/// The repository root, read when the test runs rather than compiled in: test binaries in a
/// target folder shared by several checkouts can outlive the checkout that built them, and a
/// compiled-in path would then read another checkout's files.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .expect("CARGO_MANIFEST_DIR is set by cargo for the tests it runs")
}

/// `../shared/data` beside the repository (or `$SSDFACE_DATA`). Missing data is a failure,
/// not a skip: these tests exist to run on real photos.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SSDFACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    assert!(
        dir.join("val/labels.txt").is_file(),
        "face data not found at {} (set SSDFACE_DATA to the folder holding val/labels.txt)",
        dir.display()
    );
    dir
}

/// A validation photo by file name.
pub fn val_image(name: &str) -> PathBuf {
    data_dir().join("val/images").join(name)
}

/// A fresh, empty folder under the cargo target directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Four photos with large faces at a small input size, learnable in a few dozen steps.
pub fn tiny_config() -> TrainConfig {
    TrainConfig::new()
        .with_model(SsdConfig::new().at_input_size(160, 120).unwrap())
        .with_augment(AugmentConfig::none())
        .with_batch_size(2)
        .with_epochs(40)
        .with_learning_rate(5e-3)
        .with_warmup_epochs(0)
        // Batch-norm statistics need some steps to settle before validation means anything.
        .with_early_stopping_patience(40)
        .with_plateau_patience(40)
        .with_workers(0)
}

/// The first four `humanfaces` photos, trained on and validated on.
pub fn tiny_data() -> RunData {
    let humanfaces = data_dir().join("humanfaces");
    RunData {
        train: vec![humanfaces.clone()],
        val: humanfaces,
        max_images: Some(4),
        init: None,
    }
}

/// Train the tiny run into `run` (about 15 s on two cores).
pub fn train_tiny(run: &Path) -> train::RunReport {
    train::start(
        run,
        &tiny_config(),
        &tiny_data(),
        vec![Device::flex()],
        None,
        train::RunOutput::silent(),
    )
    .unwrap()
}

/// Checks that the browser tests' tools are present: Debian's Chromium and the npm packages
/// of `tests/browser` (`.ci/run` installs both).
pub fn require_browser_tools() {
    let root = repo_root();
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "Debian's chromium is required (apt-get install chromium; .ci/run installs it)"
    );
    let modules = root.join("tests/browser/node_modules");
    assert!(
        modules.join("playwright-core").is_dir()
            && modules.join(".bin/vite").exists()
            && modules.join(".bin/tsc").exists(),
        "the npm packages of tests/browser are required (npm install --prefix tests/browser; \
         .ci/run installs them)"
    );
}

/// Run `build.sh` (the WebAssembly build into `pkg/` and `www/pkg/`).
pub fn build_web() {
    let root = repo_root();
    let mut command = std::process::Command::new("bash");
    command.arg(root.join("build.sh"));
    assert_success(&command.output().unwrap(), "build.sh");
}

/// The native CLI's faces for `photo` with the model `options` (none: the bundled model at its
/// own input size), written as a JSON array to `out`.
pub fn write_native_faces(photo: &Path, options: &[&std::ffi::OsStr], out: &Path) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ssdface"));
    command
        .args(["detect", photo.to_str().unwrap()])
        .args(options);
    let native = command.output().unwrap();
    assert_success(&native, "ssdface detect");
    let results: serde_json::Value = serde_json::from_slice(&native.stdout).unwrap();
    std::fs::write(out, results[0]["faces"].to_string()).unwrap();
}

/// Fails the test, showing the command's output, unless the command succeeded.
pub fn assert_success(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fails unless the command failed with `expected` in its message and without a panic.
pub fn assert_refused(output: &std::process::Output, expected: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains(expected) && !stderr.contains("panicked"),
        "{what}: {:?}\n{stderr}",
        output.status
    );
}

/// Run one of the Node.js check scripts of `tests/browser/` with `env`, print its log, and
/// fail unless every check passed.
pub fn run_node_checks(script: &str, env: &[(&str, &Path)]) {
    let root = repo_root();
    let mut command = std::process::Command::new("node");
    command.arg(root.join("tests/browser").join(script));
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_success(&output, script);
}
