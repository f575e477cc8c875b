//! The 3x3 depthwise convolution with padding 1 (stride 1 or 2), as the network's inverted
//! residual blocks use it, computed directly per channel plane: forward, input gradient and
//! weight gradient each in one pass, without burn's per-group loop. Multi-threaded over
//! planes (channels for the weight gradient); the stride-1 inner loops run over contiguous
//! rows and vectorise.

use std::ops::Range;

use rayon::prelude::*;

use super::HostMemory;
use burn::backend::tensor::FloatTensor;
use burn::prelude::Shape;

/// The geometry of one depthwise convolution: input planes and their output planes.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    stride: usize,
}

impl Geometry {
    fn new(input: &Shape, stride: usize) -> Self {
        let [batch, channels, height, width] = input.dims();
        Self {
            batch,
            channels,
            height,
            width,
            // Padding 1 and a 3-wide kernel: floor((n + 2 - 3) / s) + 1 = ceil(n / s).
            out_height: height.div_ceil(stride),
            out_width: width.div_ceil(stride),
            stride,
        }
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height * self.out_width
    }

    fn output_shape(&self) -> Shape {
        Shape::new([self.batch, self.channels, self.out_height, self.out_width])
    }

    /// The input row that kernel row `k` reads for output row `o`, if inside the input.
    fn input_row(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k)
            .checked_sub(1)
            .filter(|&i| i < self.height)
    }

    /// The output columns whose kernel column `k` reads inside the input: `o * stride + k - 1`
    /// in `0..width`.
    fn columns(&self, k: usize) -> Range<usize> {
        let first = if k == 0 { 1 } else { 0 };
        let last = if self.width + 1 > k {
            ((self.width + 1 - k - 1) / self.stride + 1).min(self.out_width)
        } else {
            0
        };
        first.min(last)..last
    }

    /// Calls `visit(output row, input row, kernel index, output columns, first input column)`
    /// for every kernel tap that reads inside the input.
    fn for_each_tap(&self, mut visit: impl FnMut(usize, usize, usize, Range<usize>, usize)) {
        for o in 0..self.out_height {
            for ky in 0..3 {
                let Some(row) = self.input_row(o, ky) else {
                    continue;
                };
                for kx in 0..3 {
                    let columns = self.columns(kx);
                    if columns.is_empty() {
                        continue;
                    }
                    let first_input = columns.start * self.stride + kx - 1;
                    visit(o, row, ky * 3 + kx, columns, first_input);
                }
            }
        }
    }
}

/// `[batch, channels, h, w]` convolved with `[channels, 1, 3, 3]` weights.
pub(super) fn forward<B: HostMemory>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    stride: usize,
) -> FloatTensor<B> {
    let geometry = Geometry::new(&B::shape(&x), stride);
    let (x, weight) = (B::values(x), B::values(weight));
    let (x, weight): (&[f32], &[f32]) = (&x, &weight);
    let mut output = vec![0.0; geometry.batch * geometry.channels * geometry.out_plane()];
    if geometry.out_plane() > 0 {
        output
            .par_chunks_mut(geometry.out_plane())
            .enumerate()
            .for_each(|(index, out)| {
                let channel = index % geometry.channels;
                let input = &x[index * geometry.plane()..][..geometry.plane()];
                let taps = &weight[channel * 9..][..9];
                geometry.for_each_tap(|o, row, tap, columns, first| {
                    let out = &mut out[o * geometry.out_width..][columns.clone()];
                    let row = &input[row * geometry.width..][..geometry.width];
                    let w = taps[tap];
                    for (o, &v) in out.iter_mut().zip(strided(row, first, stride)) {
                        *o += w * v;
                    }
                });
            });
    }
    B::from_values(output, geometry.output_shape())
}

/// Gradients of [`forward`] with respect to its input and its weights.
pub(super) fn backward<B: HostMemory>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    stride: usize,
    output_grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let input_shape = B::shape(&x);
    let weight_shape = B::shape(&weight);
    let geometry = Geometry::new(&input_shape, stride);
    let (x, weight, grad) = (B::values(x), B::values(weight), B::values(output_grad));
    let (x, weight, grad): (&[f32], &[f32], &[f32]) = (&x, &weight, &grad);
    let out_plane = geometry.out_plane();

    // Input gradient: each output gradient spreads to the nine inputs it read, in its own plane.
    let mut x_grad = vec![0.0; x.len()];
    if geometry.plane() > 0 {
        x_grad
            .par_chunks_mut(geometry.plane())
            .enumerate()
            .for_each(|(index, input_grad)| {
                let channel = index % geometry.channels;
                let grad = &grad[index * out_plane..][..out_plane];
                let taps = &weight[channel * 9..][..9];
                geometry.for_each_tap(|o, row, tap, columns, first| {
                    let grad = &grad[o * geometry.out_width..][columns.clone()];
                    let row = &mut input_grad[row * geometry.width..][..geometry.width];
                    let w = taps[tap];
                    for (v, &g) in strided_mut(row, first, stride).zip(grad) {
                        *v += w * g;
                    }
                });
            });
    }

    // Weight gradient: per channel, each tap's dot product of output gradients and the inputs
    // it read, over the batch.
    let weight_grad: Vec<f32> = (0..geometry.channels)
        .into_par_iter()
        .flat_map_iter(|channel| {
            let mut taps = [0.0f64; 9];
            for sample in 0..geometry.batch {
                let index = sample * geometry.channels + channel;
                let input = &x[index * geometry.plane()..][..geometry.plane()];
                let grad = &grad[index * out_plane..][..out_plane];
                geometry.for_each_tap(|o, row, tap, columns, first| {
                    let grad = &grad[o * geometry.out_width..][columns.clone()];
                    let row = &input[row * geometry.width..][..geometry.width];
                    let dot: f32 = grad
                        .iter()
                        .zip(strided(row, first, stride))
                        .map(|(&g, &v)| g * v)
                        .sum();
                    taps[tap] += f64::from(dot);
                });
            }
            taps.map(|t| t as f32)
        })
        .collect();

    (
        B::from_values(x_grad, input_shape),
        B::from_values(weight_grad, weight_shape),
    )
}

/// Every `stride`-th value of `row` from `first`.
fn strided(row: &[f32], first: usize, stride: usize) -> impl Iterator<Item = &f32> {
    row[first..].iter().step_by(stride)
}

/// [`strided`], mutable.
fn strided_mut(row: &mut [f32], first: usize, stride: usize) -> impl Iterator<Item = &mut f32> {
    row[first..].iter_mut().step_by(stride)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_read_inside_the_input_only() {
        // Every (output, tap) pair the geometry visits reads an input inside the map, and every
        // such pair that reads inside is visited once.
        for (height, width, stride) in [
            (1, 1, 1),
            (1, 1, 2),
            (5, 7, 1),
            (5, 7, 2),
            (4, 6, 2),
            (2, 3, 2),
        ] {
            let geometry = Geometry::new(&Shape::new([1, 1, height, width]), stride);
            let mut visited = Vec::new();
            geometry.for_each_tap(|o, row, tap, columns, first| {
                for (i, ox) in columns.enumerate() {
                    let column = first + i * stride;
                    assert!(row < height && column < width);
                    visited.push((o, ox, tap, row, column));
                }
            });
            let mut expected = Vec::new();
            for o in 0..geometry.out_height {
                for ox in 0..geometry.out_width {
                    for tap in 0..9 {
                        let (ky, kx) = (tap / 3, tap % 3);
                        let (row, column) = (
                            (o * stride + ky) as isize - 1,
                            (ox * stride + kx) as isize - 1,
                        );
                        if (0..height as isize).contains(&row)
                            && (0..width as isize).contains(&column)
                        {
                            expected.push((o, ox, tap, row as usize, column as usize));
                        }
                    }
                }
            }
            visited.sort_unstable();
            expected.sort_unstable();
            assert_eq!(visited, expected, "{height}x{width} stride {stride}");
        }
    }
}
