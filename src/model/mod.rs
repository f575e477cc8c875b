//! The SSD network, defined once for every device: a MobileNetV2-style backbone, extra layers
//! for large faces, and 3x3 detection heads on four feature maps of decreasing resolution.

mod backbone;
mod config;
mod context;
mod heads;
mod layers;
mod ssd;
mod top_down;

// The range check the training config shares.
#[cfg(feature = "train")]
pub(crate) use config::ensure;
pub use config::{ConfigError, OutOfRange, SsdConfig, StageConfig, parse_size};
pub use layers::{ConvBn, batch_norm_training};
pub use ssd::{Ssd, SsdOutput};
