//! One optimisation step and one validation step, as burn-train's learner calls them.

use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::train::metric::{Adaptor, LossInput};
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use super::TrainConfig;
use super::loader::DetectionBatch;
use super::loss::{LossParts, LossWeights, detection_loss};
use crate::boxes::NmsConfig;
use crate::detector::BoxDecoder;
use crate::eval::GroundTruth;
use crate::model::{ConfigError, Ssd, SsdOutput};

/// The network with what its loss needs.
#[derive(Module, Debug)]
pub struct TrainingModel {
    /// The detector being trained.
    pub ssd: Ssd,
    /// Mined background priors per face prior.
    pub negatives_per_positive: usize,
    /// Weight of the box regression loss.
    pub location_weight: f32,
    /// Weight of the generalised-IoU term within the box regression loss.
    pub giou_weight: f32,
    /// Decodes validation predictions on the device, as detection does.
    pub boxes: BoxDecoder,
}

/// A step's result: the loss parts and, for validation, the predictions and ground truth that
/// the AP metric needs.
pub struct StepOutput {
    /// Total loss.
    pub loss: Tensor<1>,
    /// Box regression part (smooth-L1, plus the weighted generalised-IoU term).
    pub location: Tensor<1>,
    /// Classification part.
    pub confidence: Tensor<1>,
    /// Validation only: `[batch, k, 5]` [`BoxDecoder::candidates`] of each image.
    pub predictions: Option<Tensor<3>>,
    /// Validation only: each image's size and labelled faces.
    pub truth: Vec<((u32, u32), Vec<GroundTruth>)>,
}

impl TrainingModel {
    /// The untrained network of `config` on `device`.
    pub fn new(config: &TrainConfig, device: &Device) -> Result<Self, ConfigError> {
        Ok(Self {
            ssd: config.model.init(device)?,
            negatives_per_positive: config.negatives_per_positive,
            location_weight: config.box_loss_weight(),
            giou_weight: config.giou_loss_weight(),
            boxes: BoxDecoder::new(&config.model, device),
        })
    }

    /// The loss of the network's `output` for prior `labels` and `target_offsets` (as
    /// [`detection_loss`] takes them), with this model's weights.
    pub fn loss(
        &self,
        output: SsdOutput,
        labels: Tensor<2, Int>,
        target_offsets: Tensor<3>,
    ) -> LossParts {
        let weights = LossWeights {
            negatives_per_positive: self.negatives_per_positive,
            location: self.location_weight,
            giou: self.giou_weight,
        };
        detection_loss(
            output,
            labels,
            target_offsets,
            weights,
            self.boxes.variances(),
        )
    }

    fn losses(&self, batch: DetectionBatch, keep_predictions: bool) -> StepOutput {
        let output = self.ssd.forward(batch.images);
        let predictions = keep_predictions.then(|| {
            self.boxes
                .candidates(output.clone(), NmsConfig::evaluation().top_k)
        });
        let parts = self.loss(output, batch.labels, batch.offsets);
        StepOutput {
            loss: parts.total,
            location: parts.location,
            confidence: parts.confidence,
            predictions,
            truth: if keep_predictions {
                batch.truth
            } else {
                Vec::new()
            },
        }
    }
}

impl TrainStep for TrainingModel {
    type Input = DetectionBatch;
    type Output = StepOutput;

    fn step(&self, batch: DetectionBatch) -> TrainOutput<StepOutput> {
        let output = self.losses(batch, false);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for TrainingModel {
    type Input = DetectionBatch;
    type Output = StepOutput;

    fn step(&self, batch: DetectionBatch) -> StepOutput {
        self.losses(batch, true)
    }
}

impl ItemLazy for StepOutput {
    // Metrics run on another thread: hand them plain tensors, not the autodiff graph.
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        Ok(Self {
            loss: self.loss.without_autodiff(),
            location: self.location.without_autodiff(),
            confidence: self.confidence.without_autodiff(),
            predictions: self.predictions.map(|p| p.without_autodiff()),
            truth: self.truth,
        })
    }
}

impl Adaptor<LossInput> for StepOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}
