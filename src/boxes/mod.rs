//! Pure box math, free of any tensor backend: shared by training, native inference and the
//! browser, and unit-tested on plain numbers.
//!
//! Boxes travel in two forms: [`Corners`] (`x1, y1, x2, y2`) for overlap and clipping, and
//! [`CenterSize`] (`cx, cy, w, h`) for the SSD box codec. Coordinates are normalised to the
//! network input (`0..1` on both axes) unless a function says it works in pixels.

mod codec;
mod geometry;
mod mapping;
mod matching;
mod nms;
mod priors;

pub use codec::{Variances, decode, encode};
pub use geometry::{CenterSize, Corners, iou};
pub use mapping::to_source_pixels;
pub use matching::{MatchThresholds, PriorTargets, match_priors};
pub use nms::{NmsConfig, NmsConfigError, Scored, non_max_suppression};
pub use priors::{PriorLevel, generate_priors};
