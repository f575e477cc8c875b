//! Everything that defines a training run, saved as `train_config.json` in the run folder so
//! the run can be reproduced and resumed.

use burn::config::Config;

use super::augment::AugmentConfig;
use super::item::TargetRules;
use crate::model::SsdConfig;

/// A training run's settings.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// The network to train.
    #[config(default = "SsdConfig::new()")]
    pub model: SsdConfig,
    /// Augmentation of training images.
    #[config(default = "AugmentConfig::new()")]
    pub augment: AugmentConfig,
    /// Images per optimiser step.
    #[config(default = 16)]
    pub batch_size: usize,
    /// Most epochs to train.
    #[config(default = 120)]
    pub epochs: usize,
    /// Peak learning rate of Adam, reached after the warm-up.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Epochs of linear warm-up from 1 % of the peak.
    #[config(default = 1)]
    pub warmup_epochs: usize,
    /// Floor of the learning rate (cosine decay and plateau reductions stop here).
    #[config(default = 1e-5)]
    pub min_learning_rate: f64,
    /// Multiplies the learning rate when the validation loss stops improving.
    #[config(default = 0.1)]
    pub plateau_factor: f64,
    /// Epochs without improvement before the learning rate is reduced.
    #[config(default = 5)]
    pub plateau_patience: usize,
    /// Epochs without improvement before training stops.
    #[config(default = 10)]
    pub early_stopping_patience: usize,
    /// Smallest decrease of the validation loss that counts as an improvement.
    #[config(default = 1e-3)]
    pub min_delta: f64,
    /// Adam weight decay.
    #[config(default = 5e-4)]
    pub weight_decay: f64,
    /// IoU at which a prior is matched to a face.
    #[config(default = 0.35)]
    pub match_iou: f32,
    /// Faces under this many input pixels on their longer side are ignored in training.
    #[config(default = 6.0)]
    pub min_face_size: f32,
    /// Mined background priors per face prior.
    #[config(default = 3)]
    pub negatives_per_positive: usize,
    /// Seed of initialisation, shuffling and augmentation.
    #[config(default = 42)]
    pub seed: u64,
    /// Threads decoding and augmenting images.
    #[config(default = 2)]
    pub workers: usize,
}

impl TrainConfig {
    /// How this run turns faces into prior targets.
    pub fn target_rules(&self) -> TargetRules {
        TargetRules {
            match_iou: self.match_iou,
            min_face_size: self.min_face_size,
        }
    }
}
