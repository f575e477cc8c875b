//! Fixtures shared by the integration tests: the real images in `../shared/data` and a
//! scratch folder per test.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ssdface::model::SsdConfig;
use ssdface::train::{self, AugmentConfig, RunData, TrainConfig};

/// `../shared/data` beside the repository (or `$SSDFACE_DATA`). Missing data is a failure,
/// not a skip: these tests exist to run on real photos.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SSDFACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
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
    )
    .unwrap()
}
