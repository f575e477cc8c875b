//! The whole pipeline for users: pixels in, faces in source-image pixels out.
//!
//! The network runs on the chosen burn device, which also turns the logits into face
//! probabilities and keeps only the best-scoring priors ([`candidate_rows`]): those few rows are
//! read back once per image, then decoded, suppressed and mapped to source pixels in plain Rust
//! ([`crate::boxes`]), so the same code serves native and browser callers.

use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::boxes::{
    CenterSize, NmsConfig, Scored, Variances, decode, non_max_suppression, to_source_pixels,
};
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
    Readback(String),
}

/// Turns per-prior network output into faces: plain Rust, shared by detection and the
/// validation metric of training.
#[derive(Debug, Clone)]
pub struct Decoder {
    priors: Vec<CenterSize>,
    variances: Variances,
    nms: NmsConfig,
}

impl Decoder {
    /// A decoder for the priors of `config`.
    pub fn new(config: &SsdConfig, nms: NmsConfig) -> Self {
        Self {
            priors: config.priors(),
            variances: config.variances,
            nms,
        }
    }

    /// The thresholds.
    pub fn nms(&self) -> &NmsConfig {
        &self.nms
    }

    /// Decode [`candidate_rows`] (`[prior index, face probability, 4 offsets]` each) into faces
    /// in a `width` x `height` source image: threshold, decode, suppress, map to pixels.
    pub fn decode(&self, rows: &[f32], width: u32, height: u32) -> Vec<Face> {
        let candidates: Vec<Scored> = rows
            .chunks_exact(CANDIDATE_ROW)
            .filter(|row| row[1] >= self.nms.score_threshold)
            .filter_map(|row| {
                let prior = self.priors.get(row[0] as usize)?;
                Some(Scored {
                    bbox: decode([row[2], row[3], row[4], row[5]], prior, self.variances)
                        .to_corners(),
                    score: row[1],
                })
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

/// Values per row of [`candidate_rows`].
pub const CANDIDATE_ROW: usize = 6;

/// Per image, the `k` priors most likely to be faces, best first: `[batch, k, 6]` rows of
/// `[prior index, face probability, 4 offsets]` (`k` is capped at the number of priors).
///
/// Selecting on the device means that only these rows cross to the CPU: on WebGPU a frame
/// reads back `k` rows instead of one per prior.
pub fn candidate_rows(output: SsdOutput, k: usize) -> Tensor<3> {
    let [batch, priors, _] = output.offsets.dims();
    let k = k.clamp(1, priors);
    let face = softmax(output.logits, 2)
        .narrow(2, 1, 1)
        .reshape([batch, priors]);
    let (scores, indices) = face.topk_with_indices(k, 1);
    let offsets = output
        .offsets
        .gather(1, indices.clone().unsqueeze_dim::<3>(2).repeat_dim(2, 4));
    Tensor::cat(
        vec![
            indices.float().unsqueeze_dim(2),
            scores.unsqueeze_dim(2),
            offsets,
        ],
        2,
    )
}

/// A ready-to-use face detector: network, priors and decoding thresholds.
#[derive(Debug, Clone)]
pub struct Detector {
    model: Ssd,
    config: SsdConfig,
    decoder: Decoder,
    device: Device,
}

impl Detector {
    /// A detector from a model and the config it was built from.
    pub fn new(model: Ssd, config: SsdConfig, device: Device) -> Self {
        let decoder = Decoder::new(&config, NmsConfig::default());
        Self {
            model,
            config,
            decoder,
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
        let nms = *self.decoder.nms();
        Ok(Self::new(self.model, config, self.device).with_nms(nms))
    }

    /// The same detector with other decoding thresholds.
    pub fn with_nms(mut self, nms: NmsConfig) -> Self {
        self.decoder = Decoder::new(&self.config, nms);
        self
    }

    /// The network config.
    pub fn config(&self) -> &SsdConfig {
        &self.config
    }

    /// The decoding thresholds.
    pub fn nms(&self) -> &NmsConfig {
        self.decoder.nms()
    }

    /// The network.
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
            .candidate_rows(image)
            .try_into_data()
            .map_err(|e| DetectError::Readback(format!("{e:?}")))?;
        Ok(self.decode_rows(&data, image.width, image.height))
    }

    /// Detect faces, reading the result back asynchronously (works on every device).
    pub async fn detect_async(&self, image: &ImageView<'_>) -> Result<Vec<Face>, DetectError> {
        let data = self
            .candidate_rows(image)
            .into_data_async()
            .await
            .map_err(|e| DetectError::Readback(format!("{e:?}")))?;
        Ok(self.decode_rows(&data, image.width, image.height))
    }

    /// The image's [`candidate_rows`], `[k, 6]`, still on the device.
    fn candidate_rows(&self, image: &ImageView) -> Tensor<2> {
        let input = to_input_tensor(image, &self.config, &self.device);
        let rows = candidate_rows(self.model.forward(input), self.nms().top_k);
        let [_, k, _] = rows.dims();
        rows.reshape([k, CANDIDATE_ROW])
    }

    fn decode_rows(&self, data: &TensorData, width: u32, height: u32) -> Vec<Face> {
        let rows = data
            .as_slice::<f32>()
            .expect("the network outputs f32 values");
        self.decoder.decode(rows, width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::{Corners, encode};

    #[test]
    fn candidate_rows_keep_the_best_priors_with_their_offsets() {
        let device = Device::flex();
        // Three priors; logits make prior 2 the likeliest face, then prior 0.
        let logits = Tensor::<3>::from_floats([[[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]]], &device);
        let offsets = Tensor::<3>::from_floats(
            [[
                [1.0, 2.0, 3.0, 4.0],
                [5.0, 6.0, 7.0, 8.0],
                [9.0, 10.0, 11.0, 12.0],
            ]],
            &device,
        );
        let rows = candidate_rows(SsdOutput { logits, offsets }, 2);
        assert_eq!(rows.dims(), [1, 2, CANDIDATE_ROW]);
        let rows = rows.into_data().try_into_vec::<f32>().unwrap();
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        let want = [
            [2.0, sigmoid(3.0), 9.0, 10.0, 11.0, 12.0],
            [0.0, sigmoid(1.0), 1.0, 2.0, 3.0, 4.0],
        ];
        for (got, want) in rows.chunks_exact(CANDIDATE_ROW).zip(want) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn decode_finds_an_encoded_box_in_source_pixels() {
        let device = Device::flex();
        let config = SsdConfig::new();
        let model = config.init(&device).unwrap();
        let detector = Detector::new(model, config.clone(), device);
        let priors = config.priors();
        // A face at normalised (0.25..0.5, 0.5..0.75), claimed by prior 100 with score 0.9, and a
        // near-duplicate from prior 101 with score 0.8 that suppression must remove.
        let truth = Corners::new(0.25, 0.5, 0.5, 0.75).to_center_size();
        let mut rows = Vec::new();
        for (prior, score) in [(100, 0.9), (101, 0.8), (7, 0.2)] {
            let offsets = encode(&truth, &priors[prior], Variances::default());
            rows.extend([prior as f32, score]);
            rows.extend(offsets);
        }
        let faces = Decoder::new(detector.config(), NmsConfig::default()).decode(&rows, 640, 360);
        assert_eq!(faces.len(), 1);
        let face = faces[0];
        assert_eq!(face.score, 0.9);
        for (got, want) in [
            (face.x, 160.0),
            (face.y, 180.0),
            (face.width, 160.0),
            (face.height, 90.0),
        ] {
            assert!((got - want).abs() < 1e-3, "{face:?}");
        }
    }
}
