//! Evaluation the way WIDER FACE does it: average precision from a precision-recall curve.

mod ap;

pub use ap::{GroundTruth, ImageEval, PrCurve, SizeRange, average_precision, pr_curve};
