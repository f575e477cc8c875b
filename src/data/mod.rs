//! Face annotations in WIDER FACE's `bbx_gt` text format.

mod wider;

pub use wider::{FaceLabel, LabelError, LabeledImage, parse_labels, read_labels};
