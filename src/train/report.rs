//! What a run tells its user, and where it goes: the library prints nothing; the caller passes
//! a [`RunOutput`] (the command line prints messages to standard error and draws progress).

use std::path::PathBuf;
use std::sync::Arc;

use burn::train::logger::TrainingProgressLogger;
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

use crate::data::DatasetStats;

/// A message of a run, in the order they occur.
#[derive(Clone, Debug, PartialEq)]
pub enum RunMessage {
    /// What the training folders hold.
    TrainingData(DatasetStats),
    /// What the validation folder holds.
    ValidationData(DatasetStats),
    /// `max_images` is set.
    FirstImages(usize),
    /// The run starts from a weights file (`init`).
    StartingFrom(PathBuf),
    /// A checkpoint that cannot be resumed from, and why.
    DamagedCheckpoint {
        /// Its epoch.
        epoch: usize,
        /// What is wrong.
        problem: String,
    },
    /// The run resumes from an earlier epoch than its history's last, whose checkpoint is
    /// damaged.
    FallingBack(usize),
    /// The run continues after this epoch.
    Resuming(usize),
    /// The validation loss stalled: the learning rate was multiplied by `factor`.
    LearningRateLowered {
        /// Epochs without improvement.
        patience: usize,
        /// The multiplier.
        factor: f64,
    },
    /// The history could not be written (the run goes on).
    HistoryNotWritten(String),
    /// The curves could not be drawn (the run goes on).
    CurvesNotDrawn(String),
    /// The run stops after this epoch, for this reason.
    Stopping {
        /// The last epoch.
        epoch: usize,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for RunMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TrainingData(stats) => write!(f, "training data: {stats}"),
            Self::ValidationData(stats) => write!(f, "validation data: {stats}"),
            Self::FirstImages(n) => write!(f, "using the first {n} images of each split"),
            Self::StartingFrom(path) => {
                write!(f, "starting from the weights in {}", path.display())
            }
            Self::DamagedCheckpoint { epoch, problem } => {
                write!(
                    f,
                    "warning: checkpoint of epoch {epoch} unusable ({problem})"
                )
            }
            Self::FallingBack(epoch) => {
                write!(
                    f,
                    "resuming from the newest intact checkpoint: epoch {epoch}"
                )
            }
            Self::Resuming(epoch) => write!(f, "resuming after epoch {epoch}"),
            Self::LearningRateLowered { patience, factor } => write!(
                f,
                "validation loss has not improved for {patience} epochs: learning rate x{factor}"
            ),
            Self::HistoryNotWritten(e) => {
                write!(f, "warning: cannot write the training history: {e}")
            }
            Self::CurvesNotDrawn(e) => write!(f, "warning: cannot draw the training curves: {e}"),
            Self::Stopping { epoch, reason } => write!(f, "stopping after epoch {epoch}: {reason}"),
        }
    }
}

/// Receives a run's messages.
pub type MessageSink = Arc<dyn Fn(RunMessage) + Send + Sync>;

/// Where a run's messages and progress go.
pub struct RunOutput {
    /// burn-train's progress events (epoch, position, metrics).
    pub progress: Box<dyn MetricsRenderer>,
    /// The run's messages.
    pub messages: MessageSink,
}

impl RunOutput {
    /// Nothing shown (tests, embedding).
    pub fn silent() -> Self {
        Self {
            progress: Box::new(NoProgress),
            messages: Arc::new(|_| {}),
        }
    }
}

/// A progress renderer that shows nothing.
struct NoProgress;

impl MetricsRendererTraining for NoProgress {
    fn update_train(&mut self, _: MetricState) {}
    fn update_valid(&mut self, _: MetricState) {}
}

impl MetricsRendererEvaluation for NoProgress {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}
}

impl MetricsRenderer for NoProgress {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: MetricDefinition) {}
}

impl TrainingProgressLogger for NoProgress {
    fn start(&mut self, _: usize, _: usize, _: Option<usize>, _: Option<&str>) {}
    fn update_epoch(&mut self, _: usize) {}
    fn start_split(&mut self, _: &str, _: usize) {}
    fn update_split(&mut self, _: usize) {}
    fn end_split(&mut self) {}
    fn end(&mut self) {}
    fn log_event_training(&mut self, _: String) {}
}

crate::no_evaluation_progress!(NoProgress);

/// burn-train's evaluation progress logger as no-ops, for `$renderer`: training never runs a
/// test split, yet every progress renderer must log one.
#[doc(hidden)]
#[macro_export]
macro_rules! no_evaluation_progress {
    ($renderer:ty) => {
        impl burn::train::logger::EvaluationProgressLogger for $renderer {
            fn start_global_progress(&mut self, _: usize) {}
            fn start_test(&mut self, _: &str, _: usize) {}
            fn update_test_progress(&mut self, _: usize) {}
            fn end_test(&mut self) {}
            fn end_global_progress(&mut self) {}
            fn log_event_evaluation(&mut self, _: String) {}
        }
    };
}
