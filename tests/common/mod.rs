//! Fixtures shared by the integration tests: the real images in `../shared/data` and a
//! scratch folder per test.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
