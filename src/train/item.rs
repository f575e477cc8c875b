//! One training example as the network sees it: normalised pixels and per-prior targets.

use crate::boxes::{CenterSize, Corners, MatchThresholds, match_priors};
use crate::model::SsdConfig;
use crate::preprocess::{ImageView, PixelFormat, resize_normalise};

use crate::data::Sample;

/// Prior label of a face prior.
pub const FACE: i64 = 1;
/// Prior label of a background prior.
pub const BACKGROUND: i64 = 0;
/// Prior label of a prior that the loss skips (it matches an ignored face).
pub const IGNORED: i64 = -1;

/// How faces become prior targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetRules {
    /// IoU at which a prior is matched to a face, and below which it is background.
    pub thresholds: MatchThresholds,
    /// Faces whose longer side is under this many input pixels are ignored rather than
    /// learnt: far smaller than the smallest prior, they would be matched at a low IoU with
    /// offsets too large to learn, and they are no background either.
    pub min_face_size: f32,
}

/// Network input and targets for one image.
#[derive(Clone, Debug)]
pub struct TrainItem {
    /// `[3, height, width]` normalised pixels.
    pub pixels: Vec<f32>,
    /// Per prior: [`FACE`] 1, [`BACKGROUND`] 0 or [`IGNORED`] -1.
    pub labels: Vec<i64>,
    /// Per prior: the four encoded offsets (zeros for background).
    pub offsets: Vec<f32>,
}

/// Turn an augmented sample (already at the network input size) into network input and
/// targets: faces normalised to the input, matched to `priors` by `rules`.
pub fn encode_item(
    sample: &Sample,
    config: &SsdConfig,
    priors: &[CenterSize],
    rules: TargetRules,
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
    let (faces, too_small): (Vec<Corners>, Vec<Corners>) = sample
        .faces
        .iter()
        .partition(|f| f.width().max(f.height()) >= rules.min_face_size);
    let normalise = |f: &Corners| Corners::new(f.x1 / wf, f.y1 / hf, f.x2 / wf, f.y2 / hf);
    let faces: Vec<Corners> = faces.iter().map(normalise).collect();
    let ignored: Vec<Corners> = sample
        .ignored
        .iter()
        .chain(&too_small)
        .map(normalise)
        .collect();
    let targets = match_priors(priors, &faces, &ignored, rules.thresholds, config.variances);
    TrainItem {
        pixels,
        labels: targets
            .matched
            .iter()
            .zip(&targets.ignored)
            .map(|(m, &ignored)| match (m, ignored) {
                (Some(_), _) => FACE,
                (None, true) => IGNORED,
                (None, false) => BACKGROUND,
            })
            .collect(),
        offsets: targets.offsets.into_iter().flatten().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn labels_for(faces: Vec<Corners>, ignored: Vec<Corners>) -> Vec<i64> {
        let config = SsdConfig::new();
        let sample = Sample {
            image: RgbImage::new(config.input_width as u32, config.input_height as u32),
            faces,
            ignored,
        };
        let rules = TargetRules {
            thresholds: MatchThresholds::single(0.35),
            min_face_size: 6.0,
        };
        encode_item(&sample, &config, &config.priors(), rules).labels
    }

    fn count(labels: &[i64], label: i64) -> usize {
        labels.iter().filter(|&&l| l == label).count()
    }

    #[test]
    fn faces_ignored_faces_and_tiny_faces_become_face_ignored_and_nothing() {
        let face = Corners::new(100.0, 100.0, 124.0, 124.0);
        let labels = labels_for(vec![face], Vec::new());
        assert!(count(&labels, FACE) >= 1);
        assert_eq!(count(&labels, IGNORED), 0);

        // The same box as an ignored face: no face prior, some ignored ones.
        let labels = labels_for(Vec::new(), vec![face]);
        assert_eq!(count(&labels, FACE), 0);
        assert!(count(&labels, IGNORED) >= 1);

        // A face under the minimum size is not forced onto a prior: it is ignored, and too
        // small to overlap any prior by the match IoU, so its priors are neither faces nor
        // ignored.
        let tiny = Corners::new(200.0, 50.0, 204.0, 55.0);
        let labels = labels_for(vec![tiny], Vec::new());
        assert_eq!(count(&labels, FACE), 0);
        // A 6-pixel face is learnt.
        let small = Corners::new(200.0, 50.0, 206.0, 56.0);
        assert!(count(&labels_for(vec![small], Vec::new()), FACE) >= 1);
    }
}
