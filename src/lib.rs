//! ssdface: a small SSD face detector built on burn.
//!
//! - [`boxes`]: pure box math (priors, codec, IoU, NMS, mapping back to source pixels).
//! - [`model`]: the SSD network, defined once for every burn device.
//! - [`preprocess`]: pixel buffers to normalised input tensors.
//! - [`weights`]: saving and loading trained weights (f32 or f16), from files or bytes.
//! - [`average`]: the parameter-wise mean of several trained networks.
//! - [`detector`]: the whole pipeline, image in, faces out.
//! - `photo` (feature `images`): photo files decoded upright, truncated files refused.
//! - `web` (feature `web`): the browser API over the detector.
//! - `kernels` (features `train`, `cli`, `web`): the crate's CPU kernels: for training (fused
//!   batch norm + ReLU6, depthwise convolution, with their own backward; Flex and LibTorch) and
//!   for inference (the folded convolution's bias and ReLU6 in one pass; Flex).
//! - `train` (feature `train`): native training; [`eval`]: WIDER FACE-style evaluation.

#![warn(missing_docs)]

pub mod average;
pub mod boxes;
pub mod data;
pub mod default_model;
pub mod detector;
pub mod eval;
#[cfg(feature = "cpu-kernels")]
// burn marks its LibTorch backend deprecated; it remains a backend of this crate (`libtorch`),
// and the kernels implement their extension for it.
#[cfg_attr(feature = "libtorch", allow(deprecated))]
pub mod kernels;
pub mod model;
#[cfg(all(feature = "libtorch", unix))]
pub mod openmp;
#[cfg(feature = "images")]
pub mod photo;
#[cfg(feature = "images")]
pub mod plots;
pub mod preprocess;
#[cfg(feature = "train")]
pub mod train;
#[cfg(feature = "web")]
pub mod web;
pub mod weights;

/// Write a file so that readers see the old contents or the new, never a part: write a
/// sibling temporary file, flush it to disk, then rename it over the target. On failure (a full
/// disk, a folder in the way) the temporary file is removed and the target left as it was.
#[cfg(not(target_family = "wasm"))]
pub fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Refuses a path that is not a regular file (a folder, a named pipe, a device): reading a
/// named pipe would wait for a writer forever.
#[cfg(not(target_family = "wasm"))]
pub fn check_regular_file(path: &std::path::Path) -> std::io::Result<()> {
    if std::fs::metadata(path)?.is_file() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("ssdface-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A non-empty folder where the file should go: the rename fails.
        let target = dir.join("result.json");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(super::atomic_write(&target, b"{}").is_err());
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["result.json"], "only the folder that was there");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
