//! Pairs of sums over long runs of f32 values, vectorisable and accurate: f32 lanes the compiler
//! maps to SIMD registers, flushed to f64 every block so that rounding does not grow with the
//! length of the run.

/// Values each lane adds before its sum moves to f64.
const BLOCK: usize = 256;
/// Independent accumulators (one SIMD register of f32 on AVX).
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

/// The sums of both outputs of `term` over the pairs of `a` and `b` (of equal length).
#[inline(always)]
pub(super) fn plane_sums(
    a: &[f32],
    b: &[f32],
    term: impl Fn(f32, f32) -> (f32, f32),
) -> (f64, f64) {
    debug_assert_eq!(a.len(), b.len());
    let mut totals = LaneSums::default();
    for (a, b) in a.chunks(BLOCK * LANES).zip(b.chunks(BLOCK * LANES)) {
        let mut first = [0.0f32; LANES];
        let mut second = [0.0f32; LANES];
        let whole = a.len() / LANES * LANES;
        for (a, b) in a[..whole]
            .chunks_exact(LANES)
            .zip(b[..whole].chunks_exact(LANES))
        {
            for lane in 0..LANES {
                let (x, y) = term(a[lane], b[lane]);
                first[lane] += x;
                second[lane] += y;
            }
        }
        for (&a, &b) in a[whole..].iter().zip(&b[whole..]) {
            let (x, y) = term(a, b);
            first[0] += x;
            second[0] += y;
        }
        totals.add(
            first.iter().map(|&v| f64::from(v)).sum(),
            second.iter().map(|&v| f64::from(v)).sum(),
        );
    }
    (totals.first, totals.second)
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
