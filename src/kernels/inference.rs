//! The inference kernels as a backend extension on Flex, natively and in WebAssembly (see the
//! [module docs](super)). The network's units call them only where [`infers_on`] holds.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use burn_dispatch::DispatchDevice;
use rayon::prelude::*;

use super::epilogue::Epilogue;
use super::{HostMemory, conv3x3, pointwise};

/// The kernels as a backend extension. Called through [`Dispatch`] by the functions below.
#[backend_extension(Flex)]
pub trait InferenceKernels: burn::backend::Backend {
    /// The 3x3 convolution (padding 1) of `[batch, in_channels, h, w]` with `[out_channels,
    /// in_channels / groups, 3, 3]` weights in `groups` groups, plus `bias` per output channel,
    /// then ReLU6 when `activate`.
    fn conv3x3_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        groups: usize,
        activate: bool,
    ) -> FloatTensor<Self>;

    /// The 1x1 convolution (stride 1, one group) of `[batch, in_channels, h, w]` with
    /// `[out_channels, in_channels, 1, 1]` weights, plus `bias` per output channel, then ReLU6
    /// when `activate`.
    fn pointwise_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activate: bool,
    ) -> FloatTensor<Self>;

    /// `x` of `[batch, channels, h, w]` plus `bias` per channel, then ReLU6 when `activate`;
    /// in place where nothing else holds `x`.
    fn bias_relu6(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activate: bool,
    ) -> FloatTensor<Self>;
}

impl InferenceKernels for Flex {
    fn conv3x3_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        groups: usize,
        activate: bool,
    ) -> FloatTensor<Self> {
        let bias = Self::values(bias);
        let epilogue = Epilogue {
            bias: &bias,
            activate,
        };
        conv3x3::forward::<Self>(x, weight, stride, groups, Some(epilogue))
    }

    fn pointwise_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activate: bool,
    ) -> FloatTensor<Self> {
        let bias = Self::values(bias);
        let epilogue = Epilogue {
            bias: &bias,
            activate,
        };
        pointwise::forward(x, weight, epilogue)
    }

    fn bias_relu6(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activate: bool,
    ) -> FloatTensor<Self> {
        let [_, channels, height, width] = Self::shape(&x).dims::<4>();
        let bias = Self::values(bias);
        let epilogue = Epilogue {
            bias: &bias,
            activate,
        };
        let mut output = Self::reuse(x);
        let plane = height * width;
        if plane > 0 {
            output
                .par_chunks_mut(plane)
                .enumerate()
                .for_each(|(index, plane)| epilogue.apply(index % channels, plane));
        }
        Self::tensor(output)
    }
}

/// Whether the kernels run for a convolution of `input` with `weight`: f32 tensors on the plain
/// Flex device, both (not autodiff: these kernels have no backward).
pub fn infers_on(input: &Tensor<4>, weight: &Tensor<4>) -> bool {
    [input, weight].iter().all(|tensor| {
        tensor.dtype() == DType::F32
            && matches!(tensor.device().as_dispatch(), DispatchDevice::Flex(_))
    })
}

/// The 3x3 convolution with padding 1, stride 1 or 2, plus `bias` per output channel, then
/// ReLU6 when `activate`: `[batch, in_channels, h, w]` and `[out_channels, in_channels / groups,
/// 3, 3]` weights in `groups` groups to `[batch, out_channels, ceil(h / stride), ceil(w /
/// stride)]`. Only where [`infers_on`] holds for `input`.
pub fn conv3x3_bias(
    input: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    groups: usize,
    activate: bool,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as InferenceKernels>::conv3x3_bias(
        input.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        groups,
        activate,
    ))
}

/// The 1x1 convolution (stride 1, one group) plus `bias` per output channel, then ReLU6 when
/// `activate`: `[batch, in_channels, h, w]` and `[out_channels, in_channels, 1, 1]` weights to
/// `[batch, out_channels, h, w]`. Only where [`infers_on`] holds for `input`.
pub fn pointwise_bias(
    input: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    activate: bool,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as InferenceKernels>::pointwise_bias(
        input.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        activate,
    ))
}

/// `input` plus `bias` per channel, then ReLU6 when `activate`, in one pass (in place where
/// nothing else holds `input`). Only where [`infers_on`] holds for `input`.
pub fn bias_relu6(input: Tensor<4>, bias: Tensor<1>, activate: bool) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as InferenceKernels>::bias_relu6(
        input.into_dispatch(),
        bias.into_dispatch(),
        activate,
    ))
}
