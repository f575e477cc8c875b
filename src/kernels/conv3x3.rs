//! The 3x3 convolution with padding 1 (stride 1 or 2), bias-free, as the network's depthwise
//! convolutions (a group per channel) and its stem (three input channels) use it, computed
//! directly on channel planes: forward, input gradient and weight gradient, without burn's
//! per-group loop or the unfolded copy of the input its matrix product needs. Multi-threaded
//! over (sample, group) units. In inference the forward also applies the folded convolution's
//! bias and ReLU6 to each output plane while it is still in cache ([`Epilogue`]).
//!
//! Every inner loop runs over contiguous slices, so that the compiler vectorises it: at stride 2
//! a plane's columns are first split into its even and odd columns ("phases"), after which each
//! kernel column reads one phase at consecutive positions.

use std::ops::Range;

use rayon::prelude::*;

use super::HostMemory;
use super::epilogue::Epilogue;
use super::host::written_zeros;
#[cfg(feature = "train")]
use super::sums::LaneDot;
use burn::backend::tensor::FloatTensor;
use burn::prelude::Shape;

/// The geometry of one convolution: input planes, their output planes and the groups.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
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
    /// `input` is `[batch, in_channels, h, w]`, `weight` `[out_channels, in_channels / groups,
    /// 3, 3]`.
    fn new(input: &Shape, weight: &Shape, stride: usize, groups: usize) -> Self {
        assert!(
            stride == 1 || stride == 2,
            "the 3x3 kernel takes stride 1 or 2, not {stride}"
        );
        let [batch, in_channels, height, width] = input.dims();
        let [out_channels, in_per_group, kernel_h, kernel_w] = weight.dims();
        assert!(
            kernel_h == 3
                && kernel_w == 3
                && groups > 0
                && in_channels == in_per_group * groups
                && out_channels % groups == 0,
            "weights {weight:?} in {groups} groups do not fit the input {input:?}"
        );
        Self {
            batch,
            in_channels,
            out_channels,
            groups,
            height,
            width,
            // Padding 1 and a 3-wide kernel: floor((n + 2 - 3) / s) + 1 = ceil(n / s).
            out_height: height.div_ceil(stride),
            out_width: width.div_ceil(stride),
            stride,
        }
    }

    fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }

    fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Values of one (sample, group) unit's input planes and of its output planes.
    fn unit_sizes(&self) -> (usize, usize) {
        (
            self.in_per_group() * self.plane(),
            self.out_per_group() * self.out_plane(),
        )
    }

    /// The 3x3 kernel from input channel `input` of its group to output channel `out`.
    fn kernel<'w>(&self, weight: &'w [f32], out: usize, input: usize) -> &'w [f32] {
        &weight[(out * self.in_per_group() + input) * 9..][..9]
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height * self.out_width
    }

    fn output_shape(&self) -> Shape {
        Shape::new([
            self.batch,
            self.out_channels,
            self.out_height,
            self.out_width,
        ])
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
#[cfg(feature = "train")]
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

#[cfg(feature = "train")]
impl<T: AsMut<[f32]>> RowsMut for Plane<T> {
    fn row_mut(&mut self, _phase: usize, y: usize) -> &mut [f32] {
        &mut self.values.as_mut()[y * self.width..][..self.width]
    }
}

/// At stride 2, a plane's columns split into its even and odd columns (see the module's docs),
/// row by row.
struct Phases {
    widths: [usize; 2],
    values: [Vec<f32>; 2],
}

impl Phases {
    /// Zeroed phases of a plane.
    fn zeros(geometry: Geometry) -> Self {
        let widths = geometry.phase_widths();
        Self {
            widths,
            values: widths.map(|w| written_zeros(w * geometry.height)),
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
    #[cfg(feature = "train")]
    fn write_to(&self, plane: &mut [f32]) {
        let width = self.widths[0] + self.widths[1];
        for (y, row) in plane.chunks_exact_mut(width).enumerate() {
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

#[cfg(feature = "train")]
impl RowsMut for Phases {
    fn row_mut(&mut self, phase: usize, y: usize) -> &mut [f32] {
        let width = self.widths[phase];
        &mut self.values[phase][y * width..][..width]
    }
}

/// An input plane as the taps read it: in place at stride 1, split into phases at stride 2.
enum PlaneRows<'a> {
    InPlace(Plane<&'a [f32]>),
    Split(Phases),
}

impl<'a> PlaneRows<'a> {
    fn of(geometry: &Geometry, plane: &'a [f32]) -> Self {
        match geometry.stride {
            1 => Self::InPlace(geometry.rows(plane)),
            _ => Self::Split(Phases::split(*geometry, plane)),
        }
    }
}

impl Rows for PlaneRows<'_> {
    fn row(&self, phase: usize, y: usize) -> &[f32] {
        match self {
            Self::InPlace(plane) => plane.row(phase, y),
            Self::Split(phases) => phases.row(phase, y),
        }
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

/// Adds one input plane convolved with `kernel` to the output plane `out`.
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

/// Adds one output plane's gradient, through `kernel`, to one input plane's gradient in
/// `target`: each output gradient spreads to the nine inputs it read.
#[cfg(feature = "train")]
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

/// Adds one (input plane, output plane) pair's share of their kernel's gradient to `kernel`
/// (nine values): each tap's dot product of the output gradients and the inputs it read.
#[cfg(feature = "train")]
fn correlate(geometry: &Geometry, input: &impl Rows, grad: &[f32], kernel: &mut [f64]) {
    let taps = geometry.column_taps();
    let mut dots = [LaneDot::default(); 9];
    for_each_row(geometry, |o, row, ky| {
        let grad = &grad[o * geometry.out_width..][..geometry.out_width];
        for (kx, tap) in taps.iter().enumerate() {
            let source = &input.row(tap.phase, row)[tap.source.clone()];
            dots[ky * 3 + kx].add(&grad[tap.out.clone()], source);
        }
    });
    for (total, dot) in kernel.iter_mut().zip(dots) {
        *total += dot.total();
    }
}

/// `[batch, in_channels, h, w]` convolved with `[out_channels, in_channels / groups, 3, 3]`
/// weights in `groups` groups, then `epilogue` applied to each output plane.
pub(super) fn forward<B: HostMemory>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    stride: usize,
    groups: usize,
    epilogue: Option<Epilogue>,
) -> FloatTensor<B> {
    let geometry = Geometry::new(&B::shape(&x), &B::shape(&weight), stride, groups);
    let (x, weight) = (B::values(x), B::values(weight));
    let (x, weight): (&[f32], &[f32]) = (&x, &weight);
    let (unit_input, unit_output) = geometry.unit_sizes();
    let mut output = B::accumulator(geometry.output_shape());
    if unit_output > 0 {
        output
            .par_chunks_mut(unit_output)
            .zip(x.par_chunks(unit_input))
            .enumerate()
            .for_each(|(unit, (out, input))| {
                let first_out = unit % groups * geometry.out_per_group();
                let inputs: Vec<PlaneRows> = input
                    .chunks(geometry.plane())
                    .map(|plane| PlaneRows::of(&geometry, plane))
                    .collect();
                for (o, out) in out.chunks_mut(geometry.out_plane()).enumerate() {
                    for (i, input) in inputs.iter().enumerate() {
                        let kernel = geometry.kernel(weight, first_out + o, i);
                        convolve(&geometry, kernel, input, out);
                    }
                    if let Some(epilogue) = &epilogue {
                        epilogue.apply(first_out + o, out);
                    }
                }
            });
    }
    B::tensor(output)
}

/// Gradients of [`forward`] (without epilogue) with respect to its input (when `input_grad`)
/// and its weights.
#[cfg(feature = "train")]
pub(super) fn backward<B: HostMemory>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    stride: usize,
    groups: usize,
    output_grad: FloatTensor<B>,
    input_grad: bool,
) -> (Option<FloatTensor<B>>, FloatTensor<B>) {
    let input_shape = B::shape(&x);
    let weight_shape = B::shape(&weight);
    let geometry = Geometry::new(&input_shape, &weight_shape, stride, groups);
    let (x, weight, grad) = (B::values(x), B::values(weight), B::values(output_grad));
    let (x, weight, grad): (&[f32], &[f32], &[f32]) = (&x, &weight, &grad);
    let (unit_input, unit_output) = geometry.unit_sizes();
    let group_weights = geometry.out_per_group() * geometry.in_per_group() * 9;

    // One (sample, group) unit: its share of the group's weight gradient, and its input
    // gradient written into `input_grad`.
    let unit_gradients = |unit: usize, input_grad: Option<&mut [f32]>| -> Vec<f64> {
        let first_out = unit % groups * geometry.out_per_group();
        let input = &x[unit * unit_input..][..unit_input];
        let grad = &grad[unit * unit_output..][..unit_output];
        let grads: Vec<&[f32]> = grad.chunks(geometry.out_plane()).collect();
        let mut kernels = vec![0.0f64; group_weights];
        for (i, plane) in input.chunks(geometry.plane()).enumerate() {
            let rows = PlaneRows::of(&geometry, plane);
            for (o, grad) in grads.iter().enumerate() {
                let kernel = &mut kernels[(o * geometry.in_per_group() + i) * 9..][..9];
                correlate(&geometry, &rows, grad, kernel);
            }
        }
        let Some(input_grad) = input_grad else {
            return kernels;
        };
        for (i, target) in input_grad.chunks_mut(geometry.plane()).enumerate() {
            let kernel = |o: usize| geometry.kernel(weight, first_out + o, i);
            if geometry.stride == 1 {
                let mut rows = geometry.rows(target);
                for (o, grad) in grads.iter().enumerate() {
                    spread(&geometry, kernel(o), grad, &mut rows);
                }
            } else {
                let mut phases = Phases::zeros(geometry);
                for (o, grad) in grads.iter().enumerate() {
                    spread(&geometry, kernel(o), grad, &mut phases);
                }
                phases.write_to(target);
            }
        }
        kernels
    };

    let units = geometry.batch * groups;
    // At stride 1 the planes' gradients are summed in place; at stride 2 they are written
    // from their phases.
    let mut x_grad = input_grad.then(|| match stride {
        1 => B::accumulator(input_shape),
        _ => B::zeros(input_shape),
    });
    let shares: Vec<Vec<f64>> = match x_grad.as_deref_mut() {
        Some(x_grad) if unit_input > 0 => x_grad
            .par_chunks_mut(unit_input)
            .enumerate()
            .map(|(unit, input_grad)| unit_gradients(unit, Some(input_grad)))
            .collect(),
        _ => (0..units)
            .into_par_iter()
            .map(|unit| unit_gradients(unit, None))
            .collect(),
    };
    // Summed in unit order, so the result does not depend on the threads.
    let mut weight_grad = vec![0.0f64; geometry.out_channels * geometry.in_per_group() * 9];
    for (unit, share) in shares.iter().enumerate() {
        let group = &mut weight_grad[unit % groups * group_weights..][..group_weights];
        for (total, value) in group.iter_mut().zip(share) {
            *total += value;
        }
    }
    let weight_grad: Vec<f32> = weight_grad.iter().map(|&v| v as f32).collect();
    (
        x_grad.map(B::tensor),
        B::from_values(&weight_grad, weight_shape),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 3x3 kernel for the one-channel planes of the tests.
    fn weights() -> Shape {
        Shape::new([1, 1, 3, 3])
    }

    #[test]
    fn column_taps_read_inside_the_row_only_and_every_such_read() {
        // Every (output column, kernel column) pair the taps give reads the input column
        // o * stride + kx - 1, inside the row, and every such pair inside the row is given.
        for (width, stride) in [(1, 1), (1, 2), (2, 2), (7, 1), (7, 2), (6, 2), (3, 2)] {
            let geometry = Geometry::new(&Shape::new([1, 1, 1, width]), &weights(), stride, 1);
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
            let geometry = Geometry::new(&Shape::new([1, 1, 3, width]), &weights(), 2, 1);
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
