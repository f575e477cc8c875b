//! The top-down path: a finer detection level adds the next coarser level's features, brought
//! to its channels by a 1x1 convolution and to its size by nearest-neighbour upsampling (as in a
//! feature pyramid), so that small faces are scored with the context a deeper layer sees.

use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::layers::conv_macs;

/// What one level receives from the next coarser one.
#[derive(Module, Debug)]
pub struct TopDown {
    lateral: Conv2d,
}

impl TopDown {
    /// A path from `coarse` channels to `fine` channels. It starts at zero, so that adding it
    /// to a trained network leaves that network's detections unchanged until training moves it.
    pub(crate) fn new(coarse: usize, fine: usize, device: &Device) -> Self {
        Self {
            lateral: Conv2dConfig::new([coarse, fine], [1, 1])
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// `fine` plus the upsampled `coarse`. The output size is the fine map's own: a coarse
    /// side is `ceil(n / 2)` of the fine one, so doubling would overshoot odd sides.
    pub(crate) fn forward(&self, fine: Tensor<4>, coarse: Tensor<4>) -> Tensor<4> {
        let [_, _, height, width] = fine.dims();
        let options =
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([height, width]);
        fine + interpolate(self.lateral.forward(coarse), options)
    }

    /// Multiply-accumulates of the lateral convolution on the coarse `h` x `w` map.
    pub(crate) fn macs(&self, h: usize, w: usize) -> u64 {
        conv_macs(&self.lateral, h, w)
    }
}
