//! Training (native only, `train` feature): data, augmentation, targets, loss and the loop.

mod affine;
mod augment;
mod checkpoint;
mod config;
mod history;
mod item;
mod loader;
mod loss;
mod metrics;
mod overlap;
mod policy;
mod report;
mod run;
mod schedule;
mod step;

pub use affine::{Affine, render};
pub use augment::{AugmentConfig, FILL, augment, transform_faces};
pub use config::{TrainConfig, TrainConfigError};
pub use history::{EpochRecord, History};
pub use item::{BACKGROUND, FACE, IGNORED, TargetRules, TrainItem, encode_item};
pub use loader::{AugmentedDataset, DetectionBatch, DetectionBatcher, DetectionItem};
pub use loss::{LossParts, LossWeights, detection_loss, multibox_loss};
pub use metrics::{ApMetric, ImagesPerSecond, LossPart, LossPartMetric, names};
pub use policy::{EpochEndPolicy, draw_curves};
pub use report::{MessageSink, RunMessage, RunOutput};
pub use run::{
    BEST_WEIGHTS, CONFIG_FILE, LAST_WEIGHTS, LOCK_FILE, RunData, RunError, RunReport,
    export_checkpoint, load_checkpoint, resume, start,
};
pub use schedule::DetectorSchedule;
pub use step::{StepOutput, TrainingModel};
