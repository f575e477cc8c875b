//! Evaluation the way WIDER FACE does it: average precision from a precision-recall curve.

mod ap;
#[cfg(feature = "cli")]
mod report;

pub use ap::{GroundTruth, ImageEval, PrCurve, SizeRange, average_precision, pr_curve};
#[cfg(feature = "cli")]
pub use report::{
    EvalReport, SIZE_RANGES, SizeResult, draw_pr_curve, evaluate, score, write_submission,
};
