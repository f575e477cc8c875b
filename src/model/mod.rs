//! The SSD network, defined once for every device: a MobileNetV2-style backbone, extra layers
//! for large faces, and 3x3 detection heads on four feature maps of decreasing resolution.

mod backbone;
mod config;
mod heads;
mod layers;
mod ssd;

pub use config::{ConfigError, SsdConfig, StageConfig, parse_size};
pub use ssd::{Ssd, SsdOutput};
