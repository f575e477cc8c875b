//! Evaluation the way WIDER FACE does it: average precision from a precision-recall curve.

mod ap;
#[cfg(feature = "images")]
mod report;
#[cfg(feature = "images")]
mod settings;
#[cfg(feature = "images")]
mod submission;

pub use ap::{GroundTruth, ImageEval, PrCurve, SizeRange, average_precision, pr_curve};
#[cfg(feature = "images")]
pub use report::{
    EvalReport, SIZE_RANGES, SizeResult, draw_pr_curve, evaluate, ground_truth, predict, score,
    with_truth,
};
#[cfg(feature = "images")]
pub use settings::{SettingsError, WIDER_SETTINGS, open_settings, setting_folders};
#[cfg(feature = "images")]
pub use submission::{SubmissionError, read_submission, submission_files, write_submission};
