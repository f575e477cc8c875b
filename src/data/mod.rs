//! Face annotations in WIDER FACE's `bbx_gt` text format.

#[cfg(feature = "images")]
mod dataset;
mod wider;

#[cfg(feature = "images")]
pub use dataset::{DatasetError, DatasetStats, FaceDataset, Sample};
pub use wider::{FaceLabel, LabelError, LabeledImage, parse_labels, read_labels};
