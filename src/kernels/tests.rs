//! The kernels against burn's own operations on the same backend: outputs, batch statistics and
//! every gradient, on odd shapes (batch 1, 1x1 maps, channel counts that are no multiple of the
//! SIMD width, stride 2 over odd sizes).
//!
//! Tolerances (f32): values within 2e-5 of their tensor's largest magnitude, gradients within
//! 1e-4 of theirs; both paths sum in different orders, so they agree to rounding, not bits.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, TensorData};

use burn::prelude::*;

use burn::backend::Flex;

use super::HostMemory;
use super::training::*;

const EPSILON: f64 = 1e-5;

/// Every device the kernels run on in this build.
fn devices() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut devices = vec![("flex", Device::flex().autodiff())];
    #[cfg(feature = "libtorch")]
    devices.push(("libtorch", Device::libtorch().autodiff()));
    devices
}

/// Values of `shape` drawn uniformly from `low..high`, the same for every device.
fn data<const D: usize>(shape: [usize; D], low: f64, high: f64) -> TensorData {
    Tensor::<D>::random(shape, Distribution::Uniform(low, high), &Device::flex()).into_data()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec().unwrap()
}

/// Asserts that `actual` equals `expected` within `tolerance` of `expected`'s largest magnitude
/// (at least 1e-3). Also used by the model's test of the unit with and without the kernels.
pub(crate) fn assert_close(what: &str, actual: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    let scale = expected.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    let difference = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, e)| m.max((a - e).abs()));
    assert!(
        difference <= tolerance * scale,
        "{what}: differs by {difference} (scale {scale})"
    );
}

/// What one path computed: output, then batch statistics (if any), then every gradient.
type Results = Vec<(&'static str, Vec<f32>)>;

#[test]
fn fused_batch_norm_equals_burns_batch_norm_then_relu6() {
    let shapes = [
        [1, 5, 1, 1],
        [2, 13, 7, 9],
        [3, 8, 4, 5],
        [1, 3, 20, 30],
        [16, 9, 2, 1],
    ];
    for (name, device) in devices() {
        for shape in shapes {
            for activate in [true, false] {
                let channels = shape[1];
                // A mean far from zero, and outputs on both sides of ReLU6's bounds.
                let x = data(shape, 8.0, 14.0);
                let gamma = data([channels], 0.5, 3.0);
                let beta = data([channels], -1.0, 5.0);
                let weights = data(shape, -1.0, 1.0);
                let run = |kernel: bool| -> Results {
                    let x = Tensor::<4>::from_data(x.clone(), &device).require_grad();
                    let gamma = Tensor::<1>::from_data(gamma.clone(), &device).require_grad();
                    let beta = Tensor::<1>::from_data(beta.clone(), &device).require_grad();
                    let (output, mean, variance) = if kernel {
                        assert!(runs_on(&x), "{name}: the kernels do not run");
                        let result = batch_norm_train(
                            x.clone(),
                            gamma.clone(),
                            beta.clone(),
                            EPSILON,
                            activate,
                        );
                        (result.output, result.mean, result.variance)
                    } else {
                        let result = burn::tensor::module::batch_norm_train(
                            x.clone(),
                            gamma.clone(),
                            beta.clone(),
                            EPSILON,
                        );
                        let output = if activate {
                            result.output.clamp(0.0, 6.0)
                        } else {
                            result.output
                        };
                        (output, result.mean, result.variance)
                    };
                    let weights = Tensor::<4>::from_data(weights.clone(), &device);
                    let grads = (output.clone() * weights).sum().backward();
                    vec![
                        ("output", values(output)),
                        ("mean", values(mean)),
                        ("variance", values(variance)),
                        ("x gradient", values(x.grad(&grads).unwrap())),
                        ("gamma gradient", values(gamma.grad(&grads).unwrap())),
                        ("beta gradient", values(beta.grad(&grads).unwrap())),
                    ]
                };
                for ((what, actual), (_, expected)) in run(true).iter().zip(&run(false)) {
                    let tolerance = if what.ends_with("gradient") {
                        1e-4
                    } else {
                        2e-5
                    };
                    let what = format!("{name} {shape:?} activate {activate}: {what}");
                    assert_close(&what, actual, expected, tolerance);
                }
            }
        }
    }
}

#[test]
fn the_3x3_convolution_equals_burns_grouped_convolution() {
    // (input shape, stride, output channels, groups): depthwise, dense as the stem, grouped.
    let cases = [
        ([1, 5, 1, 1], 1, 5, 5),
        ([1, 5, 1, 1], 2, 5, 5),
        ([2, 13, 7, 9], 2, 13, 13),
        ([3, 9, 8, 6], 1, 9, 9),
        ([2, 3, 2, 3], 2, 3, 3),
        ([1, 4, 16, 11], 2, 4, 4),
        ([2, 3, 9, 12], 2, 5, 1),
        ([1, 3, 6, 5], 1, 4, 1),
        ([2, 6, 5, 7], 2, 4, 2),
    ];
    for (name, device) in devices() {
        for (shape, stride, out_channels, groups) in cases {
            let x = data(shape, -2.0, 2.0);
            let weight = data([out_channels, shape[1] / groups, 3, 3], -1.0, 1.0);
            let out_shape = [
                shape[0],
                out_channels,
                shape[2].div_ceil(stride),
                shape[3].div_ceil(stride),
            ];
            let weights = data(out_shape, -1.0, 1.0);
            // Without the input's gradient too, as for the stem (its input is the image).
            for input_grad in [true, false] {
                let case = format!("{name} {shape:?} stride {stride} groups {groups}");
                let run = |kernel: bool| -> Results {
                    let x = Tensor::<4>::from_data(x.clone(), &device);
                    let x = if input_grad { x.require_grad() } else { x };
                    let weight = Tensor::<4>::from_data(weight.clone(), &device).require_grad();
                    let output = if kernel {
                        conv3x3(x.clone(), weight.clone(), stride, groups)
                    } else {
                        let options = ConvOptions::new([stride, stride], [1, 1], [1, 1], groups);
                        conv2d(x.clone(), weight.clone(), None, options)
                    };
                    assert_eq!(output.dims(), out_shape, "{case}");
                    let weights = Tensor::<4>::from_data(weights.clone(), &device);
                    let grads = (output.clone() * weights).sum().backward();
                    let mut results = vec![
                        ("output", values(output)),
                        ("weight gradient", values(weight.grad(&grads).unwrap())),
                    ];
                    match x.grad(&grads) {
                        Some(grad) => results.push(("x gradient", values(grad))),
                        None => assert!(!input_grad, "{case}: no input gradient"),
                    }
                    results
                };
                let (kernel, burn) = (run(true), run(false));
                assert_eq!(kernel.len(), burn.len(), "{case}: gradients");
                for ((what, actual), (_, expected)) in kernel.iter().zip(&burn) {
                    assert_close(&format!("{case}: {what}"), actual, expected, 2e-5);
                }
            }
        }
    }
}

#[test]
fn the_kernels_run_on_cpu_training_devices_only() {
    let tensor = |device: &Device| Tensor::<4>::zeros([1, 1, 2, 2], device);
    assert!(runs_on(&tensor(&Device::flex().autodiff())));
    // Inference folds batch norm into the convolution; it never reaches the kernels.
    assert!(!runs_on(&tensor(&Device::flex())));
    assert!(!runs_on(
        &tensor(&Device::flex().autodiff()).cast(burn::tensor::FloatDType::F16)
    ));
}

#[test]
fn the_input_gradient_overwrites_only_an_output_gradient_nothing_else_holds() {
    // (a + b) * w: the sum's backward hands the same gradient tensor to both of its inputs, so
    // batch norm's backward (a's) must not write its input gradient over it: b's gradient is w.
    for (name, device) in devices() {
        let shape = [2, 3, 4, 5];
        let x = Tensor::<4>::from_data(data(shape, -1.0, 1.0), &device).require_grad();
        let b = Tensor::<4>::from_data(data(shape, -1.0, 1.0), &device).require_grad();
        let gamma = Tensor::<1>::ones([3], &device).require_grad();
        let beta = Tensor::<1>::zeros([3], &device).require_grad();
        let weights = data(shape, -1.0, 1.0);
        let a = batch_norm_train(x.clone(), gamma, beta, EPSILON, true).output;
        let loss = ((a + b.clone()) * Tensor::<4>::from_data(weights.clone(), &device)).sum();
        let grads = loss.backward();
        assert!(x.grad(&grads).is_some(), "{name}: no input gradient");
        let expected: Vec<f32> = weights.convert::<f32>().try_into_vec().unwrap();
        assert_close(
            &format!("{name}: b's gradient"),
            &values(b.grad(&grads).unwrap()),
            &expected,
            0.0,
        );
    }
}

#[test]
fn an_output_is_the_tensors_own_storage_only_when_unshared() {
    use burn::backend::flex::FlexTensor;

    let data = || TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
    let unique = FlexTensor::from_data(data());
    let storage = unique.storage::<f32>().as_ptr();
    assert_eq!(Flex::reuse(unique).as_ptr(), storage, "flex: unshared");

    let shared = FlexTensor::from_data(data());
    let kept = shared.clone();
    Flex::reuse(shared).fill(0.0);
    assert_eq!(&*Flex::values(kept), &[1.0, 2.0, 3.0, 4.0], "flex: shared");

    // A view into a larger storage is copied: its storage holds other values too.
    let view = FlexTensor::from_data(data()).narrow(3, 0, 1);
    assert_eq!(&*Flex::reuse(view), &[1.0, 3.0], "flex: view");

    #[cfg(feature = "libtorch")]
    {
        use burn::backend::LibTorch;
        use burn::backend::libtorch::TchTensor;

        let tensor = || TchTensor::new(tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]));
        let unique = tensor();
        let storage = unique.tensor.data_ptr() as *const f32;
        assert_eq!(
            LibTorch::reuse(unique).as_ptr(),
            storage,
            "libtorch: unshared"
        );

        let shared = tensor();
        let kept = shared.clone();
        LibTorch::reuse(shared).fill(0.0);
        assert_eq!(
            &*LibTorch::values(kept),
            &[1.0, 2.0, 3.0, 4.0],
            "libtorch: shared"
        );
    }
}
