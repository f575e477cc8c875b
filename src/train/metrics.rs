//! Metrics burn-train lacks: the loss parts (which also stop a run whose loss turns NaN),
//! training throughput in images per second, and validation AP.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::tensor::TensorReadError;
use burn::train::Interrupter;
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

use super::step::StepOutput;
use crate::boxes::{Corners, Scored};
use crate::detector::FaceSelector;
use crate::eval::{GroundTruth, ImageEval, SizeRange, average_precision, pr_curve};

/// Metric names, also the names of burn-train's log files.
pub mod names {
    /// Total loss (burn-train's own `LossMetric`).
    pub const LOSS: &str = "Loss";
    /// Box regression part of the loss.
    pub const LOCATION: &str = "Location Loss";
    /// Classification part of the loss.
    pub const CONFIDENCE: &str = "Confidence Loss";
    /// Learning rate (burn-train's own `LearningRateMetric`).
    pub const LEARNING_RATE: &str = "Learning Rate";
    /// Training throughput.
    pub const IMAGES_PER_SECOND: &str = "Images per second";
    /// Validation average precision at IoU 0.5.
    pub const AP: &str = "AP";
}

/// Which loss part a [`LossPartMetric`] reports.
#[derive(Clone, Copy, Debug)]
pub enum LossPart {
    /// Box regression: smooth-L1, plus the weighted generalised-IoU term when there is one.
    Location,
    /// Cross-entropy classification.
    Confidence,
}

/// The loss parts of each step.
pub struct LossPartsInput {
    location: f64,
    confidence: f64,
    total: f64,
}

impl Adaptor<LossPartsInput> for StepOutput {
    fn adapt(&self) -> LossPartsInput {
        let read = |t: &burn::prelude::Tensor<1>| t.clone().into_scalar::<f64>();
        LossPartsInput {
            location: read(&self.location),
            confidence: read(&self.confidence),
            total: read(&self.loss),
        }
    }
}

/// One loss part. The instance given an [`Interrupter`] stops the run as soon as a step's loss
/// is not finite, before the epoch's checkpoint is written, so the last good one stays.
#[derive(Clone)]
pub struct LossPartMetric {
    part: LossPart,
    state: NumericMetricState,
    nan_guard: Option<(Interrupter, Arc<Mutex<Option<String>>>)>,
}

impl LossPartMetric {
    /// A metric for `part`.
    pub fn new(part: LossPart) -> Self {
        Self {
            part,
            state: NumericMetricState::new(),
            nan_guard: None,
        }
    }

    /// Stop the run through `interrupter` on a non-finite loss, recording why in `reason`.
    pub fn stopping_on_nan(
        mut self,
        interrupter: Interrupter,
        reason: Arc<Mutex<Option<String>>>,
    ) -> Self {
        self.nan_guard = Some((interrupter, reason));
        self
    }
}

impl Metric for LossPartMetric {
    type Input = LossPartsInput;

    fn name(&self) -> MetricName {
        Arc::new(
            match self.part {
                LossPart::Location => names::LOCATION,
                LossPart::Confidence => names::CONFIDENCE,
            }
            .to_string(),
        )
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: false,
        }
        .into()
    }

    fn update(
        &mut self,
        input: &LossPartsInput,
        metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        if let Some((interrupter, reason)) = &self.nan_guard
            && !input.total.is_finite()
        {
            let message = format!(
                "the loss became {} at iteration {}; stopping with the last good checkpoint \
                 kept (try a lower --lr)",
                input.total,
                metadata.iteration.unwrap_or(0)
            );
            *reason.lock().expect("reason lock") = Some(message.clone());
            interrupter.stop(Some(&message));
        }
        let value = match self.part {
            LossPart::Location => input.location,
            LossPart::Confidence => input.confidence,
        };
        self.state.update(value, 1);
        Ok(self
            .state
            .compute_update(FormatOptions::new(self.name()).precision(4)))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self
            .state
            .compute_final(FormatOptions::new(self.name()).precision(4)))
    }

    fn clear(&mut self) {
        self.state.reset()
    }
}

impl Numeric for LossPartMetric {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }
    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }
    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

/// Training images per second over the epoch, counted from its first step (the first step's
/// own images arrive with no elapsed time to divide by). The epoch's value is the last one:
/// the throughput over the whole epoch.
#[derive(Clone, Default)]
pub struct ImagesPerSecond {
    started: Option<(Instant, usize)>,
    rate: Option<f64>,
}

impl Metric for ImagesPerSecond {
    type Input = ();

    fn name(&self) -> MetricName {
        Arc::new(names::IMAGES_PER_SECOND.to_string())
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: Some("img/s".into()),
            higher_is_better: true,
        }
        .into()
    }

    fn update(
        &mut self,
        _: &(),
        metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let items = metadata.progress.items_processed;
        let Some((started, first_items)) = self.started else {
            self.started = Some((Instant::now(), items));
            return Ok(SerializedEntry::not_available(Some("img/s")));
        };
        let rate = (items - first_items) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        self.rate = Some(rate);
        Ok(SerializedEntry::new(
            format!("{rate:.1} img/s"),
            NumericEntry::Value(rate).serialize(),
        ))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let rate = self.rate.unwrap_or(0.0);
        Ok(SerializedEntry::new(
            format!("{rate:.1} img/s"),
            NumericEntry::Value(rate).serialize(),
        ))
    }

    fn clear(&mut self) {
        self.started = None;
        self.rate = None;
    }
}

impl Numeric for ImagesPerSecond {
    fn value(&self) -> Option<NumericEntry> {
        self.rate.map(NumericEntry::Value)
    }
    fn running_value(&self) -> Option<NumericEntry> {
        self.value()
    }
    fn final_value(&self) -> NumericEntry {
        NumericEntry::Value(self.rate.unwrap_or(0.0))
    }
}

/// One validation image: its [candidates](crate::detector::BoxDecoder::candidates), size and
/// faces.
pub struct ApImage {
    rows: Vec<f32>,
    size: (u32, u32),
    truth: Vec<GroundTruth>,
}

/// The validation images of a batch.
pub struct ApInput {
    images: Vec<ApImage>,
}

impl Adaptor<ApInput> for StepOutput {
    fn adapt(&self) -> ApInput {
        let Some(predictions) = &self.predictions else {
            return ApInput { images: Vec::new() };
        };
        let [_, k, width] = predictions.dims();
        let rows = predictions
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("predictions are f32");
        let images = rows
            .chunks_exact(k * width)
            .zip(&self.truth)
            .map(|(rows, (size, truth))| ApImage {
                rows: rows.to_vec(),
                size: *size,
                truth: truth.clone(),
            })
            .collect();
        ApInput { images }
    }
}

/// Validation AP at IoU 0.5 over the whole split (WIDER protocol, all face sizes), from
/// predictions decoded at the evaluation score threshold.
#[derive(Clone)]
pub struct ApMetric {
    selector: FaceSelector,
    images: Vec<ImageEval>,
    current: Option<f64>,
}

impl ApMetric {
    /// A metric turning candidates into faces with `selector`.
    pub fn new(selector: FaceSelector) -> Self {
        Self {
            selector,
            images: Vec::new(),
            current: None,
        }
    }
}

impl Metric for ApMetric {
    type Input = ApInput;

    fn name(&self) -> MetricName {
        Arc::new(names::AP.to_string())
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: true,
        }
        .into()
    }

    fn update(
        &mut self,
        input: &ApInput,
        _: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        for image in &input.images {
            let (w, h) = image.size;
            let predictions = self
                .selector
                .select(&image.rows, w, h)
                .into_iter()
                .map(|f| Scored {
                    bbox: Corners::from_xywh(f.x, f.y, f.width, f.height),
                    score: f.score,
                })
                .collect();
            self.images.push(ImageEval {
                truth: image.truth.clone(),
                predictions,
            });
        }
        // AP exists only for the whole split.
        Ok(SerializedEntry::not_available(None))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let ap = average_precision(&pr_curve(&self.images, 0.5, SizeRange::ALL)) as f64;
        self.current = Some(ap);
        Ok(SerializedEntry::new(
            format!("epoch {ap:.4}"),
            NumericEntry::Value(ap).serialize(),
        ))
    }

    fn clear(&mut self) {
        self.images.clear();
        self.current = None;
    }
}

impl Numeric for ApMetric {
    fn value(&self) -> Option<NumericEntry> {
        self.current.map(NumericEntry::Value)
    }
    fn running_value(&self) -> Option<NumericEntry> {
        self.value()
    }
    fn final_value(&self) -> NumericEntry {
        NumericEntry::Value(self.current.unwrap_or(0.0))
    }
}
