//! The input pipeline: images decoded and augmented in parallel workers, matched to priors,
//! and stacked into batches on the training device.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError as BurnDatasetError};
use burn::prelude::*;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::augment::{AugmentConfig, augment};
use super::item::{TargetRules, encode_item};
use crate::boxes::CenterSize;
use crate::data::Sample;
use crate::data::{DatasetError, FaceDataset};
use crate::eval::GroundTruth;
use crate::model::SsdConfig;

/// A network-ready example: input pixels, prior targets and, for validation, the ground truth
/// in source pixels.
#[derive(Clone, Debug)]
pub struct DetectionItem {
    pixels: Vec<f32>,
    labels: Vec<i64>,
    offsets: Vec<f32>,
    source_size: (u32, u32),
    truth: Vec<GroundTruth>,
}

/// A batch on the device.
#[derive(Clone, Debug)]
pub struct DetectionBatch {
    /// `[batch, 3, height, width]`.
    pub images: Tensor<4>,
    /// `[batch, priors]`: 1 for face priors.
    pub labels: Tensor<2, Int>,
    /// `[batch, priors, 4]`: encoded boxes of face priors.
    pub offsets: Tensor<3>,
    /// Per image: its size and labelled faces, in source pixels.
    pub truth: Vec<((u32, u32), Vec<GroundTruth>)>,
}

/// A [`FaceDataset`] seen through augmentation, in a fresh order every epoch.
///
/// The loader reads every index once per epoch, so the running count of reads says which
/// epoch a read belongs to. The epoch and the run seed fix both the order (a permutation of
/// the images) and each image's augmentation: epochs are reproducible whatever the number of
/// loader workers, and a resumed run continues the exact sequence where it stopped.
pub struct AugmentedDataset {
    images: FaceDataset,
    augment: AugmentConfig,
    model: SsdConfig,
    priors: Arc<Vec<CenterSize>>,
    rules: TargetRules,
    seed: u64,
    shuffle: bool,
    reads: AtomicU64,
    order: Mutex<(u64, Vec<usize>)>,
}

impl AugmentedDataset {
    /// Augmented examples of `images`, shuffled each epoch when `shuffle`; the first
    /// `epochs_done` epochs are taken as already read (for resuming).
    pub fn new(
        images: FaceDataset,
        augment: AugmentConfig,
        model: SsdConfig,
        rules: TargetRules,
        seed: u64,
        shuffle: bool,
        epochs_done: u64,
    ) -> Self {
        let reads = AtomicU64::new(epochs_done * images.len() as u64);
        Self {
            priors: Arc::new(model.priors()),
            order: Mutex::new((u64::MAX, Vec::new())),
            images,
            augment,
            model,
            rules,
            seed,
            shuffle,
            reads,
        }
    }

    /// The image at position `position` of epoch `epoch`.
    fn image_index(&self, epoch: u64, position: usize) -> usize {
        if !self.shuffle {
            return position;
        }
        let mut order = self.order.lock().expect("order lock");
        if order.0 != epoch {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(self.seed, epoch, u64::MAX));
            let mut permutation: Vec<usize> = (0..self.images.len()).collect();
            for i in (1..permutation.len()).rev() {
                permutation.swap(i, rng.random_range(0..=i));
            }
            *order = (epoch, permutation);
        }
        order.1[position]
    }

    fn sample(&self, position: usize) -> Result<DetectionItem, DatasetError> {
        let epoch = self.reads.fetch_add(1, Ordering::Relaxed) / self.images.len() as u64;
        let index = self.image_index(epoch, position);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(self.seed, epoch, index as u64));
        let primary = self.images.load(index)?;
        let partners: Vec<Sample> = if rng.random_bool(self.augment.mosaic) {
            (0..3)
                .map(|_| self.images.load(rng.random_range(0..self.images.len())))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        // The mosaic was drawn above, where its partners were loaded.
        let config = self
            .augment
            .clone()
            .with_mosaic(if partners.is_empty() { 0.0 } else { 1.0 });
        let (w, h) = (
            self.model.input_width as u32,
            self.model.input_height as u32,
        );
        let sample = augment(&primary, &partners, &config, w, h, &mut rng);
        let item = encode_item(&sample, &self.model, &self.priors, self.rules);
        let truth = self
            .images
            .labels(index)
            .iter()
            .map(|&(bbox, ignore)| GroundTruth { bbox, ignore })
            .collect();
        Ok(DetectionItem {
            pixels: item.pixels,
            labels: item.labels,
            offsets: item.offsets,
            source_size: (primary.image.width(), primary.image.height()),
            truth,
        })
    }
}

/// A 64-bit hash of three numbers (SplitMix64 finaliser), for independent random streams.
fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    let mut z = seed
        ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Dataset<DetectionItem> for AugmentedDataset {
    fn get(&self, index: usize) -> Result<DetectionItem, BurnDatasetError> {
        if index >= self.images.len() {
            return Err(BurnDatasetError::new(std::io::Error::other(format!(
                "index {index} out of range ({} images)",
                self.images.len()
            ))));
        }
        self.sample(index).map_err(BurnDatasetError::new)
    }

    fn len(&self) -> usize {
        self.images.len()
    }
}

/// Stacks items into a [`DetectionBatch`] on the given device.
#[derive(Clone, Debug)]
pub struct DetectionBatcher {
    width: usize,
    height: usize,
}

impl DetectionBatcher {
    /// A batcher for the input size of `model`.
    pub fn new(model: &SsdConfig) -> Self {
        Self {
            width: model.input_width,
            height: model.input_height,
        }
    }
}

impl Batcher<DetectionItem, DetectionBatch> for DetectionBatcher {
    fn batch(&self, items: Vec<DetectionItem>, device: &Device) -> DetectionBatch {
        let n = items.len();
        let priors = items.first().map_or(0, |i| i.labels.len());
        let pixels: Vec<f32> = items
            .iter()
            .flat_map(|i| i.pixels.iter().copied())
            .collect();
        let labels: Vec<i64> = items
            .iter()
            .flat_map(|i| i.labels.iter().copied())
            .collect();
        let offsets: Vec<f32> = items
            .iter()
            .flat_map(|i| i.offsets.iter().copied())
            .collect();
        DetectionBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [n, 3, self.height, self.width]),
                device,
            ),
            labels: Tensor::from_data(TensorData::new(labels, [n, priors]), device),
            offsets: Tensor::from_data(TensorData::new(offsets, [n, priors, 4]), device),
            truth: items
                .into_iter()
                .map(|i| (i.source_size, i.truth))
                .collect(),
        }
    }
}
