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
}
