//! Training batch norm over the batch's statistics, fused with the ReLU6 that follows it: one
//! pass over the map for the statistics, one to normalise and clamp; backward in two passes
//! (per-channel sums, then the input gradient). Multi-threaded over channels (statistics) and
//! over channel planes (element-wise passes), with contiguous inner loops the compiler
//! vectorises.

use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

use super::HostMemory;
use super::sums::{LaneSums, map_lanes, plane_sums};
use burn::backend::tensor::FloatTensor;
use burn::prelude::Shape;

/// An `[batch, channels, ...]` map as channel planes: `plane` values per (sample, channel).
#[derive(Clone, Copy, Debug)]
struct Planes {
    batch: usize,
    channels: usize,
    plane: usize,
}

impl Planes {
    fn of(shape: &Shape) -> Self {
        let dims = shape.dims::<4>();
        Self {
            batch: dims[0],
            channels: dims[1],
            plane: dims[2] * dims[3],
        }
    }

    /// Where the plane of `sample`'s `channel` lies in the map's values.
    fn range(&self, sample: usize, channel: usize) -> Range<usize> {
        let start = (sample * self.channels + channel) * self.plane;
        start..start + self.plane
    }
}

/// Batch norm with the batch's statistics, then ReLU6 when `activate`. Returns the output and
/// the batch mean and biased variance per channel (what burn's `batch_norm_train` returns).
pub(super) fn forward<B: HostMemory>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
    activate: bool,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = B::shape(&x);
    let planes = Planes::of(&shape);
    let (x, gamma, beta) = (B::values(x), B::values(gamma), B::values(beta));
    let (x, gamma, beta): (&[f32], &[f32], &[f32]) = (&x, &gamma, &beta);
    let (mean, variance) = statistics(x, planes);
    // (x - mean) * scale + beta rather than x * scale + shift: with a variance near zero the
    // scale is large, and the shift would cancel x * scale to rounding noise.
    let scale: Vec<f32> = variance
        .iter()
        .zip(gamma.iter())
        .map(|(&v, &g)| (f64::from(g) / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect();
    let mut output = B::zeros(shape);
    output
        .par_chunks_mut(planes.plane.max(1))
        .zip(x.par_chunks(planes.plane.max(1)))
        .enumerate()
        .for_each(|(index, (out, input))| {
            let channel = index % planes.channels;
            let (mean, scale, beta) = (mean[channel], scale[channel], beta[channel]);
            for (o, &v) in out.iter_mut().zip(input) {
                *o = activation((v - mean) * scale + beta, activate);
            }
        });
    let channels = Shape::new([planes.channels]);
    (
        B::tensor(output),
        B::from_values(&mean, channels.clone()),
        B::from_values(&variance, channels),
    )
}

/// Gradients of [`forward`] with respect to its input, `gamma` and `beta`, from the gradient of
/// its output and the statistics it returned. The ReLU6 mask is recomputed from the input, so
/// the forward output need not be kept. The input gradient is written over the output
/// gradient's storage where nothing else holds it.
#[allow(clippy::too_many_arguments)] // The operation's inputs, as burn's own backward takes them.
pub(super) fn backward<B: HostMemory>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
    activate: bool,
    output_grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = B::shape(&x);
    let planes = Planes::of(&shape);
    let x = B::values(x);
    let x: &[f32] = &x;
    let mut grad = B::reuse(output_grad);
    let (gamma, beta) = (B::values(gamma), B::values(beta));
    let (mean, variance) = (B::values(mean), B::values(variance));
    let (gamma, beta, mean): (&[f32], &[f32], &[f32]) = (&gamma, &beta, &mean);
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect();

    // Pass 1, per channel: the sums of the (masked) output gradient and of its product with the
    // normalised input; they are beta's and gamma's gradients.
    let output_grad: &[f32] = &grad;
    let sums: Vec<(f64, f64)> = (0..planes.channels)
        .into_par_iter()
        .map(|channel| {
            let normal = Normal::new(channel, mean, &inv_std, gamma, beta, activate);
            let mut totals = (0.0, 0.0);
            for sample in 0..planes.batch {
                let range = planes.range(sample, channel);
                let (g, xhat) = plane_sums(&output_grad[range.clone()], &x[range], |g, v| {
                    let (g, xhat) = normal.masked(g, v);
                    (g, g * xhat)
                });
                totals.0 += g;
                totals.1 += xhat;
            }
            totals
        })
        .collect();

    // Pass 2, per plane, over the output gradient:
    // x_grad = gamma / std * (g - mean(g) - xhat * mean(g * xhat)).
    let count = (planes.batch * planes.plane) as f64;
    grad.par_chunks_mut(planes.plane.max(1))
        .zip(x.par_chunks(planes.plane.max(1)))
        .enumerate()
        .for_each(|(index, (grad, x))| {
            let channel = index % planes.channels;
            let normal = Normal::new(channel, mean, &inv_std, gamma, beta, activate);
            let mean_grad = (sums[channel].0 / count) as f32;
            let mean_projection = (sums[channel].1 / count) as f32;
            let factor = f32x8::splat(gamma[channel] * inv_std[channel]);
            let (mean_grad, mean_projection) =
                (f32x8::splat(mean_grad), f32x8::splat(mean_projection));
            map_lanes(grad, x, |g, v| {
                let (masked, xhat) = normal.masked(g, v);
                factor * (masked - mean_grad - xhat * mean_projection)
            });
        });

    let channels = Shape::new([planes.channels]);
    let gamma_grad: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
    let beta_grad: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    (
        B::tensor(grad),
        B::from_values(&gamma_grad, channels.clone()),
        B::from_values(&beta_grad, channels),
    )
}

/// ReLU6 when `activate`, the identity otherwise.
#[inline(always)]
fn activation(value: f32, activate: bool) -> f32 {
    if activate {
        value.clamp(0.0, 6.0)
    } else {
        value
    }
}

/// Per-channel mean and biased variance in one pass: sums of values shifted by the channel's
/// first value (so that a mean far from zero costs no precision), in f32 lanes flushed to f64.
fn statistics(x: &[f32], planes: Planes) -> (Vec<f32>, Vec<f32>) {
    (0..planes.channels)
        .into_par_iter()
        .map(|channel| {
            let shift = x
                .get(planes.range(0, channel).start)
                .copied()
                .unwrap_or(0.0);
            let mut totals = LaneSums::default();
            let lanes_shift = f32x8::splat(shift);
            for sample in 0..planes.batch {
                let values = &x[planes.range(sample, channel)];
                let (sum, squares) = plane_sums(values, values, |v, _| {
                    let d = v - lanes_shift;
                    (d, d * d)
                });
                totals.add(sum, squares);
            }
            let count = (planes.batch * planes.plane).max(1) as f64;
            let mean = totals.first / count;
            let variance = (totals.second / count - mean * mean).max(0.0);
            ((mean + f64::from(shift)) as f32, variance as f32)
        })
        .unzip()
}

/// One channel's normalisation, for recomputing the normalised input and the ReLU6 mask.
struct Normal {
    mean: f32,
    inv_std: f32,
    gamma: f32,
    beta: f32,
    /// The open interval where the output follows its input: ReLU6's (0, 6), or all values.
    /// Bounds rather than a flag, so that one masked path serves both.
    passes: (f32, f32),
}

impl Normal {
    fn new(
        channel: usize,
        mean: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
        beta: &[f32],
        activate: bool,
    ) -> Self {
        Self {
            mean: mean[channel],
            inv_std: inv_std[channel],
            gamma: gamma[channel],
            beta: beta[channel],
            passes: if activate {
                (0.0, 6.0)
            } else {
                (f32::NEG_INFINITY, f32::INFINITY)
            },
        }
    }

    /// The output gradient `g` passed through ReLU6 (zero where the output was clamped), and the
    /// normalised input `(v - mean) / std`, eight values at a time.
    #[inline(always)]
    fn masked(&self, g: f32x8, v: f32x8) -> (f32x8, f32x8) {
        let xhat = (v - f32x8::splat(self.mean)) * f32x8::splat(self.inv_std);
        let pre = xhat * f32x8::splat(self.gamma) + f32x8::splat(self.beta);
        let pass =
            pre.simd_gt(f32x8::splat(self.passes.0)) & pre.simd_lt(f32x8::splat(self.passes.1));
        (g & pass, xhat)
    }
}
