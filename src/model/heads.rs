//! Per-level detection heads (class logits and box offsets for each prior of a cell) and the
//! extra stride-2 layers that add coarse levels for large faces.

use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::layers::{ConvBn, conv_macs, padded_conv};

/// Number of classes the classifier scores: background and face.
pub const NUM_CLASSES: usize = 2;

/// Box offsets per prior: centre x, centre y, log width, log height.
pub const BOX_OFFSETS: usize = 4;

/// The 3x3 convolutions that score and regress every prior of one feature map.
#[derive(Module, Debug)]
pub struct DetectionHead {
    classifier: Conv2d,
    regressor: Conv2d,
}

impl DetectionHead {
    pub(crate) fn new(channels: usize, priors_per_cell: usize, device: &Device) -> Self {
        Self {
            classifier: padded_conv(
                [channels, priors_per_cell * NUM_CLASSES],
                3,
                1,
                1,
                true,
                device,
            ),
            regressor: padded_conv(
                [channels, priors_per_cell * BOX_OFFSETS],
                3,
                1,
                1,
                true,
                device,
            ),
        }
    }

    /// Class logits `[batch, cells * priors, 2]` and box offsets `[batch, cells * priors, 4]`,
    /// rows ordered cell by cell (row-major), then prior by prior, as the priors are.
    pub(crate) fn forward(&self, features: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let logits = rows_per_prior(self.classifier.forward(features.clone()), NUM_CLASSES);
        let offsets = rows_per_prior(self.regressor.forward(features), BOX_OFFSETS);
        (logits, offsets)
    }

    pub(crate) fn macs(&self, h: usize, w: usize) -> u64 {
        conv_macs(&self.classifier, h, w) + conv_macs(&self.regressor, h, w)
    }
}

/// `[batch, priors * values, h, w]` -> `[batch, h * w * priors, values]`.
fn rows_per_prior(map: Tensor<4>, values: usize) -> Tensor<3> {
    let [batch, channels, h, w] = map.dims();
    map.permute([0, 2, 3, 1])
        .reshape([batch, h * w * channels / values, values])
}

/// A stride-2 extra layer after the backbone (1x1 reduce, 3x3 depthwise, 1x1 expand): a coarser
/// feature map for faces larger than the backbone's last level sees.
#[derive(Module, Debug)]
pub struct ExtraLayer {
    reduce: ConvBn,
    depthwise: ConvBn,
    expand: ConvBn,
}

impl ExtraLayer {
    /// The layer with its units' batch norm folded ([`ConvBn::folded`]).
    pub(crate) fn folded(self) -> Self {
        Self {
            reduce: self.reduce.folded(),
            depthwise: self.depthwise.folded(),
            expand: self.expand.folded(),
        }
    }

    pub(crate) fn new(input: usize, output: usize, device: &Device) -> Self {
        let hidden = (output / 4).max(8);
        Self {
            reduce: ConvBn::new([input, hidden], 1, 1, 1, true, device),
            depthwise: ConvBn::new([hidden, hidden], 3, 2, hidden, true, device),
            expand: ConvBn::new([hidden, output], 1, 1, 1, true, device),
        }
    }

    pub(crate) fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        self.expand
            .forward(self.depthwise.forward(self.reduce.forward(input)))
    }

    pub(crate) fn macs(&self, h: usize, w: usize) -> (u64, usize, usize) {
        let (reduce, _, _) = self.reduce.macs(h, w);
        let (depthwise, oh, ow) = self.depthwise.macs(h, w);
        let (expand, _, _) = self.expand.macs(oh, ow);
        (reduce + depthwise + expand, oh, ow)
    }
}
