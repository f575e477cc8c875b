//! Vectorised passes over long runs of f32 values: pairs of sums, accurate (eight f32 lanes per
//! sum, flushed to f64 every block so that rounding does not grow with the length of the run),
//! and element-wise updates.

use wide::f32x8;

/// Values each lane adds before its sum moves to f64.
const BLOCK: usize = 256;
/// Independent accumulators (one SIMD register of f32 on AVX, two on SSE and WebAssembly).
const LANES: usize = 8;

/// Two running f64 totals.
#[derive(Default, Clone, Copy)]
pub(super) struct LaneSums {
    pub first: f64,
    pub second: f64,
}

impl LaneSums {
    pub fn add(&mut self, first: f64, second: f64) {
        self.first += first;
        self.second += second;
    }
}

/// The sums of both outputs of `term` over the pairs of `a` and `b` (of equal length), eight
/// pairs at a time.
///
/// Explicit vectors rather than loops over lanes left to the compiler: given a term with a
/// mask (the ReLU6 backward's), it vectorised the pairs of sums rather than the lanes and
/// loaded each masked value behind a branch, 4.7x slower.
#[inline(always)]
pub(super) fn plane_sums(
    a: &[f32],
    b: &[f32],
    term: impl Fn(f32x8, f32x8) -> (f32x8, f32x8),
) -> (f64, f64) {
    debug_assert_eq!(a.len(), b.len());
    let mut totals = LaneSums::default();
    for (a, b) in a.chunks(BLOCK * LANES).zip(b.chunks(BLOCK * LANES)) {
        let (mut first, mut second) = (f32x8::ZERO, f32x8::ZERO);
        let (a_lanes, a_rest) = a.as_chunks::<LANES>();
        let (b_lanes, b_rest) = b.as_chunks::<LANES>();
        for (&a, &b) in a_lanes.iter().zip(b_lanes) {
            let (x, y) = term(f32x8::from(a), f32x8::from(b));
            first += x;
            second += y;
        }
        if !a_rest.is_empty() {
            // The last values padded to a full vector, the padding's terms masked off.
            let (x, y) = term(padded(a_rest), padded(b_rest));
            let valid = f32x8::from(std::array::from_fn(|lane| {
                f32::from_bits(if lane < a_rest.len() { u32::MAX } else { 0 })
            }));
            first += x & valid;
            second += y & valid;
        }
        totals.add(wide_sum(first), wide_sum(second));
    }
    (totals.first, totals.second)
}

/// `values[i] = update(values[i], other[i])` over runs of equal length, eight at a time.
#[inline(always)]
pub(super) fn map_lanes(values: &mut [f32], other: &[f32], update: impl Fn(f32x8, f32x8) -> f32x8) {
    debug_assert_eq!(values.len(), other.len());
    let (lanes, rest) = values.as_chunks_mut::<LANES>();
    let (other_lanes, other_rest) = other.as_chunks::<LANES>();
    for (lanes, &other) in lanes.iter_mut().zip(other_lanes) {
        *lanes = update(f32x8::from(*lanes), f32x8::from(other)).to_array();
    }
    if !rest.is_empty() {
        let updated = update(padded(rest), padded(other_rest)).to_array();
        rest.copy_from_slice(&updated[..rest.len()]);
    }
}

/// Up to eight values, zeros after them.
fn padded(values: &[f32]) -> f32x8 {
    let mut lanes = [0.0; LANES];
    lanes[..values.len()].copy_from_slice(values);
    f32x8::from(lanes)
}

/// The sum of the lanes, in f64.
fn wide_sum(lanes: f32x8) -> f64 {
    lanes.to_array().iter().map(|&v| f64::from(v)).sum()
}

/// A dot product accumulated over many short runs (a plane's rows, a tap at a time): f32 lanes
/// flushed to f64 about every `BLOCK` values per lane, so that a row of 20 values costs its
/// multiply-adds and not a reduction of the lanes.
#[derive(Default, Clone, Copy)]
pub(super) struct LaneDot {
    lanes: [f32; LANES],
    /// Values each lane has added since the last flush, at most.
    pending: usize,
    total: f64,
}

impl LaneDot {
    /// Adds the products of `a` and `b` (of equal length).
    #[inline(always)]
    pub fn add(&mut self, a: &[f32], b: &[f32]) {
        debug_assert_eq!(a.len(), b.len());
        let whole = a.len() / LANES * LANES;
        for (a, b) in a[..whole]
            .chunks_exact(LANES)
            .zip(b[..whole].chunks_exact(LANES))
        {
            for lane in 0..LANES {
                self.lanes[lane] += a[lane] * b[lane];
            }
        }
        for (lane, (&a, &b)) in a[whole..].iter().zip(&b[whole..]).enumerate() {
            self.lanes[lane] += a * b;
        }
        self.pending += a.len().div_ceil(LANES);
        if self.pending >= BLOCK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.total += self.lanes.iter().map(|&v| f64::from(v)).sum::<f64>();
        self.lanes = [0.0; LANES];
        self.pending = 0;
    }

    /// The sum of every product added.
    pub fn total(mut self) -> f64 {
        self.flush();
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_f64_sums_on_runs_of_every_remainder() {
        for len in [0, 1, 7, 8, 9, 2047, 2048, 2049, 10_000] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let (sum, products) = plane_sums(&a, &b, |x, y| (x, x * y));
            let expected_sum: f64 = a.iter().map(|&v| f64::from(v)).sum();
            let expected_products: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x * y)).sum();
            assert!(
                (sum - expected_sum).abs() < 1e-3,
                "{len}: {sum} {expected_sum}"
            );
            assert!(
                (products - expected_products).abs() < 1e-3,
                "{len}: {products} {expected_products}"
            );
        }
    }

    #[test]
    fn a_dot_over_many_short_runs_matches_the_f64_dot() {
        // Rows of every remainder, enough of them to flush several times.
        for (row, rows) in [(1, 5), (7, 300), (8, 300), (20, 1000), (161, 40)] {
            let a: Vec<f32> = (0..row * rows)
                .map(|i| (i as f32 * 0.37).sin() * 3.0)
                .collect();
            let b: Vec<f32> = (0..row * rows).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut dot = LaneDot::default();
            for (a, b) in a.chunks(row).zip(b.chunks(row)) {
                dot.add(a, b);
            }
            let expected: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x * y)).sum();
            let total = dot.total();
            assert!(
                (total - expected).abs() < 1e-3,
                "{row}x{rows}: {total} {expected}"
            );
        }
    }
}
