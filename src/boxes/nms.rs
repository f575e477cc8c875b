//! Greedy non-maximum suppression with weighted box merging, and its thresholds (`NmsConfig`).

use super::{Corners, iou};

/// A box with its confidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// The box.
    pub bbox: Corners,
    /// Its confidence, `0..=1`.
    pub score: f32,
}

/// Thresholds of the greedy non-maximum suppression.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NmsConfig {
    /// Boxes scoring below this are dropped before suppression.
    pub score_threshold: f32,
    /// A box overlapping a kept, higher-scoring box by more than this IoU is suppressed, and
    /// merged into that box.
    pub iou_threshold: f32,
    /// Only the `top_k` best-scoring candidates enter suppression. Detection selects them on
    /// the device, so this also bounds what is read back per image.
    pub top_k: usize,
    /// At most this many boxes are returned.
    pub max_detections: usize,
}

impl Default for NmsConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.5,
            iou_threshold: 0.3,
            top_k: 100,
            max_detections: 100,
        }
    }
}

/// Thresholds that would silently select nothing or everything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NmsConfigError {
    /// A threshold outside `0..=1`, or not a number.
    #[error("{name} must be a number from 0 to 1, got {value}")]
    Threshold {
        /// Which threshold.
        name: &'static str,
        /// The value given.
        value: f32,
    },
    /// A count of zero.
    #[error("{name} must be at least 1")]
    Zero {
        /// Which count.
        name: &'static str,
    },
}

impl NmsConfig {
    /// Check that both thresholds are in `0..=1` (NaN is not) and both counts at least 1.
    pub fn validate(&self) -> Result<(), NmsConfigError> {
        for (name, value) in [
            ("score threshold", self.score_threshold),
            ("IoU threshold", self.iou_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(NmsConfigError::Threshold { name, value });
            }
        }
        for (name, value) in [
            ("top-k", self.top_k),
            ("the most faces per image", self.max_detections),
        ] {
            if value == 0 {
                return Err(NmsConfigError::Zero { name });
            }
        }
        Ok(())
    }

    /// Thresholds for evaluation: every candidate down to a score of 0.01, so the
    /// precision-recall curve reaches the highest recall the model has.
    pub fn evaluation() -> Self {
        Self {
            score_threshold: 0.01,
            top_k: 1000,
            max_detections: 1000,
            ..Self::default()
        }
    }
}

/// Greedy non-maximum suppression: keep the best box, drop those overlapping it, repeat.
///
/// Each kept box is then moved to the score-weighted mean of itself and the boxes it
/// suppressed (weighted NMS, as in BlazeFace): a face draws a cluster of overlapping
/// candidates, and their mean is placed better than any single one. Which boxes are kept, and
/// their scores, are those of plain greedy suppression.
///
/// The result is sorted by descending score. Ties keep their input order, so the output is
/// deterministic.
pub fn non_max_suppression(candidates: &[Scored], config: &NmsConfig) -> Vec<Scored> {
    let mut ranked: Vec<Scored> = candidates
        .iter()
        .copied()
        .filter(|c| c.score >= config.score_threshold && c.score.is_finite())
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked.truncate(config.top_k);

    let mut clusters: Vec<Cluster> = Vec::new();
    for candidate in ranked {
        // A suppressed box joins the best kept box it overlaps, the one that suppressed it.
        if let Some(cluster) = clusters
            .iter_mut()
            .find(|c| iou(&c.kept.bbox, &candidate.bbox) > config.iou_threshold)
        {
            cluster.add(&candidate);
        } else if clusters.len() < config.max_detections {
            clusters.push(Cluster::new(candidate));
        }
    }
    clusters.iter().map(Cluster::merged).collect()
}

/// A kept box and the score-weighted sums of its members' corner offsets from it (offsets, so
/// that a box that suppressed nothing comes back exactly as it was).
struct Cluster {
    kept: Scored,
    weighted_offsets: [f32; 4],
    weight: f32,
}

impl Cluster {
    fn new(kept: Scored) -> Self {
        Self {
            kept,
            weighted_offsets: [0.0; 4],
            weight: kept.score,
        }
    }

    fn add(&mut self, member: &Scored) {
        let (m, k) = (&member.bbox, &self.kept.bbox);
        let offsets = [m.x1 - k.x1, m.y1 - k.y1, m.x2 - k.x2, m.y2 - k.y2];
        for (sum, offset) in self.weighted_offsets.iter_mut().zip(offsets) {
            *sum += member.score * offset;
        }
        self.weight += member.score;
    }

    /// The kept box's score on the cluster's mean box.
    fn merged(&self) -> Scored {
        if self.weight <= 0.0 {
            return self.kept;
        }
        let [dx1, dy1, dx2, dy2] = self.weighted_offsets.map(|sum| sum / self.weight);
        let k = &self.kept.bbox;
        Scored {
            bbox: Corners::new(k.x1 + dx1, k.y1 + dy1, k.x2 + dx2, k.y2 + dy2),
            score: self.kept.score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Scored {
        Scored {
            bbox: Corners::new(x1, y1, x2, y2),
            score,
        }
    }

    #[test]
    fn suppresses_overlapping_lower_scores() {
        let config = NmsConfig {
            score_threshold: 0.1,
            iou_threshold: 0.5,
            ..NmsConfig::default()
        };
        let boxes = [
            scored(0.0, 0.0, 10.0, 10.0, 0.8),
            // IoU with the first: 90 / 110 = 0.82 -> suppressed.
            scored(1.0, 0.0, 11.0, 10.0, 0.9),
            // IoU with the kept 0.9 box: 50 / 150 = 0.33 -> kept.
            scored(6.0, 0.0, 16.0, 10.0, 0.7),
            // Far away -> kept.
            scored(50.0, 50.0, 60.0, 60.0, 0.6),
        ];
        let kept = non_max_suppression(&boxes, &config);
        let scores: Vec<f32> = kept.iter().map(|k| k.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.6]);
    }

    #[test]
    fn kept_boxes_move_to_the_score_weighted_mean_of_what_they_suppress() {
        let config = NmsConfig {
            score_threshold: 0.1,
            ..NmsConfig::default()
        };
        let boxes = [
            scored(0.0, 0.0, 10.0, 10.0, 0.9),
            // IoU 80 / 120 with the first: suppressed, and pulls it right by a quarter of
            // its offset (0.3 of a total weight of 1.2).
            scored(2.0, 0.0, 12.0, 10.0, 0.3),
            // Overlaps nothing: kept as it is.
            scored(50.0, 50.0, 60.0, 60.0, 0.6),
        ];
        let kept = non_max_suppression(&boxes, &config);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        let b = kept[0].bbox;
        for (got, want) in [(b.x1, 0.5), (b.y1, 0.0), (b.x2, 10.5), (b.y2, 10.0)] {
            assert!((got - want).abs() < 1e-5, "{b:?}");
        }
        assert_eq!(kept[1], boxes[2]);
    }

    #[test]
    fn drops_boxes_below_the_score_threshold() {
        let config = NmsConfig {
            score_threshold: 0.5,
            ..NmsConfig::default()
        };
        let boxes = [
            scored(0.0, 0.0, 1.0, 1.0, 0.49),
            scored(5.0, 5.0, 6.0, 6.0, 0.5),
            scored(8.0, 8.0, 9.0, 9.0, f32::NAN),
        ];
        let kept = non_max_suppression(&boxes, &config);
        assert_eq!(kept, vec![boxes[1]]);
    }

    #[test]
    fn respects_top_k_and_max_detections() {
        let boxes: Vec<Scored> = (0..10)
            .map(|i| {
                let x = i as f32 * 20.0;
                scored(x, 0.0, x + 10.0, 10.0, 0.9 - i as f32 * 0.01)
            })
            .collect();
        let top_k = NmsConfig {
            top_k: 4,
            ..NmsConfig::default()
        };
        assert_eq!(non_max_suppression(&boxes, &top_k).len(), 4);
        let max = NmsConfig {
            max_detections: 2,
            ..NmsConfig::default()
        };
        let kept = non_max_suppression(&boxes, &max);
        assert_eq!(kept, boxes[..2].to_vec());
    }

    #[test]
    fn validation_refuses_thresholds_outside_zero_to_one_and_zero_counts() {
        assert_eq!(NmsConfig::default().validate(), Ok(()));
        assert_eq!(NmsConfig::evaluation().validate(), Ok(()));
        for score in [2.0, -1.0, f32::NAN, f32::INFINITY] {
            let config = NmsConfig {
                score_threshold: score,
                ..NmsConfig::default()
            };
            assert!(config.validate().is_err(), "{score}");
        }
        let config = NmsConfig {
            iou_threshold: 5.0,
            ..NmsConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("IoU threshold")
        );
        let config = NmsConfig {
            top_k: 0,
            ..NmsConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(NmsConfigError::Zero { name: "top-k" })
        );
    }
}
