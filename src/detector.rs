//! The whole pipeline for users: pixels in, faces in source-image pixels out.
//!
//! Everything per pixel and per prior runs on the chosen burn device: the input is unpacked,
//! resized and normalised there ([`to_input_tensor`]), and the network's output is turned into
//! face probabilities, cut to the best-scoring priors and decoded into boxes there
//! ([`BoxDecoder`]). Those few rows are read back once per image; thresholding, suppression
//! and the mapping to source pixels run in plain Rust ([`FaceSelector`], [`crate::boxes`]), so
//! the same code serves native and browser callers.

use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::tensor::activation::softmax;

use crate::boxes::{Corners, NmsConfig, Scored, Variances, non_max_suppression, to_source_pixels};
use crate::model::{ConfigError, Ssd, SsdConfig, SsdOutput};
use crate::preprocess::{ImageView, to_input_tensor};
use crate::weights::{self, WeightsError};

/// A detected face, in the source image's pixels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Face {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Confidence, `0..=1`.
    pub score: f32,
}

/// Why detection failed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Reading the network output back from the device failed.
    #[error("reading the network output from the device failed: {0}")]
    Readback(#[source] ExecutionError),
}

/// Values per row of [`BoxDecoder::candidates`]: the face probability, then the box's
/// normalised corners `x1, y1, x2, y2`.
pub const CANDIDATE_ROW: usize = 5;

/// Decodes network output into candidate boxes on the device: the tensor form of
/// [`crate::boxes::decode`] over the priors of one input size.
#[derive(Module, Debug)]
pub struct BoxDecoder {
    /// `[priors, 4]`: centre x, centre y, width, height, normalised. A constant, not trained.
    priors: Tensor<2>,
    center_variance: f32,
    size_variance: f32,
}

impl BoxDecoder {
    /// The decoder for the priors and variances of `config`, on `device`.
    pub fn new(config: &SsdConfig, device: &Device) -> Self {
        let priors: Vec<f32> = config
            .priors()
            .iter()
            .flat_map(|p| [p.cx, p.cy, p.w, p.h])
            .collect();
        let count = priors.len() / 4;
        Self {
            priors: Tensor::from_data(TensorData::new(priors, [count, 4]), device),
            center_variance: config.variances.center,
            size_variance: config.variances.size,
        }
    }

    /// The variances the network's offsets are scaled by.
    pub fn variances(&self) -> Variances {
        Variances {
            center: self.center_variance,
            size: self.size_variance,
        }
    }

    /// Per image, the `k` priors most likely to be faces, best first, decoded: `[batch, k, 5]`
    /// rows of `[face probability, x1, y1, x2, y2]` (`k` is capped at the number of priors).
    ///
    /// Selecting and decoding on the device means that only these rows cross to the CPU: on
    /// WebGPU a frame reads back `k` rows instead of one per prior.
    pub fn candidates(&self, output: SsdOutput, k: usize) -> Tensor<3> {
        let [batch, priors, _] = output.offsets.dims();
        let k = k.clamp(1, priors);
        let face = softmax(output.logits, 2)
            .narrow(2, 1, 1)
            .reshape([batch, priors]);
        let (scores, indices) = best(face, k);
        let offsets = output
            .offsets
            .gather(1, indices.clone().unsqueeze_dim::<3>(2).repeat_dim(2, 4));
        let priors = self
            .priors
            .clone()
            .select(0, indices.reshape([batch * k]))
            .reshape([batch, k, 4]);
        let prior_size = priors.clone().narrow(2, 2, 2);
        let centre = priors.narrow(2, 0, 2)
            + offsets.clone().narrow(2, 0, 2) * self.center_variance * prior_size.clone();
        let half_size = prior_size * (offsets.narrow(2, 2, 2) * self.size_variance).exp() / 2.0;
        Tensor::cat(
            vec![
                scores.unsqueeze_dim(2),
                centre.clone() - half_size.clone(),
                centre + half_size,
            ],
            2,
        )
    }
}

/// The `k` largest values of each row of `scores` and their indices, largest first.
///
/// Natively a sort: CubeCL's top-k kernel returns wrong priors (and hangs at k = 750) on Mesa's
/// lavapipe Vulkan driver, and burn's GPU backends sort by reading the scores back (one
/// synchronous read of a score per prior per frame, which only native code may do). In the
/// browser the top-k kernel, right on WebGPU there.
fn best(scores: Tensor<2>, k: usize) -> (Tensor<2>, Tensor<2, Int>) {
    if cfg!(target_family = "wasm") {
        scores.topk_with_indices(k, 1)
    } else {
        let (scores, indices) = scores.sort_descending_with_indices(1);
        (scores.narrow(1, 0, k), indices.narrow(1, 0, k))
    }
}

/// Turns the candidate rows of one image into faces: plain Rust, shared by detection and the
/// validation metric of training.
#[derive(Debug, Clone, Copy)]
pub struct FaceSelector {
    nms: NmsConfig,
}

impl FaceSelector {
    /// A selector with these thresholds.
    pub fn new(nms: NmsConfig) -> Self {
        Self { nms }
    }

    /// The thresholds.
    pub fn nms(&self) -> &NmsConfig {
        &self.nms
    }

    /// Faces in a `width` x `height` source image from [`BoxDecoder::candidates`] rows:
    /// threshold, suppress, map to pixels.
    pub fn select(&self, rows: &[f32], width: u32, height: u32) -> Vec<Face> {
        let candidates: Vec<Scored> = rows
            .chunks_exact(CANDIDATE_ROW)
            .filter(|row| row[0] >= self.nms.score_threshold)
            .map(|row| Scored {
                bbox: Corners::new(row[1], row[2], row[3], row[4]),
                score: row[0],
            })
            .collect();
        non_max_suppression(&candidates, &self.nms)
            .into_iter()
            .map(|kept| {
                let b = to_source_pixels(&kept.bbox, width, height);
                Face {
                    x: b.x1,
                    y: b.y1,
                    width: b.width(),
                    height: b.height(),
                    score: kept.score,
                }
            })
            .filter(|face| face.width > 0.0 && face.height > 0.0)
            .collect()
    }
}

/// A ready-to-use face detector: network, box decoding and thresholds.
#[derive(Debug, Clone)]
pub struct Detector {
    model: Ssd,
    config: SsdConfig,
    boxes: BoxDecoder,
    selector: FaceSelector,
    device: Device,
}

impl Detector {
    /// A detector from a model and the config it was built from. The detector keeps the model
    /// with its batch norm folded ([`Ssd::folded`]).
    pub fn new(model: Ssd, config: SsdConfig, device: Device) -> Self {
        Self {
            model: model.folded(),
            boxes: BoxDecoder::new(&config, &device),
            config,
            selector: FaceSelector::new(NmsConfig::default()),
            device,
        }
    }

    /// A detector from weights bytes (see [`crate::weights`]).
    pub fn from_weights(bytes: &[u8], device: Device) -> Result<Self, WeightsError> {
        let (config, model) = weights::from_bytes(bytes, &device)?;
        Ok(Self::new(model, config, device))
    }

    /// The same detector at another network input size.
    pub fn with_input_size(self, width: usize, height: usize) -> Result<Self, ConfigError> {
        let config = self.config.at_input_size(width, height)?;
        let nms = *self.nms();
        Ok(Self::new(self.model, config, self.device).with_nms(nms))
    }

    /// The same detector with other decoding thresholds.
    pub fn with_nms(mut self, nms: NmsConfig) -> Self {
        self.selector = FaceSelector::new(nms);
        self
    }

    /// The network config.
    pub fn config(&self) -> &SsdConfig {
        &self.config
    }

    /// The decoding thresholds.
    pub fn nms(&self) -> &NmsConfig {
        self.selector.nms()
    }

    /// The network, its batch norm folded ([`Ssd::folded`]).
    pub fn model(&self) -> &Ssd {
        &self.model
    }

    /// The device the network runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Detect faces, blocking on the read-back. Native only: WebGPU forbids blocking reads.
    #[cfg(not(target_family = "wasm"))]
    pub fn detect(&self, image: &ImageView) -> Result<Vec<Face>, DetectError> {
        let data = self
            .candidates(image)
            .try_into_data()
            .map_err(DetectError::Readback)?;
        Ok(self.select(&data, image.width, image.height))
    }

    /// Detect faces, reading the result back asynchronously (works on every device).
    pub async fn detect_async(&self, image: &ImageView<'_>) -> Result<Vec<Face>, DetectError> {
        let data = self
            .candidates(image)
            .into_data_async()
            .await
            .map_err(DetectError::Readback)?;
        Ok(self.select(&data, image.width, image.height))
    }

    /// The image's [`BoxDecoder::candidates`], `[k, 5]`, still on the device.
    fn candidates(&self, image: &ImageView) -> Tensor<2> {
        let input = to_input_tensor(image, &self.config, &self.device);
        let rows = self
            .boxes
            .candidates(self.model.forward(input), self.nms().top_k);
        let [_, k, _] = rows.dims();
        rows.reshape([k, CANDIDATE_ROW])
    }

    fn select(&self, data: &TensorData, width: u32, height: u32) -> Vec<Face> {
        let rows = data
            .as_slice::<f32>()
            .expect("the network outputs f32 values");
        self.selector.select(rows, width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::decode;

    #[test]
    fn candidates_are_the_best_priors_decoded_as_plain_rust_decodes_them() {
        let device = Device::flex();
        let config = SsdConfig::new();
        let priors = config.priors();
        // Logits make prior 2 the likeliest face, then prior 0; prior 1 is background.
        let mut logits = vec![[0.0f32, -5.0]; priors.len()];
        logits[2] = [0.0, 3.0];
        logits[0] = [0.0, 1.0];
        let offsets: Vec<[f32; 4]> = (0..priors.len())
            .map(|i| {
                let t = i as f32 / priors.len() as f32;
                [t - 0.5, 0.25 - t, 2.0 * t - 1.0, 0.5 * t]
            })
            .collect();
        let tensor = |rows: Vec<f32>, width| {
            Tensor::<3>::from_data(TensorData::new(rows, [1, priors.len(), width]), &device)
        };
        let output = SsdOutput {
            logits: tensor(logits.concat(), 2),
            offsets: tensor(offsets.concat(), 4),
        };
        let rows = BoxDecoder::new(&config, &device).candidates(output, 2);
        assert_eq!(rows.dims(), [1, 2, CANDIDATE_ROW]);
        let rows = rows.into_data().try_into_vec::<f32>().unwrap();
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        for (row, (prior, score)) in rows
            .chunks_exact(CANDIDATE_ROW)
            .zip([(2, sigmoid(3.0)), (0, sigmoid(1.0))])
        {
            let b = decode(offsets[prior], &priors[prior], config.variances).to_corners();
            let want = [score, b.x1, b.y1, b.x2, b.y2];
            for (g, w) in row.iter().zip(want) {
                assert!((g - w).abs() < 1e-5, "{row:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn selection_thresholds_suppresses_and_maps_to_source_pixels() {
        // A face at normalised (0.25..0.5, 0.5..0.75) with score 0.9, a near-duplicate with
        // score 0.8 that suppression must remove (pulling the face 0.8 / 1.7 of its 0.01 offset
        // right and down), and a box under the threshold.
        let face = Corners::new(0.25, 0.5, 0.5, 0.75);
        let shifted = Corners::new(0.26, 0.51, 0.51, 0.75);
        let mut rows = Vec::new();
        for (b, score) in [
            (face, 0.9),
            (shifted, 0.8),
            (Corners::new(0.0, 0.0, 0.1, 0.1), 0.2),
        ] {
            rows.extend([score, b.x1, b.y1, b.x2, b.y2]);
        }
        let faces = FaceSelector::new(NmsConfig::default()).select(&rows, 640, 360);
        assert_eq!(faces.len(), 1);
        let face = faces[0];
        assert_eq!(face.score, 0.9);
        let pull = 0.01 * 0.8 / 1.7;
        for (got, want) in [
            (face.x, 640.0 * (0.25 + pull)),
            (face.y, 360.0 * (0.5 + pull)),
            (face.width, 160.0),
            (face.height, 360.0 * (0.25 - pull)),
        ] {
            assert!((got - want).abs() < 1e-3, "{face:?}");
        }
    }
}
