//! Training (native only, `train` feature): data, augmentation, targets, loss and the loop.

mod affine;
mod augment;
mod dataset;
mod item;
mod loss;

pub use affine::{Affine, render};
pub use augment::{AugmentConfig, FILL, Sample, augment, transform_faces};
pub use dataset::{DatasetError, DatasetStats, FaceDataset};
pub use item::{TrainItem, encode_item};
pub use loss::{LossParts, multibox_loss};
