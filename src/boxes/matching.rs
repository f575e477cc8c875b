//! Matching priors to faces for training: which priors are faces, background or ignored, and
//! their regression targets.

use super::{CenterSize, Corners, Variances, encode, iou};

/// What each prior should predict: face or background, and for faces the encoded box.
#[derive(Clone, Debug, PartialEq)]
pub struct PriorTargets {
    /// Per prior: the index of the face it is matched to, or `None` for background.
    pub matched: Vec<Option<usize>>,
    /// Per prior: whether it is ignored, neither face nor background (it matches an ignored
    /// face and no face).
    pub ignored: Vec<bool>,
    /// Per prior: the encoded offsets of its face (zeros for background).
    pub offsets: Vec<[f32; 4]>,
}

impl PriorTargets {
    /// Number of priors matched to a face.
    pub fn positives(&self) -> usize {
        self.matched.iter().filter(|m| m.is_some()).count()
    }
}

/// The IoUs that make a prior a face, background or neither.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchThresholds {
    /// A prior whose best IoU with a face reaches this is matched to that face.
    pub face: f32,
    /// A prior that overlaps no face or ignored face by this much is background; between this
    /// and `face` it is ignored. Equal to `face`, there is no such band.
    pub background: f32,
}

impl MatchThresholds {
    /// One threshold: face at `iou` and above, background below.
    pub fn single(iou: f32) -> Self {
        Self {
            face: iou,
            background: iou,
        }
    }
}

/// Match priors to ground-truth faces (all normalised to the input), SSD style:
///
/// 1. every prior whose best IoU with a face reaches `thresholds.face` is matched to that face;
/// 2. every face is also matched to its best prior, even below the threshold, so that no face
///    goes without a positive (small faces often overlap no prior by much). Faces take their
///    forced prior in order; a face whose best prior was already forced for an earlier face
///    takes its best remaining one;
/// 3. every prior left unmatched whose IoU with a face or an ignored face reaches
///    `thresholds.background` is ignored: a prior that covers a face loosely is neither a good
///    face prior nor background, and an ignored face (doubtful, too small or unannotatable)
///    must not teach its priors that it is background.
pub fn match_priors(
    priors: &[CenterSize],
    faces: &[Corners],
    ignored_faces: &[Corners],
    thresholds: MatchThresholds,
    variances: Variances,
) -> PriorTargets {
    let overlaps: Vec<Vec<f32>> = priors
        .iter()
        .map(|p| {
            let corners = p.to_corners();
            faces.iter().map(|f| iou(&corners, f)).collect()
        })
        .collect();
    let mut matched: Vec<Option<usize>> = overlaps
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .filter(|(_, overlap)| **overlap >= thresholds.face)
                .map(|(f, _)| f)
        })
        .collect();
    let mut forced = vec![false; priors.len()];
    for (f, _) in faces.iter().enumerate() {
        let best = (0..priors.len())
            .filter(|&p| !forced[p] && overlaps[p][f] > 0.0)
            .max_by(|&a, &b| overlaps[a][f].total_cmp(&overlaps[b][f]));
        if let Some(p) = best {
            forced[p] = true;
            matched[p] = Some(f);
        }
    }

    let ignored = matched
        .iter()
        .zip(priors)
        .zip(&overlaps)
        .map(|((m, prior), face_overlaps)| {
            let corners = prior.to_corners();
            m.is_none()
                && (face_overlaps.iter().any(|&o| o >= thresholds.background)
                    || ignored_faces
                        .iter()
                        .any(|f| iou(&corners, f) >= thresholds.background))
        })
        .collect();

    let offsets = matched
        .iter()
        .zip(priors)
        .map(|(m, prior)| match m {
            Some(f) => encode(&faces[*f].to_center_size(), prior, variances),
            None => [0.0; 4],
        })
        .collect();
    PriorTargets {
        matched,
        ignored,
        offsets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior(x1: f32, y1: f32, x2: f32, y2: f32) -> CenterSize {
        Corners::new(x1, y1, x2, y2).to_center_size()
    }

    /// Matching with one threshold (no ignored band) and the default variances.
    fn match_at(
        priors: &[CenterSize],
        faces: &[Corners],
        ignored: &[Corners],
        iou: f32,
    ) -> PriorTargets {
        let thresholds = MatchThresholds::single(iou);
        match_priors(priors, faces, ignored, thresholds, Variances::default())
    }

    #[test]
    fn matches_above_threshold_and_each_face_best_prior() {
        let priors = [
            prior(0.0, 0.0, 0.2, 0.2),   // IoU 1.0 with face 0
            prior(0.05, 0.0, 0.25, 0.2), // IoU 0.6 with face 0
            prior(0.5, 0.5, 0.9, 0.9),   // IoU 0.25 with face 1: its best, below threshold
            prior(0.0, 0.8, 0.1, 0.9),   // overlaps nothing
        ];
        let faces = [
            Corners::new(0.0, 0.0, 0.2, 0.2),
            Corners::new(0.6, 0.6, 0.8, 0.8),
        ];
        let targets = match_at(&priors, &faces, &[], 0.5);
        assert_eq!(targets.matched, vec![Some(0), Some(0), Some(1), None]);
        assert_eq!(targets.positives(), 3);
        assert_eq!(targets.offsets[0], [0.0; 4]);
        assert_eq!(targets.offsets[3], [0.0; 4]);
        // Face 1 is centred on prior 2 and half its size: offsets (0, 0, ln 0.5 / 0.2, same).
        let half = 0.5f32.ln() / 0.2;
        let o = targets.offsets[2];
        assert!(o[0].abs() < 1e-5 && o[1].abs() < 1e-5);
        assert!((o[2] - half).abs() < 1e-4 && (o[3] - half).abs() < 1e-4);
    }

    #[test]
    fn a_face_whose_best_prior_is_taken_gets_its_next_best() {
        let priors = [prior(0.0, 0.0, 0.4, 0.4), prior(0.3, 0.0, 0.7, 0.4)];
        let faces = [
            Corners::new(0.0, 0.0, 0.3, 0.4),
            Corners::new(0.1, 0.0, 0.45, 0.4),
        ];
        // IoUs: prior 0 with faces 0.75 / 0.667; prior 1 with faces 0 / 0.25.
        let targets = match_at(&priors, &faces, &[], 0.5);
        // Prior 0 is face 0's best (forced first); face 1 then takes prior 1 below threshold.
        assert_eq!(targets.matched, vec![Some(0), Some(1)]);
    }

    #[test]
    fn no_faces_means_all_background() {
        let priors = [prior(0.0, 0.0, 0.5, 0.5)];
        let targets = match_at(&priors, &[], &[], 0.35);
        assert_eq!(targets.matched, vec![None]);
        assert_eq!(targets.ignored, vec![false]);
    }

    #[test]
    fn priors_matching_only_an_ignored_face_are_ignored() {
        let priors = [
            prior(0.0, 0.0, 0.2, 0.2),   // IoU 1.0 with the face
            prior(0.6, 0.6, 0.8, 0.8),   // IoU 1.0 with the ignored face
            prior(0.62, 0.6, 0.82, 0.8), // IoU 0.82 with the ignored face
            prior(0.0, 0.8, 0.1, 0.9),   // overlaps nothing
            prior(0.05, 0.0, 0.25, 0.2), // IoU 0.6 with the face and 0 with the ignored one
        ];
        let faces = [Corners::new(0.0, 0.0, 0.2, 0.2)];
        let ignored = [Corners::new(0.6, 0.6, 0.8, 0.8)];
        let targets = match_at(&priors, &faces, &ignored, 0.35);
        assert_eq!(targets.matched, vec![Some(0), None, None, None, Some(0)]);
        assert_eq!(targets.ignored, vec![false, true, true, false, false]);

        // A face always wins over an ignored face on the same prior.
        let targets = match_at(&priors, &faces, &faces, 0.35);
        assert_eq!(targets.ignored, vec![false; 5]);
    }

    #[test]
    fn priors_between_the_two_thresholds_are_ignored() {
        let priors = [
            prior(0.0, 0.0, 0.2, 0.2),   // IoU 1.0 with the face
            prior(0.05, 0.0, 0.25, 0.2), // IoU 0.6
            prior(0.1, 0.0, 0.3, 0.2),   // IoU 0.33
            prior(0.15, 0.0, 0.35, 0.2), // IoU 0.14
        ];
        let faces = [Corners::new(0.0, 0.0, 0.2, 0.2)];
        let thresholds = MatchThresholds {
            face: 0.5,
            background: 0.3,
        };
        let targets = match_priors(&priors, &faces, &[], thresholds, Variances::default());
        assert_eq!(targets.matched, vec![Some(0), Some(0), None, None]);
        assert_eq!(targets.ignored, vec![false, false, true, false]);

        // With one threshold at 0.3, the 0.33 prior is a face prior.
        let targets = match_at(&priors, &faces, &[], 0.3);
        assert_eq!(targets.matched, vec![Some(0), Some(0), Some(0), None]);
        assert_eq!(targets.ignored, vec![false; 4]);
    }
}
