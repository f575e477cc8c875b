//! Building blocks shared by the backbone and the heads: convolution + batch norm (+ ReLU6),
//! and padded convolutions.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

/// Multiply-accumulates of a convolution producing an `out_h` x `out_w` map.
pub(crate) fn conv_macs(conv: &Conv2d, out_h: usize, out_w: usize) -> u64 {
    let [out_c, in_per_group, kh, kw] = conv.weight.lazy_shape().dims();
    (out_c * in_per_group * kh * kw * out_h * out_w) as u64
}

/// Output side of a convolution with "half" padding (`kernel / 2` on each side): `ceil(n / stride)`.
pub(crate) fn conv_output_side(input: usize, stride: usize) -> usize {
    input.div_ceil(stride)
}

/// A 2D convolution with "half" padding, so a stride-2 layer gives `ceil(n / 2)` cells.
pub(crate) fn padded_conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// A bias-free 1x1 convolution (stride 1) as one batched matrix product over the pixels: the
/// convolution's result, computed the way burn's CPU backend differentiates fastest. With
/// gradients (16 x 96 x 80 x 60 input, forward and backward, two cores) it takes 114 ms against
/// the convolution's 368 ms, a third off a whole training step; forward only, at batch 1, the
/// convolution is faster (23-29 against 27-40 ms per frame), so only training (an autodiff
/// device) takes this path.
fn pointwise(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = input.dims();
    let [out_channels, ..] = conv.weight.dims();
    let weight = conv.weight.val().reshape([1, out_channels, channels]);
    weight
        .matmul(input.reshape([batch, channels, height * width]))
        .reshape([batch, out_channels, height, width])
}

/// Convolution, batch norm and (optionally) ReLU6: the unit the backbone is built from.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    norm: BatchNorm,
    /// False for the linear bottleneck projections of inverted residual blocks.
    activate: bool,
}

impl ConvBn {
    pub(crate) fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        activate: bool,
        device: &Device,
    ) -> Self {
        Self {
            // Batch norm supplies the bias.
            conv: padded_conv(channels, kernel, stride, groups, false, device),
            norm: BatchNormConfig::new(channels[1]).init(device),
            activate,
        }
    }

    pub(crate) fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let pointwise_conv =
            self.conv.kernel_size == [1, 1] && self.conv.stride == [1, 1] && self.conv.groups == 1;
        let x = if pointwise_conv && input.is_autodiff() {
            pointwise(&self.conv, input)
        } else {
            self.conv.forward(input)
        };
        let x = self.norm.forward(x);
        if self.activate { x.clamp(0.0, 6.0) } else { x }
    }

    /// Multiply-accumulates for an `h` x `w` input, and the output size.
    pub(crate) fn macs(&self, h: usize, w: usize) -> (u64, usize, usize) {
        let stride = self.conv.stride[0];
        let (oh, ow) = (conv_output_side(h, stride), conv_output_side(w, stride));
        (conv_macs(&self.conv, oh, ow), oh, ow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointwise_matches_the_convolution() {
        let device = Device::flex();
        let conv = padded_conv([6, 5], 1, 1, 1, false, &device);
        let input = Tensor::<4>::random([2, 6, 7, 9], burn::tensor::Distribution::Default, &device);
        let expected = conv.forward(input.clone());
        let difference = (pointwise(&conv, input) - expected.clone())
            .abs()
            .max()
            .into_scalar::<f32>();
        assert_eq!(expected.dims(), [2, 5, 7, 9]);
        assert!(difference < 1e-5, "{difference}");
    }
}
