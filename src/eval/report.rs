//! Evaluating a detector on a labelled folder: AP overall and by face size, recall, WIDER
//! submission files and a precision-recall chart.

use std::path::Path;

use crate::boxes::{Corners, Scored};
use crate::data::{DatasetError, FaceDataset};
use crate::detector::Detector;
use crate::plots::{Chart, PlotError, Series, line_chart};
use crate::preprocess::{ImageView, PixelFormat};

use super::ap::{GroundTruth, ImageEval, PrCurve, SizeRange, average_precision, pr_curve};

/// AP and recall for one range of face sizes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SizeResult {
    /// `all`, `small` (< 32 px high), `medium` (32-96) or `large` (> 96).
    pub sizes: &'static str,
    /// Faces that count in this range.
    pub faces: usize,
    /// Average precision.
    pub ap: f32,
    /// Recall at the lowest threshold.
    pub recall: f32,
}

/// The result of an evaluation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// IoU needed for a match.
    pub iou_threshold: f32,
    /// One line per size range, `all` first.
    pub results: Vec<SizeResult>,
    /// The curve over all sizes.
    pub curve: PrCurve,
}

/// The named size ranges, in report order.
pub const SIZE_RANGES: [(&str, SizeRange); 4] = [
    ("all", SizeRange::ALL),
    ("small", SizeRange::SMALL),
    ("medium", SizeRange::MEDIUM),
    ("large", SizeRange::LARGE),
];

/// Run `detector` on every image of `dataset` (with its score threshold: use 0.01) and score
/// the predictions. `on_image` is called after each image (for progress).
pub fn evaluate(
    detector: &Detector,
    dataset: &FaceDataset,
    iou_threshold: f32,
    on_image: impl FnMut(usize),
) -> Result<(EvalReport, Vec<ImageEval>), DatasetError> {
    let images = with_truth(dataset, predict(detector, dataset, on_image)?);
    Ok((score(&images, iou_threshold), images))
}

/// The boxes `detector` finds in every image of `dataset`, in its order. `on_image` is called
/// after each image (for progress).
pub fn predict(
    detector: &Detector,
    dataset: &FaceDataset,
    mut on_image: impl FnMut(usize),
) -> Result<Vec<Vec<Scored>>, DatasetError> {
    let mut predictions = Vec::with_capacity(dataset.len());
    for index in 0..dataset.len() {
        let sample = dataset.load(index)?;
        let (w, h) = sample.image.dimensions();
        let view = ImageView::new(sample.image.as_raw(), w, h, PixelFormat::Rgb)
            .expect("a decoded image matches its size");
        let faces = detector.detect(&view).map_err(|e| DatasetError::Image {
            path: dataset.path(index).to_path_buf(),
            message: e.to_string(),
        })?;
        predictions.push(
            faces
                .iter()
                .map(|f| Scored {
                    bbox: Corners::from_xywh(f.x, f.y, f.width, f.height),
                    score: f.score,
                })
                .collect(),
        );
        on_image(index + 1);
    }
    Ok(predictions)
}

/// Boxes (in `dataset`'s image order, from [`predict`] or a submission) beside each image's
/// labelled faces, ready to [`score`].
pub fn with_truth(dataset: &FaceDataset, predictions: Vec<Vec<Scored>>) -> Vec<ImageEval> {
    predictions
        .into_iter()
        .enumerate()
        .map(|(index, predictions)| ImageEval {
            truth: ground_truth(dataset, index),
            predictions,
        })
        .collect()
}

/// The labelled faces of image `index`, as the protocol sees them.
pub fn ground_truth(dataset: &FaceDataset, index: usize) -> Vec<GroundTruth> {
    dataset
        .labels(index)
        .iter()
        .map(|&(bbox, ignore)| GroundTruth { bbox, ignore })
        .collect()
}

/// AP and recall of predictions already made.
pub fn score(images: &[ImageEval], iou_threshold: f32) -> EvalReport {
    let results = SIZE_RANGES
        .iter()
        .map(|&(name, range)| {
            let curve = pr_curve(images, iou_threshold, range);
            SizeResult {
                sizes: name,
                faces: curve.counted_faces,
                ap: average_precision(&curve),
                recall: curve.recall.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    EvalReport {
        images: images.len(),
        iou_threshold,
        results,
        curve: pr_curve(images, iou_threshold, SizeRange::ALL),
    }
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} images, IoU >= {} (WIDER FACE protocol, VOC-interpolated AP)",
            self.images, self.iou_threshold
        )?;
        writeln!(
            f,
            "{:<8} {:>6} {:>7} {:>7}",
            "sizes", "faces", "AP", "recall"
        )?;
        for r in &self.results {
            writeln!(
                f,
                "{:<8} {:>6} {:>7.4} {:>7.4}",
                r.sizes, r.faces, r.ap, r.recall
            )?;
        }
        Ok(())
    }
}

/// The precision-recall curve as a PNG chart.
pub fn draw_pr_curve(path: &Path, report: &EvalReport, label: &str) -> Result<(), PlotError> {
    let all = &report.results[0];
    let name = format!("{label} (AP {:.3})", all.ap);
    let points = report
        .curve
        .recall
        .iter()
        .zip(&report.curve.precision)
        .map(|(&r, &p)| (r as f64, p as f64))
        .collect();
    line_chart(
        path,
        &Chart {
            title: "Precision-recall, all face sizes",
            x_label: "recall",
            y_label: "precision",
            log_y: false,
            fixed_range: Some(((0.0, 1.0), (0.0, 1.02))),
        },
        &[Series {
            name: &name,
            points,
        }],
    )
}
