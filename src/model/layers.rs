//! Building blocks shared by the backbone and the heads: convolution + batch norm (+ ReLU6),
//! and padded convolutions.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

/// Multiply-accumulates of a convolution producing an `out_h` x `out_w` map.
pub(crate) fn conv_macs(conv: &Conv2d, out_h: usize, out_w: usize) -> u64 {
    let [out_c, in_per_group, kh, kw] = conv.weight.lazy_shape().dims();
    (out_c * in_per_group * kh * kw * out_h * out_w) as u64
}

/// Output side of a convolution with "half" padding (`kernel / 2` on each side): `ceil(n / stride)`.
pub(crate) fn conv_output_side(input: usize, stride: usize) -> usize {
    input.div_ceil(stride)
}

/// "Half" padding on each side of a `kernel`-wide convolution.
fn half_padding(kernel: usize) -> usize {
    kernel / 2
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
    let pad = half_padding(kernel);
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

/// Convolution, batch norm and (optionally) ReLU6: the unit the backbone and the extra layers
/// are built from. Public so that benchmarks can time the network layer by layer.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    /// Absent once folded into `conv` for inference ([`ConvBn::folded`]).
    norm: Option<BatchNorm>,
    /// False for the linear bottleneck projections of inverted residual blocks.
    activate: bool,
}

impl ConvBn {
    /// A `kernel` x `kernel` convolution from `channels[0]` to `channels[1]` channels in
    /// `groups` groups, with "half" padding, then batch norm, then ReLU6 when `activate`.
    pub fn new(
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
            norm: Some(BatchNormConfig::new(channels[1]).init(device)),
            activate,
        }
    }

    /// `[batch, channels[0], h, w]` -> `[batch, channels[1], ceil(h / stride), ceil(w / stride)]`.
    /// On an autodiff device (training) batch norm uses the batch's statistics; otherwise its
    /// running statistics, folded into the convolution (here for this call when the unit is
    /// not folded yet).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        match &self.norm {
            Some(norm) if input.is_autodiff() => {
                batch_norm_training(norm, self.convolve_training(input), self.activate)
            }
            Some(norm) => {
                let (weight, bias) = fold(&self.conv, norm);
                self.forward_folded(input, weight, bias)
            }
            None => {
                let bias = self.conv.bias.as_ref().expect("a folded unit has a bias");
                self.forward_folded(input, self.conv.weight.val(), bias.val())
            }
        }
    }

    /// The unit for inference, its batch norm folded into the convolution's weights and bias
    /// once ([`fold`]) rather than at every call. A folded unit is returned as it is; it cannot
    /// be trained.
    pub fn folded(self) -> Self {
        let Some(norm) = &self.norm else {
            return self;
        };
        let (weight, bias) = fold(&self.conv, norm);
        let mut conv = self.conv;
        conv.weight = Param::from_tensor(weight.detach());
        conv.bias = Some(Param::from_tensor(bias.detach()));
        Self {
            conv,
            norm: None,
            activate: self.activate,
        }
    }

    /// The convolution as training runs it: the crate's 3x3 kernel where it applies, 1x1
    /// convolutions as matrix products, others as burn's convolution.
    fn convolve_training(&self, input: Tensor<4>) -> Tensor<4> {
        #[cfg(feature = "train")]
        if let Some(stride) = self.direct_3x3_stride()
            && crate::kernels::training::runs_on(&input)
        {
            let weight = self.conv.weight.val();
            return crate::kernels::training::conv3x3(input, weight, stride, self.conv.groups);
        }
        if self.is_pointwise() {
            pointwise(&self.conv, input)
        } else {
            self.conv.forward(input)
        }
    }

    /// The folded unit: the convolution with `weight` and `bias`, then ReLU6 when `activate`.
    /// On Flex the crate's kernels add the bias and clamp in one pass over the output (in the
    /// 3x3 kernel itself where it applies).
    fn forward_folded(&self, input: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
        let [kh, kw] = self.conv.kernel_size;
        let options = ConvOptions::new(
            self.conv.stride,
            [half_padding(kh), half_padding(kw)],
            self.conv.dilation,
            self.conv.groups,
        );
        #[cfg(feature = "cpu-kernels")]
        if crate::kernels::inference::infers_on(&input, &weight) {
            use crate::kernels::inference::{bias_relu6, conv3x3_bias, pointwise_bias};
            if let Some(stride) = self.direct_3x3_stride() {
                return conv3x3_bias(input, weight, bias, stride, self.conv.groups, self.activate);
            }
            if self.is_pointwise() {
                return pointwise_bias(input, weight, bias, self.activate);
            }
            return bias_relu6(conv2d(input, weight, None, options), bias, self.activate);
        }
        relu6_if(conv2d(input, weight, Some(bias), options), self.activate)
    }

    /// Whether the convolution is a 1x1 one, stride 1, in one group: a matrix product.
    fn is_pointwise(&self) -> bool {
        self.conv.kernel_size == [1, 1] && self.conv.stride == [1, 1] && self.conv.groups == 1
    }

    /// The stride of this unit's convolution if the crate's 3x3 kernel computes it: 3x3 with
    /// padding 1, stride 1 or 2 both ways, and few input channels per group (the depthwise
    /// layers' one, the stem's three). With many, burn's convolution (a matrix product over the
    /// unfolded input) is the faster one.
    #[cfg(feature = "cpu-kernels")]
    fn direct_3x3_stride(&self) -> Option<usize> {
        /// Input channels per group up to which the direct kernel beats the matrix product.
        const MAX_INPUTS_PER_GROUP: usize = 4;
        let [_, in_per_group, ..] = self.conv.weight.dims();
        let [stride_y, stride_x] = self.conv.stride;
        let direct = self.conv.kernel_size == [3, 3]
            && in_per_group <= MAX_INPUTS_PER_GROUP
            && self.conv.dilation == [1, 1]
            && stride_y == stride_x
            && matches!(stride_y, 1 | 2);
        direct.then_some(stride_y)
    }

    /// Multiply-accumulates for an `h` x `w` input, and the output size.
    pub(crate) fn macs(&self, h: usize, w: usize) -> (u64, usize, usize) {
        let stride = self.conv.stride[0];
        let (oh, ow) = (conv_output_side(h, stride), conv_output_side(w, stride));
        (conv_macs(&self.conv, oh, ow), oh, ow)
    }
}

/// Batch norm with its running statistics is an affine map per channel, folded into the
/// convolution's weights and bias: it saves batch norm's passes over the (large) feature map
/// (burn's CPU backend runs batch norm as four separate element-wise operations).
fn fold(conv: &Conv2d, norm: &BatchNorm) -> (Tensor<4>, Tensor<1>) {
    let variance = norm.running_var.value().add_scalar(norm.epsilon);
    let scale = norm.gamma.val() / variance.sqrt();
    let bias = norm.beta.val() - norm.running_mean.value() * scale.clone();
    let [out_channels, ..] = conv.weight.dims();
    let weight = conv.weight.val() * scale.reshape([out_channels, 1, 1, 1]);
    (weight, bias)
}

/// ReLU6 when `activate`.
fn relu6_if(x: Tensor<4>, activate: bool) -> Tensor<4> {
    if activate { x.clamp(0.0, 6.0) } else { x }
}

/// Batch norm as training runs it (the batch's statistics, the running statistics updated; a
/// frozen layer uses its running statistics), then ReLU6 when `activate`. On the CPU training
/// devices the crate's fused kernel does both, updating the running statistics as burn's
/// `BatchNorm` does. Public so that benchmarks time the same path.
pub fn batch_norm_training(norm: &BatchNorm, x: Tensor<4>, activate: bool) -> Tensor<4> {
    #[cfg(feature = "train")]
    if norm.training.is_enabled() && crate::kernels::training::runs_on(&x) {
        let result = crate::kernels::training::batch_norm_train(
            x,
            norm.gamma.val(),
            norm.beta.val(),
            norm.epsilon,
            activate,
        );
        let device = result.output.device();
        for (state, batch) in [
            (&norm.running_mean, result.mean),
            (&norm.running_var, result.variance),
        ] {
            let running = state
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - norm.momentum)
                .add(batch.detach().mul_scalar(norm.momentum));
            state.update(running.detach());
        }
        return result.output;
    }
    relu6_if(norm.forward(x), activate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn folded_batch_norm_matches_convolution_then_batch_norm() {
        let device = Device::flex();
        for (channels, kernel, stride, groups) in [
            ([6, 5], 1, 1, 1),
            ([4, 4], 3, 2, 4),
            ([3, 8], 3, 2, 1),
            ([8, 6], 3, 1, 1),
        ] {
            let mut layer = ConvBn::new(channels, kernel, stride, groups, true, &device);
            // Statistics and affine parameters away from the identity of a fresh layer.
            let random = |low: f64, high: f64| {
                Tensor::<1>::random([channels[1]], Distribution::Uniform(low, high), &device)
            };
            let norm = layer.norm.as_mut().unwrap();
            norm.gamma = Param::from_tensor(random(0.5, 2.0));
            norm.beta = Param::from_tensor(random(-1.0, 1.0));
            norm.running_mean = burn::module::RunningState::new(random(-1.0, 1.0));
            norm.running_var = burn::module::RunningState::new(random(0.2, 3.0));
            let input = Tensor::<4>::random(
                [2, channels[0], 9, 11],
                Distribution::Uniform(-2.0, 2.0),
                &device,
            );
            let norm = layer.norm.as_ref().unwrap();
            let expected = relu6_if(norm.forward(layer.conv.forward(input.clone())), true);
            // Folded for the call, and folded once (on Flex through the crate's kernels).
            let folded = layer.clone().folded();
            for (how, output) in [
                ("per call", layer.forward(input.clone())),
                ("folded", folded.forward(input.clone())),
            ] {
                assert_eq!(output.dims(), expected.dims());
                let difference = (output - expected.clone()).abs().max().into_scalar::<f32>();
                assert!(
                    difference < 1e-4,
                    "{channels:?} {kernel}x{kernel}/{stride} {how}: {difference}"
                );
            }
            assert!(folded.norm.is_none() && folded.clone().folded().norm.is_none());
        }
    }

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

    /// The unit on a CPU training device (the crate's kernels) against the same unit computed
    /// with burn's operations: output, every gradient and the running statistics after the
    /// step, for a depthwise stride-2 unit, a 1x1 unit without ReLU6 and the 3x3 stem.
    #[cfg(feature = "train")]
    #[test]
    fn training_with_the_kernels_equals_burns_operations() {
        use burn::module::Module;
        let device = Device::flex().autodiff();
        for (channels, kernel, stride, groups, activate) in [
            ([12, 12], 3, 2, 12, true),
            ([6, 10], 1, 1, 1, false),
            ([3, 8], 3, 2, 1, true),
        ] {
            let layer = ConvBn::new(channels, kernel, stride, groups, activate, &device);
            let reference = ConvBn::new(channels, kernel, stride, groups, activate, &device)
                .load_record(layer.clone().into_record());
            let input = Tensor::<4>::random([3, channels[0], 9, 7], Distribution::Default, &device);
            let out_shape = [
                3,
                channels[1],
                9usize.div_ceil(stride),
                7usize.div_ceil(stride),
            ];
            let weights = Tensor::<4>::random(out_shape, Distribution::Default, &device);
            let run = |layer: &ConvBn, kernels: bool| {
                let input = input.clone().require_grad();
                let output = if kernels {
                    assert!(crate::kernels::training::runs_on(&input));
                    layer.forward(input.clone())
                } else {
                    let norm = layer.norm.as_ref().unwrap();
                    relu6_if(norm.forward(layer.conv.forward(input.clone())), activate)
                };
                let grads = (output.clone() * weights.clone()).sum().backward();
                let norm = layer.norm.as_ref().unwrap();
                [
                    output.inner(),
                    input.grad(&grads).unwrap(),
                    layer.conv.weight.val().grad(&grads).unwrap(),
                    norm.gamma.val().grad(&grads).unwrap().unsqueeze(),
                    norm.beta.val().grad(&grads).unwrap().unsqueeze(),
                    norm.running_mean.value().inner().unsqueeze(),
                    norm.running_var.value().inner().unsqueeze(),
                ]
                .map(|t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap())
            };
            let with_kernels = run(&layer, true);
            let expected = run(&reference, false);
            for (i, (a, e)) in with_kernels.iter().zip(&expected).enumerate() {
                let what = format!("{channels:?} {kernel}x{kernel}/{stride}: result {i}");
                crate::kernels::tests::assert_close(&what, a, e, 1e-4);
            }
        }
    }
}
