//! The context block: an inverted residual (1x1 expansion, 3x3 depthwise, 1x1 projection) added
//! to a detection level's features before its head, so that the level's classifier sees its
//! own nonlinear features rather than the backbone's thin tap (32 channels at stride 8 in the
//! default network).

use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use super::layers::{ConvBn, conv_macs};

/// Hidden channels per level channel.
const EXPANSION: usize = 4;

/// One level's context block.
#[derive(Module, Debug)]
pub struct ContextBlock {
    expand: ConvBn,
    depthwise: ConvBn,
    project: Conv2d,
}

impl ContextBlock {
    /// The block with its units' batch norm folded ([`ConvBn::folded`]).
    pub(crate) fn folded(self) -> Self {
        Self {
            expand: self.expand.folded(),
            depthwise: self.depthwise.folded(),
            project: self.project,
        }
    }

    /// A block on a level of `channels`. Its projection starts at zero, so that adding it to a
    /// trained network leaves that network's detections unchanged until training moves it.
    pub(crate) fn new(channels: usize, device: &Device) -> Self {
        let hidden = channels * EXPANSION;
        Self {
            expand: ConvBn::new([channels, hidden], 1, 1, 1, true, device),
            depthwise: ConvBn::new([hidden, hidden], 3, 1, hidden, true, device),
            project: Conv2dConfig::new([hidden, channels], [1, 1])
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// The level's features plus the block's output.
    pub(crate) fn forward(&self, level: Tensor<4>) -> Tensor<4> {
        let hidden = self.depthwise.forward(self.expand.forward(level.clone()));
        level + self.project.forward(hidden)
    }

    /// Multiply-accumulates on an `h` x `w` level.
    pub(crate) fn macs(&self, h: usize, w: usize) -> u64 {
        let (expand, _, _) = self.expand.macs(h, w);
        let (depthwise, _, _) = self.depthwise.macs(h, w);
        expand + depthwise + conv_macs(&self.project, h, w)
    }
}
