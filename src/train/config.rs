//! Everything that defines a training run, saved as `train_config.json` in the run folder so
//! the run can be reproduced and resumed.

use burn::config::Config;

use super::augment::AugmentConfig;
use super::item::TargetRules;
use crate::boxes::MatchThresholds;
use crate::model::{ConfigError, OutOfRange, SsdConfig, ensure};

/// A training run's settings.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// The network to train.
    #[config(default = "SsdConfig::new()")]
    pub model: SsdConfig,
    /// Augmentation of training images.
    #[config(default = "AugmentConfig::new()")]
    pub augment: AugmentConfig,
    /// Images per optimiser step, at most [`MAX_BATCH_SIZE`] (a size of 10^9 on four images
    /// aborted on allocation).
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
    /// IoU with a face (or ignored face) below which an unmatched prior is background; from
    /// here to `match_iou` it is ignored. `None` (runs saved before it existed too): at
    /// `match_iou`, no ignored band.
    pub background_iou: Option<f32>,
    /// Faces under this many input pixels on their longer side are ignored in training.
    #[config(default = 6.0)]
    pub min_face_size: f32,
    /// Mined background priors per face prior.
    #[config(default = 3)]
    pub negatives_per_positive: usize,
    /// Weight of the box regression loss against the classification loss. `None` (runs
    /// saved before it existed too): 1.
    pub location_weight: Option<f32>,
    /// Weight of the generalised-IoU term (`1 - GIoU` of each face prior's box) added to the
    /// smooth-L1 box regression. `None` (runs saved before it existed too): 0, smooth-L1 only.
    pub giou_weight: Option<f32>,
    /// Epochs whose checkpoints are kept, the newest ones (the best epoch's is kept too), e.g.
    /// to average several epochs' weights; at least 2. `None` (runs saved before it existed
    /// too): 2.
    pub keep_checkpoints: Option<usize>,
    /// Seed of initialisation, shuffling and augmentation.
    #[config(default = 42)]
    pub seed: u64,
    /// Threads decoding and augmenting images.
    #[config(default = 2)]
    pub workers: usize,
}

/// A training setting that cannot give a working run.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TrainConfigError {
    /// A value outside its range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// The network's config is invalid.
    #[error("model: {0}")]
    Model(#[from] ConfigError),
}

/// The largest batch a run takes: 1024 images at 320x240 are already about 1 GB of input.
pub const MAX_BATCH_SIZE: usize = 1024;

impl TrainConfig {
    /// Check every setting (command line, a resumed `train_config.json`, tests alike).
    pub fn validate(&self) -> Result<(), TrainConfigError> {
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        self.model.validate()?;
        ensure(
            "batch_size",
            "from 1 to 1024",
            self.batch_size,
            (1..=MAX_BATCH_SIZE).contains(&self.batch_size),
        )?;
        ensure("epochs", "at least 1", self.epochs, self.epochs >= 1)?;
        let lr = self.learning_rate;
        ensure("learning_rate", "in (0, 1]", lr, lr > 0.0 && lr <= 1.0)?;
        let floor = self.min_learning_rate;
        let floor_ok = floor >= 0.0 && floor.is_finite();
        ensure("min_learning_rate", "0 or more", floor, floor_ok)?;
        let factor = self.plateau_factor;
        ensure(
            "plateau_factor",
            "in (0, 1]",
            factor,
            factor > 0.0 && factor <= 1.0,
        )?;
        ensure(
            "min_delta",
            "0 or more",
            self.min_delta,
            self.min_delta >= 0.0,
        )?;
        let decay = self.weight_decay;
        ensure("weight_decay", "from 0 to 1", decay, unit(decay))?;
        let iou = f64::from(self.match_iou);
        ensure("match_iou", "in (0, 1]", iou, iou > 0.0 && iou <= 1.0)?;
        let background = f64::from(self.match_thresholds().background);
        ensure(
            "background_iou",
            "in (0, match_iou]",
            background,
            background > 0.0 && background <= iou,
        )?;
        let size = self.min_face_size;
        ensure(
            "min_face_size",
            "0 or more",
            size,
            size >= 0.0 && size.is_finite(),
        )?;
        let negatives = self.negatives_per_positive;
        ensure(
            "negatives_per_positive",
            "at least 1",
            negatives,
            negatives >= 1,
        )?;
        let weight = f64::from(self.box_loss_weight());
        ensure(
            "location_weight",
            "from 0 to 100",
            weight,
            (0.0..=100.0).contains(&weight),
        )?;
        let giou = f64::from(self.giou_loss_weight());
        ensure(
            "giou_weight",
            "from 0 to 100",
            giou,
            (0.0..=100.0).contains(&giou),
        )?;
        let keep = self.checkpoints_kept();
        // Two at least: the newest epoch's checkpoint is written before its history entry, so
        // a run killed in between resumes from the epoch before, which must still be there.
        ensure("keep_checkpoints", "at least 2", keep, keep >= 2)?;
        self.augment.validate()?;
        Ok(())
    }

    /// The IoUs that make a prior a face, background or ignored; without `background_iou`,
    /// one threshold at `match_iou`.
    pub fn match_thresholds(&self) -> MatchThresholds {
        MatchThresholds {
            face: self.match_iou,
            background: self.background_iou.unwrap_or(self.match_iou),
        }
    }

    /// The weight of the box regression loss: `location_weight`, or 1 without it.
    pub fn box_loss_weight(&self) -> f32 {
        self.location_weight.unwrap_or(1.0)
    }

    /// The weight of the generalised-IoU term: `giou_weight`, or 0 without it.
    pub fn giou_loss_weight(&self) -> f32 {
        self.giou_weight.unwrap_or(0.0)
    }

    /// How many of the newest epochs' checkpoints the run keeps: `keep_checkpoints`, or 2.
    pub fn checkpoints_kept(&self) -> usize {
        self.keep_checkpoints.unwrap_or(2)
    }

    /// How this run turns faces into prior targets.
    pub fn target_rules(&self) -> TargetRules {
        TargetRules {
            thresholds: self.match_thresholds(),
            min_face_size: self.min_face_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_setting_out_of_range() {
        assert_eq!(TrainConfig::new().validate(), Ok(()));
        let error = TrainConfig::new()
            .with_batch_size(0)
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "batch_size must be from 1 to 1024, got 0"
        );
        let error = TrainConfig::new()
            .with_batch_size(1_000_000_000)
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "batch_size must be from 1 to 1024, got 1000000000"
        );
        let error = TrainConfig::new()
            .with_learning_rate(f64::NAN)
            .validate()
            .unwrap_err();
        assert!(error.to_string().starts_with("learning_rate"), "{error}");
        let augment = AugmentConfig::new().with_mosaic(1.5);
        let error = TrainConfig::new()
            .with_augment(augment)
            .validate()
            .unwrap_err();
        assert!(error.to_string().starts_with("augment.mosaic"), "{error}");
        let model = SsdConfig::new().with_input_width(7);
        let error = TrainConfig::new().with_model(model).validate().unwrap_err();
        assert!(matches!(error, TrainConfigError::Model(_)), "{error}");
        let error = TrainConfig::new()
            .with_background_iou(Some(0.6))
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "background_iou must be in (0, match_iou], got 0.6000000238418579"
        );
        let error = TrainConfig::new()
            .with_location_weight(Some(-1.0))
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "location_weight must be from 0 to 100, got -1"
        );
        let error = TrainConfig::new()
            .with_giou_weight(Some(f32::NAN))
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "giou_weight must be from 0 to 100, got NaN"
        );
        let error = TrainConfig::new()
            .with_keep_checkpoints(Some(1))
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "keep_checkpoints must be at least 2, got 1"
        );
    }

    #[test]
    fn a_band_of_ignored_priors_only_when_asked_for() {
        let single = TrainConfig::new().target_rules().thresholds;
        assert_eq!(single, MatchThresholds::single(0.35));
        let band = TrainConfig::new()
            .with_match_iou(0.5)
            .with_background_iou(Some(0.35))
            .target_rules()
            .thresholds;
        assert_eq!((band.face, band.background), (0.5, 0.35));
    }

    #[test]
    fn runs_saved_before_the_optional_settings_load_without_them() {
        let mut json: serde_json::Value =
            serde_json::from_str(&TrainConfig::new().to_string()).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.remove("background_iou").unwrap();
        fields.remove("location_weight").unwrap();
        fields.remove("giou_weight").unwrap();
        fields.remove("keep_checkpoints").unwrap();
        let config: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(config.background_iou, None);
        assert_eq!(config.location_weight, None);
        assert_eq!(config.giou_weight, None);
        assert_eq!(config.checkpoints_kept(), 2);
        assert_eq!(config.validate(), Ok(()));
    }
}
