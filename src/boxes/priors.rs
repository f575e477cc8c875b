//! Prior (default) boxes: squares of the configured sizes centred on every feature-map cell.

use super::CenterSize;

/// One detection level: the shape of its feature map and the prior sizes at each cell.
#[derive(Clone, Debug, PartialEq)]
pub struct PriorLevel {
    /// Feature-map width in cells.
    pub feature_width: usize,
    /// Feature-map height in cells.
    pub feature_height: usize,
    /// Prior side lengths in input pixels.
    pub min_sizes: Vec<f32>,
}

/// Priors (default boxes) for all levels, normalised to the input.
///
/// Order: level by level; within a level row-major over cells (`y`, then `x`); within a cell
/// every min size, and for each size every aspect ratio. The detection heads lay out their
/// outputs in the same order, so prior `i` pairs with output row `i`.
///
/// The step of a level is the input size divided by its feature-map size, so cell centres
/// cover the input evenly even when the input is not a multiple of the level's stride.
/// An aspect ratio `a` gives a prior `s * sqrt(a)` wide and `s / sqrt(a)` high.
pub fn generate_priors(
    levels: &[PriorLevel],
    input_width: usize,
    input_height: usize,
    aspect_ratios: &[f32],
) -> Vec<CenterSize> {
    let (iw, ih) = (input_width as f32, input_height as f32);
    let mut priors = Vec::new();
    for level in levels {
        let (fw, fh) = (level.feature_width as f32, level.feature_height as f32);
        for y in 0..level.feature_height {
            for x in 0..level.feature_width {
                let cx = (x as f32 + 0.5) / fw;
                let cy = (y as f32 + 0.5) / fh;
                for &size in &level.min_sizes {
                    for &ratio in aspect_ratios {
                        let stretch = ratio.sqrt();
                        priors.push(CenterSize {
                            cx,
                            cy,
                            w: size * stretch / iw,
                            h: size / stretch / ih,
                        });
                    }
                }
            }
        }
    }
    priors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_places_priors() {
        let levels = [
            PriorLevel {
                feature_width: 4,
                feature_height: 2,
                min_sizes: vec![10.0, 20.0],
            },
            PriorLevel {
                feature_width: 2,
                feature_height: 1,
                min_sizes: vec![40.0],
            },
        ];
        let priors = generate_priors(&levels, 80, 40, &[1.0]);
        assert_eq!(priors.len(), 4 * 2 * 2 + 2);
        // First cell, first size.
        assert_eq!(
            priors[0],
            CenterSize {
                cx: 0.125,
                cy: 0.25,
                w: 10.0 / 80.0,
                h: 10.0 / 40.0
            }
        );
        // Second prior of the first cell is the second size at the same centre.
        assert_eq!(priors[1].cx, 0.125);
        assert_eq!(priors[1].w, 20.0 / 80.0);
        // Cells run along x first: prior 2 is cell (x=1, y=0).
        assert_eq!((priors[2].cx, priors[2].cy), (0.375, 0.25));
        // Last prior: second level, cell (1, 0).
        assert_eq!(
            priors[17],
            CenterSize {
                cx: 0.75,
                cy: 0.5,
                w: 0.5,
                h: 1.0
            }
        );
    }

    #[test]
    fn aspect_ratios_keep_the_area() {
        let levels = [PriorLevel {
            feature_width: 1,
            feature_height: 1,
            min_sizes: vec![16.0],
        }];
        let priors = generate_priors(&levels, 100, 100, &[1.0, 2.0]);
        assert_eq!(priors.len(), 2);
        let (square, wide) = (priors[0], priors[1]);
        assert!((square.w * square.h - wide.w * wide.h).abs() < 1e-7);
        assert!((wide.w / wide.h - 2.0).abs() < 1e-5);
    }
}
