//! WIDER FACE's protocol: per image, predictions in descending score order are matched
//! greedily to the ground truth they overlap most (IoU at least the threshold); a prediction
//! matching ignored ground truth counts neither as true nor false positive. Precision and
//! recall are taken at 1000 evenly spaced score thresholds and summarised by VOC-style
//! interpolated average precision.

use crate::boxes::{Corners, Scored, iou};

/// Number of score thresholds of the precision-recall curve.
pub const THRESHOLDS: usize = 1000;

/// One ground-truth face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroundTruth {
    /// The box in image pixels.
    pub bbox: Corners,
    /// Flagged invalid in the labels: matching it is neither a hit nor a miss.
    pub ignore: bool,
}

/// One image's ground truth and predictions.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ImageEval {
    /// The labelled faces.
    pub truth: Vec<GroundTruth>,
    /// The detector's boxes with scores.
    pub predictions: Vec<Scored>,
}

/// Face heights (pixels) that count in an evaluation; faces outside it are ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizeRange {
    /// Smallest counted height (inclusive).
    pub min_height: f32,
    /// Largest counted height (exclusive).
    pub max_height: f32,
}

impl SizeRange {
    /// Every size.
    pub const ALL: Self = Self {
        min_height: 0.0,
        max_height: f32::INFINITY,
    };
    /// Faces under 32 pixels high.
    pub const SMALL: Self = Self {
        min_height: 0.0,
        max_height: 32.0,
    };
    /// Faces 32 to 96 pixels high.
    pub const MEDIUM: Self = Self {
        min_height: 32.0,
        max_height: 96.0,
    };
    /// Faces over 96 pixels high.
    pub const LARGE: Self = Self {
        min_height: 96.0,
        max_height: f32::INFINITY,
    };

    fn contains(&self, bbox: &Corners) -> bool {
        let h = bbox.height();
        h >= self.min_height && h < self.max_height
    }
}

/// Precision and recall at each threshold, highest threshold first.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PrCurve {
    /// Score thresholds, descending.
    pub thresholds: Vec<f32>,
    /// Precision at each threshold (1 where nothing is predicted).
    pub precision: Vec<f32>,
    /// Recall at each threshold.
    pub recall: Vec<f32>,
    /// Ground truth that counts (not ignored, in the size range).
    pub counted_faces: usize,
}

/// How a prediction was judged.
#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Hit,
    Miss,
    Ignored,
}

/// The precision-recall curve over all images for faces in `sizes`.
///
/// Ground truth outside `sizes` is ignored, and so is a prediction outside `sizes` that
/// matches nothing: a small-face evaluation neither rewards nor punishes boxes of large faces.
pub fn pr_curve(images: &[ImageEval], iou_threshold: f32, sizes: SizeRange) -> PrCurve {
    let mut judged: Vec<(f32, Verdict)> = Vec::new();
    let mut counted_faces = 0;
    for image in images {
        let ignore: Vec<bool> = image
            .truth
            .iter()
            .map(|t| t.ignore || !sizes.contains(&t.bbox))
            .collect();
        counted_faces += ignore.iter().filter(|&&i| !i).count();
        let mut predictions = image.predictions.clone();
        predictions.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut taken = vec![false; image.truth.len()];
        for prediction in predictions {
            let best = image
                .truth
                .iter()
                .enumerate()
                .map(|(i, t)| (i, iou(&prediction.bbox, &t.bbox)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|&(_, overlap)| overlap >= iou_threshold);
            let verdict = match best {
                Some((i, _)) if ignore[i] => Verdict::Ignored,
                Some((i, _)) if !taken[i] => {
                    taken[i] = true;
                    Verdict::Hit
                }
                // A duplicate of a face already found.
                Some(_) => Verdict::Miss,
                None if !sizes.contains(&prediction.bbox) => Verdict::Ignored,
                None => Verdict::Miss,
            };
            judged.push((prediction.score, verdict));
        }
    }
    judged.retain(|(_, v)| *v != Verdict::Ignored);
    judged.sort_by(|a, b| b.0.total_cmp(&a.0));

    let thresholds: Vec<f32> = (0..THRESHOLDS)
        .map(|k| 1.0 - (k + 1) as f32 / THRESHOLDS as f32)
        .collect();
    let (mut precision, mut recall) = (Vec::new(), Vec::new());
    let (mut next, mut hits, mut proposals) = (0, 0usize, 0usize);
    for &threshold in &thresholds {
        while next < judged.len() && judged[next].0 >= threshold {
            proposals += 1;
            hits += usize::from(judged[next].1 == Verdict::Hit);
            next += 1;
        }
        precision.push(if proposals == 0 {
            1.0
        } else {
            hits as f32 / proposals as f32
        });
        recall.push(if counted_faces == 0 {
            0.0
        } else {
            hits as f32 / counted_faces as f32
        });
    }
    PrCurve {
        thresholds,
        precision,
        recall,
        counted_faces,
    }
}

/// VOC-style interpolated average precision: the area under the curve after making precision
/// non-increasing in recall.
pub fn average_precision(curve: &PrCurve) -> f32 {
    let mut recall = vec![0.0];
    recall.extend(&curve.recall);
    recall.push(1.0);
    let mut precision = vec![0.0];
    precision.extend(&curve.precision);
    precision.push(0.0);
    for i in (0..precision.len() - 1).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    (1..recall.len())
        .filter(|&i| recall[i] != recall[i - 1])
        .map(|i| (recall[i] - recall[i - 1]) * precision[i])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> GroundTruth {
        GroundTruth {
            bbox: Corners::from_xywh(x, y, size, size),
            ignore: false,
        }
    }

    fn hit(truth: &GroundTruth, score: f32) -> Scored {
        Scored {
            bbox: truth.bbox,
            score,
        }
    }

    fn ap(images: &[ImageEval]) -> f32 {
        average_precision(&pr_curve(images, 0.5, SizeRange::ALL))
    }

    #[test]
    fn perfect_predictions_score_one() {
        let truth = vec![face(0.0, 0.0, 40.0), face(100.0, 0.0, 40.0)];
        let predictions = vec![hit(&truth[0], 0.9), hit(&truth[1], 0.8)];
        let images = [ImageEval { truth, predictions }];
        assert!((ap(&images) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn no_predictions_score_zero() {
        let images = [ImageEval {
            truth: vec![face(0.0, 0.0, 40.0)],
            predictions: vec![],
        }];
        assert_eq!(ap(&images), 0.0);
    }

    #[test]
    fn a_false_positive_ranked_above_a_true_one_halves_precision() {
        let truth = vec![face(0.0, 0.0, 40.0)];
        let wrong = Scored {
            bbox: Corners::from_xywh(200.0, 200.0, 40.0, 40.0),
            score: 0.9,
        };
        let images = [ImageEval {
            predictions: vec![wrong, hit(&truth[0], 0.5)],
            truth,
        }];
        // Recall reaches 1 only with both boxes, at precision 1/2.
        assert!((ap(&images) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn duplicates_are_false_positives() {
        let truth = vec![face(0.0, 0.0, 40.0), face(100.0, 0.0, 40.0)];
        let predictions = vec![
            hit(&truth[0], 0.9),
            hit(&truth[0], 0.8), // duplicate of face 0
            hit(&truth[1], 0.7),
        ];
        let images = [ImageEval { truth, predictions }];
        // Recall 0.5 at precision 1, then recall 1 at precision 2/3: 0.5 + 0.5 * 2/3.
        assert!((ap(&images) - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-5);
    }

    #[test]
    fn ignored_ground_truth_is_neither_hit_nor_miss() {
        let mut ignored = face(100.0, 0.0, 40.0);
        ignored.ignore = true;
        let truth = vec![face(0.0, 0.0, 40.0), ignored];
        let predictions = vec![hit(&truth[1], 0.95), hit(&truth[0], 0.6)];
        let curve = pr_curve(&[ImageEval { truth, predictions }], 0.5, SizeRange::ALL);
        assert_eq!(curve.counted_faces, 1);
        assert!((average_precision(&curve) - 1.0).abs() < 1e-6);
        // Missing an ignored face costs nothing either.
        let only_ignored = ImageEval {
            truth: vec![ignored, face(0.0, 0.0, 40.0)],
            predictions: vec![hit(&face(0.0, 0.0, 40.0), 0.6)],
        };
        assert!((ap(&[only_ignored]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn size_ranges_count_only_their_faces() {
        let (small, large) = (face(0.0, 0.0, 20.0), face(100.0, 0.0, 120.0));
        let images = [ImageEval {
            truth: vec![small, large],
            // The small face is found; the large one is missed; a large false box exists.
            predictions: vec![
                hit(&small, 0.9),
                Scored {
                    bbox: Corners::from_xywh(300.0, 300.0, 100.0, 100.0),
                    score: 0.95,
                },
            ],
        }];
        let small_ap = average_precision(&pr_curve(&images, 0.5, SizeRange::SMALL));
        assert!((small_ap - 1.0).abs() < 1e-6, "{small_ap}");
        let large_ap = average_precision(&pr_curve(&images, 0.5, SizeRange::LARGE));
        assert_eq!(large_ap, 0.0);
        let medium = pr_curve(&images, 0.5, SizeRange::MEDIUM);
        assert_eq!(medium.counted_faces, 0);
    }

    #[test]
    fn the_curve_has_a_thousand_descending_thresholds() {
        let curve = pr_curve(&[], 0.5, SizeRange::ALL);
        assert_eq!(curve.thresholds.len(), THRESHOLDS);
        assert!(curve.thresholds.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(*curve.thresholds.last().unwrap(), 0.0);
    }
}
