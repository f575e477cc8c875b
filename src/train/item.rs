//! One training example as the network sees it: normalised pixels and per-prior targets.

use crate::boxes::{CenterSize, Corners, match_priors};
use crate::model::SsdConfig;
use crate::preprocess::{ImageView, PixelFormat, resize_normalise};

use crate::data::Sample;

/// Network input and targets for one image.
#[derive(Clone, Debug)]
pub struct TrainItem {
    /// `[3, height, width]` normalised pixels.
    pub pixels: Vec<f32>,
    /// Per prior: 1 for face, 0 for background.
    pub labels: Vec<i64>,
    /// Per prior: the four encoded offsets (zeros for background).
    pub offsets: Vec<f32>,
}

/// Turn an augmented sample (already at the network input size) into network input and
/// targets: faces normalised to the input, matched to `priors`.
pub fn encode_item(
    sample: &Sample,
    config: &SsdConfig,
    priors: &[CenterSize],
    match_iou: f32,
) -> TrainItem {
    let (w, h) = (sample.image.width(), sample.image.height());
    let view = ImageView::new(sample.image.as_raw(), w, h, PixelFormat::Rgb)
        .expect("an RgbImage always matches its size");
    let pixels = resize_normalise(
        &view,
        config.input_width,
        config.input_height,
        config.pixel_mean,
        config.pixel_std,
    );
    let (wf, hf) = (w as f32, h as f32);
    let faces: Vec<Corners> = sample
        .faces
        .iter()
        .map(|f| Corners::new(f.x1 / wf, f.y1 / hf, f.x2 / wf, f.y2 / hf))
        .collect();
    let targets = match_priors(priors, &faces, match_iou, config.variances);
    TrainItem {
        pixels,
        labels: targets
            .matched
            .iter()
            .map(|m| i64::from(m.is_some()))
            .collect(),
        offsets: targets.offsets.into_iter().flatten().collect(),
    }
}
