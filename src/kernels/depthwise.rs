//! The 3x3 depthwise convolution with padding 1 (stride 1 or 2), as the network's inverted
//! residual blocks use it, computed directly per channel plane: forward, input gradient and
//! weight gradient each in one pass, without burn's per-group loop. Multi-threaded over planes
//! (channels for the weight gradient).
//!
//! Every inner loop runs over contiguous slices, so that the compiler vectorises it: at stride 2
//! a plane's columns are first split into its even and odd columns ("phases"), after which each
//! kernel column reads one phase at consecutive positions.

use std::ops::Range;

use rayon::prelude::*;

use super::HostMemory;
use super::sums::plane_sums;
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

/// Where kernel column `kx` reads: output columns `out` line up with positions `source` of one
/// phase of an input row.
#[derive(Clone, Debug, PartialEq)]
struct ColumnTap {
    out: Range<usize>,
    phase: usize,
    source: Range<usize>,
}

impl Geometry {
    fn new(input: &Shape, stride: usize) -> Self {
        assert!(
            stride == 1 || stride == 2,
            "the depthwise kernel takes stride 1 or 2, not {stride}"
        );
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

    /// The input row that kernel row `ky` reads for output row `o`, if inside the input.
    fn input_row(&self, o: usize, ky: usize) -> Option<usize> {
        (o * self.stride + ky)
            .checked_sub(1)
            .filter(|&i| i < self.height)
    }

    /// A plane of this geometry's input read (or written) in place, as at stride 1.
    fn rows<T>(&self, values: T) -> Plane<T> {
        Plane {
            values,
            width: self.width,
        }
    }

    /// Columns of the even and odd phases (at stride 2).
    fn phase_widths(&self) -> [usize; 2] {
        [self.width.div_ceil(2), self.width / 2]
    }

    /// What each of the three kernel columns reads (`o * stride + kx - 1` inside the row).
    fn column_taps(&self) -> [ColumnTap; 3] {
        let (w, ow) = (self.width, self.out_width);
        // Empty maps (width 0) give empty ranges rather than an underflow.
        let (w_less, ow_less) = (w.saturating_sub(1), ow.saturating_sub(1));
        let tap = |out: Range<usize>, phase, source: Range<usize>| ColumnTap { out, phase, source };
        if self.stride == 1 {
            [
                tap(1.min(w)..w, 0, 0..w_less),
                tap(0..w, 0, 0..w),
                tap(0..w_less, 0, 1.min(w)..w),
            ]
        } else {
            // Output column o reads input 2o - 1 (odd column o - 1), 2o (even column o) and
            // 2o + 1 (odd column o).
            let odd = w / 2;
            let shifted = ow_less.min(odd);
            [
                tap(1..1 + shifted, 1, 0..shifted),
                tap(0..ow, 0, 0..ow),
                tap(0..odd, 1, 0..odd),
            ]
        }
    }
}

/// A channel plane's rows as the kernel columns read them: by phase (only phase 0 at stride 1)
/// and input row.
trait Rows {
    fn row(&self, phase: usize, y: usize) -> &[f32];
}

/// [`Rows`] to accumulate into.
trait RowsMut {
    fn row_mut(&mut self, phase: usize, y: usize) -> &mut [f32];
}

/// At stride 1 a plane's rows are its one phase: read (and written) in place.
struct Plane<T> {
    values: T,
    width: usize,
}

impl<T: AsRef<[f32]>> Rows for Plane<T> {
    fn row(&self, _phase: usize, y: usize) -> &[f32] {
        &self.values.as_ref()[y * self.width..][..self.width]
    }
}

impl<T: AsMut<[f32]>> RowsMut for Plane<T> {
    fn row_mut(&mut self, _phase: usize, y: usize) -> &mut [f32] {
        &mut self.values.as_mut()[y * self.width..][..self.width]
    }
}

/// At stride 2, a plane's columns split into its even and odd columns (see the module's docs),
/// row by row.
struct Phases {
    geometry: Geometry,
    widths: [usize; 2],
    values: [Vec<f32>; 2],
}

impl Phases {
    /// Zeroed phases of a plane.
    fn zeros(geometry: Geometry) -> Self {
        let widths = geometry.phase_widths();
        Self {
            geometry,
            widths,
            values: widths.map(|w| vec![0.0; w * geometry.height]),
        }
    }

    /// The phases of `plane`.
    fn split(geometry: Geometry, plane: &[f32]) -> Self {
        let mut phases = Self::zeros(geometry);
        for (y, row) in plane.chunks_exact(geometry.width).enumerate() {
            let [even, odd] = phases.rows_mut(y);
            let pairs = row.chunks_exact(2);
            if let [last] = pairs.remainder() {
                even[even.len() - 1] = *last;
            }
            for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
                *e = pair[0];
                *o = pair[1];
            }
        }
        phases
    }

    /// Writes the phases into `plane`, each column to its place.
    fn write_to(&self, plane: &mut [f32]) {
        for (y, row) in plane.chunks_exact_mut(self.geometry.width).enumerate() {
            let (even, odd) = (self.row(0, y), self.row(1, y));
            let pairs = row.chunks_exact_mut(2);
            if let [last] = pairs.into_remainder() {
                *last = even[even.len() - 1];
            }
            let pairs = row.chunks_exact_mut(2);
            for ((e, o), pair) in even.iter().zip(odd).zip(pairs) {
                pair[0] = *e;
                pair[1] = *o;
            }
        }
    }

    /// Row `y` of both phases.
    fn rows_mut(&mut self, y: usize) -> [&mut [f32]; 2] {
        let [even_width, odd_width] = self.widths;
        let [even, odd] = &mut self.values;
        [
            &mut even[y * even_width..][..even_width],
            &mut odd[y * odd_width..][..odd_width],
        ]
    }
}

impl Rows for Phases {
    fn row(&self, phase: usize, y: usize) -> &[f32] {
        let width = self.widths[phase];
        &self.values[phase][y * width..][..width]
    }
}

impl RowsMut for Phases {
    fn row_mut(&mut self, phase: usize, y: usize) -> &mut [f32] {
        let width = self.widths[phase];
        &mut self.values[phase][y * width..][..width]
    }
}

/// Calls `visit(output row, input row, kernel row)` for every kernel row that reads inside
/// the input.
fn for_each_row(geometry: &Geometry, mut visit: impl FnMut(usize, usize, usize)) {
    for o in 0..geometry.out_height {
        for ky in 0..3 {
            if let Some(row) = geometry.input_row(o, ky) {
                visit(o, row, ky);
            }
        }
    }
}

/// `target += scale * values`, element by element.
#[inline(always)]
fn add_scaled(target: &mut [f32], scale: f32, values: &[f32]) {
    for (t, &v) in target.iter_mut().zip(values) {
        *t += scale * v;
    }
}

/// One output plane (zeroed) from one input plane and its channel's 3x3 `kernel`.
fn convolve(geometry: &Geometry, kernel: &[f32], input: &impl Rows, out: &mut [f32]) {
    let taps = geometry.column_taps();
    for_each_row(geometry, |o, row, ky| {
        let out = &mut out[o * geometry.out_width..][..geometry.out_width];
        for (kx, tap) in taps.iter().enumerate() {
            let source = &input.row(tap.phase, row)[tap.source.clone()];
            add_scaled(&mut out[tap.out.clone()], kernel[ky * 3 + kx], source);
        }
    });
}

/// One plane's input gradient (accumulated into the zeroed `target`): each output gradient
/// spreads to the nine inputs it read.
fn spread(geometry: &Geometry, kernel: &[f32], grad: &[f32], target: &mut impl RowsMut) {
    let taps = geometry.column_taps();
    for_each_row(geometry, |o, row, ky| {
        let grad = &grad[o * geometry.out_width..][..geometry.out_width];
        for (kx, tap) in taps.iter().enumerate() {
            let target = &mut target.row_mut(tap.phase, row)[tap.source.clone()];
            add_scaled(target, kernel[ky * 3 + kx], &grad[tap.out.clone()]);
        }
    });
}

/// Adds one plane's share of its channel's weight gradient to `kernel`: each tap's dot product
/// of the output gradients and the inputs it read.
fn correlate(geometry: &Geometry, input: &impl Rows, grad: &[f32], kernel: &mut [f64; 9]) {
    let taps = geometry.column_taps();
    for_each_row(geometry, |o, row, ky| {
        let grad = &grad[o * geometry.out_width..][..geometry.out_width];
        for (kx, tap) in taps.iter().enumerate() {
            let source = &input.row(tap.phase, row)[tap.source.clone()];
            let grad = &grad[tap.out.clone()];
            kernel[ky * 3 + kx] += plane_sums(grad, source, |g, v| (g * v, 0.0)).0;
        }
    });
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
    let (plane, out_plane) = (geometry.plane(), geometry.out_plane());
    let mut output = B::zeros(geometry.output_shape());
    if out_plane > 0 {
        output
            .par_chunks_mut(out_plane)
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(index, (out, input))| {
                let kernel = &weight[index % geometry.channels * 9..][..9];
                match geometry.stride {
                    1 => convolve(&geometry, kernel, &geometry.rows(input), out),
                    _ => convolve(&geometry, kernel, &Phases::split(geometry, input), out),
                }
            });
    }
    B::tensor(output)
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
    let (plane, out_plane) = (geometry.plane(), geometry.out_plane());

    let mut x_grad = B::zeros(input_shape);
    if plane > 0 {
        x_grad
            .par_chunks_mut(plane)
            .zip(grad.par_chunks(out_plane.max(1)))
            .enumerate()
            .for_each(|(index, (input_grad, grad))| {
                let kernel = &weight[index % geometry.channels * 9..][..9];
                if geometry.stride == 1 {
                    spread(&geometry, kernel, grad, &mut geometry.rows(input_grad));
                } else {
                    let mut phases = Phases::zeros(geometry);
                    spread(&geometry, kernel, grad, &mut phases);
                    phases.write_to(input_grad);
                }
            });
    }

    let weight_grad: Vec<f32> = (0..geometry.channels)
        .into_par_iter()
        .flat_map_iter(|channel| {
            let mut kernel = [0.0f64; 9];
            for sample in 0..geometry.batch {
                let index = sample * geometry.channels + channel;
                let input = &x[index * plane..][..plane];
                let grad = &grad[index * out_plane..][..out_plane];
                match geometry.stride {
                    1 => correlate(&geometry, &geometry.rows(input), grad, &mut kernel),
                    _ => correlate(
                        &geometry,
                        &Phases::split(geometry, input),
                        grad,
                        &mut kernel,
                    ),
                }
            }
            kernel.map(|t| t as f32)
        })
        .collect();

    (
        B::tensor(x_grad),
        B::from_values(&weight_grad, weight_shape),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_taps_read_inside_the_row_only_and_every_such_read() {
        // Every (output column, kernel column) pair the taps give reads the input column
        // o * stride + kx - 1, inside the row, and every such pair inside the row is given.
        for (width, stride) in [(1, 1), (1, 2), (2, 2), (7, 1), (7, 2), (6, 2), (3, 2)] {
            let geometry = Geometry::new(&Shape::new([1, 1, 1, width]), stride);
            let mut given = Vec::new();
            for (kx, tap) in geometry.column_taps().iter().enumerate() {
                assert_eq!(tap.out.len(), tap.source.len(), "{width}/{stride}");
                for (o, s) in tap.out.clone().zip(tap.source.clone()) {
                    let column = s * stride + tap.phase;
                    assert!(column < width, "{width}/{stride}: kx {kx} reads {column}");
                    given.push((o, kx, column));
                }
            }
            let mut expected = Vec::new();
            for o in 0..geometry.out_width {
                for kx in 0..3 {
                    let column = (o * stride + kx) as isize - 1;
                    if (0..width as isize).contains(&column) {
                        expected.push((o, kx, column as usize));
                    }
                }
            }
            given.sort_unstable();
            expected.sort_unstable();
            assert_eq!(given, expected, "width {width}, stride {stride}");
        }
    }

    #[test]
    fn phases_split_and_write_back_every_column() {
        for width in [1, 2, 5, 6] {
            let geometry = Geometry::new(&Shape::new([1, 1, 3, width]), 2);
            let plane: Vec<f32> = (0..3 * width).map(|v| v as f32 + 1.0).collect();
            let phases = Phases::split(geometry, &plane);
            for y in 0..3 {
                let row = &plane[y * width..][..width];
                let even: Vec<f32> = row.iter().step_by(2).copied().collect();
                let odd: Vec<f32> = row.iter().skip(1).step_by(2).copied().collect();
                assert_eq!(phases.row(0, y), even, "width {width}, row {y}");
                assert_eq!(phases.row(1, y), odd, "width {width}, row {y}");
            }
            let mut written = vec![0.0; plane.len()];
            phases.write_to(&mut written);
            assert_eq!(written, plane, "width {width}");
        }
    }
}
