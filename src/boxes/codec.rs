//! The SSD box codec: boxes encoded as offsets from their prior, scaled by the variances, and
//! decoded back.

use super::CenterSize;

/// The SSD variances that scale the regression targets: `[0.1, 0.1, 0.2, 0.2]` means
/// `center = 0.1` for the centre offsets and `size = 0.2` for the log size ratios.
///
/// They keep all four targets at a similar magnitude, so the smooth-L1 loss weighs centre and
/// size errors evenly.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Variances {
    /// Divides the centre offsets (in prior widths/heights).
    pub center: f32,
    /// Divides the log of the size ratios.
    pub size: f32,
}

impl Default for Variances {
    fn default() -> Self {
        Self {
            center: 0.1,
            size: 0.2,
        }
    }
}

/// Encode a ground-truth box relative to a prior: the regression target for that prior.
pub fn encode(truth: &CenterSize, prior: &CenterSize, variances: Variances) -> [f32; 4] {
    [
        (truth.cx - prior.cx) / (variances.center * prior.w),
        (truth.cy - prior.cy) / (variances.center * prior.h),
        (truth.w / prior.w).ln() / variances.size,
        (truth.h / prior.h).ln() / variances.size,
    ]
}

/// Decode the network's offsets for a prior back into a box: the inverse of [`encode`].
pub fn decode(offsets: [f32; 4], prior: &CenterSize, variances: Variances) -> CenterSize {
    CenterSize {
        cx: prior.cx + offsets[0] * variances.center * prior.w,
        cy: prior.cy + offsets[1] * variances.center * prior.h,
        w: prior.w * (offsets[2] * variances.size).exp(),
        h: prior.h * (offsets[3] * variances.size).exp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &CenterSize, b: &CenterSize) -> bool {
        [(a.cx, b.cx), (a.cy, b.cy), (a.w, b.w), (a.h, b.h)]
            .iter()
            .all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn encode_matches_hand_computed_targets() {
        let prior = CenterSize {
            cx: 0.5,
            cy: 0.5,
            w: 0.2,
            h: 0.1,
        };
        let truth = CenterSize {
            cx: 0.52,
            cy: 0.49,
            w: 0.4,
            h: 0.1,
        };
        let t = encode(&truth, &prior, Variances::default());
        // (0.02 / (0.1 * 0.2)) = 1.0; (-0.01 / (0.1 * 0.1)) = -1.0; ln(2) / 0.2; ln(1) / 0.2 = 0.
        assert!((t[0] - 1.0).abs() < 1e-5);
        assert!((t[1] + 1.0).abs() < 1e-5);
        assert!((t[2] - 2f32.ln() / 0.2).abs() < 1e-5);
        assert!(t[3].abs() < 1e-6);
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let variances = Variances::default();
        let priors = [
            CenterSize {
                cx: 0.1,
                cy: 0.2,
                w: 0.05,
                h: 0.07,
            },
            CenterSize {
                cx: 0.7,
                cy: 0.4,
                w: 0.4,
                h: 0.5,
            },
        ];
        let truths = [
            CenterSize {
                cx: 0.12,
                cy: 0.25,
                w: 0.03,
                h: 0.09,
            },
            CenterSize {
                cx: 0.5,
                cy: 0.5,
                w: 0.9,
                h: 0.2,
            },
        ];
        for prior in &priors {
            for truth in &truths {
                let back = decode(encode(truth, prior, variances), prior, variances);
                assert!(close(&back, truth), "{back:?} != {truth:?}");
            }
        }
    }

    #[test]
    fn zero_offsets_decode_to_the_prior() {
        let prior = CenterSize {
            cx: 0.3,
            cy: 0.6,
            w: 0.1,
            h: 0.2,
        };
        assert!(close(
            &decode([0.0; 4], &prior, Variances::default()),
            &prior
        ));
    }
}
