//! The training kernels as a backend extension with its own backward (see the [module
//! docs](super)).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use burn_dispatch::DispatchDevice;

use super::{HostMemory, batch_norm, conv3x3};

/// The kernels as a backend extension. Called through [`Dispatch`] by the functions below.
#[backend_extension(Autodiff, Flex, LibTorch: cfg(feature = "libtorch"))]
pub trait TrainingKernels: burn::backend::Backend {
    /// Batch norm of `[batch, channels, h, w]` over the batch's statistics, then ReLU6 when
    /// `activate`: the output, and the batch's mean and biased variance per channel.
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        activate: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The 3x3 convolution (padding 1, no bias) of `[batch, in_channels, h, w]` with
    /// `[out_channels, in_channels / groups, 3, 3]` weights in `groups` groups.
    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        groups: usize,
    ) -> FloatTensor<Self>;
}

/// The extension on a backend whose tensors the kernels read as slices ([`HostMemory`]).
macro_rules! host_kernels {
    ($backend:ty) => {
        impl TrainingKernels for $backend {
            fn batch_norm_train(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                epsilon: f64,
                activate: bool,
            ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
                batch_norm::forward::<Self>(x, gamma, beta, epsilon, activate)
            }

            fn conv3x3(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                stride: usize,
                groups: usize,
            ) -> FloatTensor<Self> {
                conv3x3::forward::<Self>(x, weight, stride, groups, None)
            }
        }
    };
}

host_kernels!(Flex);
#[cfg(feature = "libtorch")]
host_kernels!(burn::backend::LibTorch);

impl<B: HostMemory, C: CheckpointStrategy> TrainingKernels for Autodiff<B, C> {
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        activate: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        /// The input, gamma, beta and the batch's statistics: the backward recomputes the
        /// normalised input and the ReLU6 mask from them.
        #[derive(Debug)]
        struct BatchNormBackward;

        type State<B> = (
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            f64,
            bool,
        );

        impl<B: HostMemory> Backward<B, 3> for BatchNormBackward {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, beta, mean, variance, epsilon, activate) = ops.state;
                let (x_grad, gamma_grad, beta_grad) = batch_norm::backward::<B>(
                    x, gamma, beta, mean, variance, epsilon, activate, grad,
                );
                for (node, grad) in [
                    (node_x, x_grad),
                    (node_gamma, gamma_grad),
                    (node_beta, beta_grad),
                ] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let prepared = BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (output, mean, variance) =
            batch_norm::forward::<B>(x.clone(), gamma.clone(), beta.clone(), epsilon, activate);
        let output = match prepared {
            OpsKind::Tracked(prep) => {
                let state = (
                    x,
                    gamma,
                    beta,
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                    activate,
                );
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        // The statistics feed the running averages, which are not differentiated.
        (
            output,
            <FloatTensor<Self>>::new(mean),
            <FloatTensor<Self>>::new(variance),
        )
    }

    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        /// The input and weights, which both gradients read.
        #[derive(Debug)]
        struct Conv3x3Backward;

        impl<B: HostMemory> Backward<B, 2> for Conv3x3Backward {
            type State = (FloatTensor<B>, FloatTensor<B>, usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, stride, groups) = ops.state;
                // The stem's input, the image, needs no gradient.
                let (x_grad, weight_grad) =
                    conv3x3::backward::<B>(x, weight, stride, groups, grad, node_x.is_some());
                if let (Some(node), Some(grad)) = (node_x, x_grad) {
                    grads.register::<B>(node.id, grad);
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, weight_grad);
                }
            }
        }

        let prepared = Conv3x3Backward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful();
        let (x, weight) = (x.into_primitive(), weight.into_primitive());
        let output = conv3x3::forward::<B>(x.clone(), weight.clone(), stride, groups, None);
        match prepared {
            OpsKind::Tracked(prep) => prep.finish((x, weight, stride, groups), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }
}

/// Whether the kernels run for `tensor`: an f32 tensor on an autodiff device over Flex or over
/// LibTorch's CPU device.
pub fn runs_on(tensor: &Tensor<4>) -> bool {
    if tensor.dtype() != DType::F32 {
        return false;
    }
    let DispatchDevice::Autodiff(device) = tensor.device().as_dispatch().clone() else {
        return false;
    };
    match device.inner() {
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "libtorch")]
        DispatchDevice::LibTorch(device) => {
            matches!(device, burn_dispatch::devices::LibTorchDevice::Cpu)
        }
        _ => false,
    }
}

/// The output of [`batch_norm_train`]: the normalised (and clamped) map and the batch's
/// statistics, detached.
pub struct BatchNormTrainOutput {
    /// `[batch, channels, h, w]`, as the input.
    pub output: Tensor<4>,
    /// The batch's mean per channel.
    pub mean: Tensor<1>,
    /// The batch's biased variance per channel.
    pub variance: Tensor<1>,
}

/// Batch norm over the batch's statistics (burn's `batch_norm_train`), then ReLU6 when
/// `activate`, in one operation. Only where [`runs_on`] holds for `input`.
pub fn batch_norm_train(
    input: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    activate: bool,
) -> BatchNormTrainOutput {
    let (output, mean, variance) = <Dispatch as TrainingKernels>::batch_norm_train(
        input.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
        activate,
    );
    BatchNormTrainOutput {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    }
}

/// The 3x3 convolution with padding 1 and no bias, stride 1 or 2: `[batch, in_channels, h, w]`
/// and `[out_channels, in_channels / groups, 3, 3]` weights in `groups` groups to `[batch,
/// out_channels, ceil(h / stride), ceil(w / stride)]`. Only where [`runs_on`] holds for `input`.
pub fn conv3x3(input: Tensor<4>, weight: Tensor<4>, stride: usize, groups: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as TrainingKernels>::conv3x3(
        input.into_dispatch(),
        weight.into_dispatch(),
        stride,
        groups,
    ))
}
