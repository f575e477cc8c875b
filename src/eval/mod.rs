//! Evaluation the way WIDER FACE does it: average precision from a precision-recall curve.

mod ap;
#[cfg(feature = "cli")]
mod report;
#[cfg(feature = "cli")]
mod settings;
#[cfg(feature = "cli")]
mod submission;

pub use ap::{GroundTruth, ImageEval, PrCurve, SizeRange, average_precision, pr_curve};
#[cfg(feature = "cli")]
pub use report::{
    EvalReport, SIZE_RANGES, SizeResult, draw_pr_curve, evaluate, ground_truth, score,
};
#[cfg(feature = "cli")]
pub use settings::{SettingsError, WIDER_SETTINGS, open_settings, setting_folders};
#[cfg(feature = "cli")]
pub use submission::{SubmissionError, read_submission, write_submission};
