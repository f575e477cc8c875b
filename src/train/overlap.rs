//! The generalised-IoU box loss (Rezatofighi et al., 2019): `1 - GIoU` of each face prior's
//! decoded box with its face, which scores a box by the overlap that detection is judged by
//! (a face counts as found at IoU 0.5), where smooth-L1 weighs the four offsets apart.
//!
//! Both boxes of a prior are decoded relative to that prior, in units of its width and height:
//! IoU and GIoU are ratios of areas, unchanged when both boxes are shifted alike and scaled by
//! the same positive factor per axis (x and y may differ), so the loss needs neither the priors
//! nor the image size.

use burn::prelude::*;

use super::item::FACE;
use crate::boxes::Variances;

/// Largest `|offset x size variance|` decoded: a box at most e^4 times its prior's side, so
/// that a wild early prediction cannot overflow `exp` (matched faces are within about e^1 of
/// their priors; past the clamp the smooth-L1 term alone pulls a size back).
const MAX_LOG_SIZE: f32 = 4.0;

/// Mean `1 - GIoU` over the face priors (`labels` 1) of the boxes `offsets` and
/// `target_offsets` encode (`[batch, priors, 4]`); 0 without face priors. Like the MultiBox
/// loss, it is divided by the number of face priors.
pub fn giou_loss(
    offsets: Tensor<3>,
    target_offsets: Tensor<3>,
    labels: Tensor<2, Int>,
    variances: Variances,
) -> Tensor<1> {
    let [batch, priors, _] = offsets.dims();
    let face = labels.equal_elem(FACE).float();
    let [px1, py1, px2, py2] = corners(offsets, variances);
    let [tx1, ty1, tx2, ty2] = corners(target_offsets, variances);
    let area = |x1: Tensor<3>, y1: Tensor<3>, x2: Tensor<3>, y2: Tensor<3>| (x2 - x1) * (y2 - y1);
    let predicted_area = area(px1.clone(), py1.clone(), px2.clone(), py2.clone());
    let target_area = area(tx1.clone(), ty1.clone(), tx2.clone(), ty2.clone());
    let overlap_w =
        (px2.clone().min_pair(tx2.clone()) - px1.clone().max_pair(tx1.clone())).clamp_min(0.0);
    let overlap_h =
        (py2.clone().min_pair(ty2.clone()) - py1.clone().max_pair(ty1.clone())).clamp_min(0.0);
    let intersection = overlap_w * overlap_h;
    let union = predicted_area + target_area - intersection.clone();
    let enclosing = area(
        px1.min_pair(tx1),
        py1.min_pair(ty1),
        px2.max_pair(tx2),
        py2.max_pair(ty2),
    );
    let giou = intersection / union.clone() - (enclosing.clone() - union) / enclosing;
    let loss = (giou.neg() + 1.0).reshape([batch, priors]) * face.clone();
    loss.sum() / face.sum().clamp_min(1.0)
}

/// `[batch, priors, 4]` offsets -> corners `x1, y1, x2, y2` (each `[batch, priors, 1]`) in
/// units of the prior's sides, relative to its centre.
fn corners(offsets: Tensor<3>, variances: Variances) -> [Tensor<3>; 4] {
    let part = |i: usize| offsets.clone().narrow(2, i, 1);
    let half_side = |i: usize| {
        (part(i) * variances.size)
            .clamp(-MAX_LOG_SIZE, MAX_LOG_SIZE)
            .exp()
            / 2.0
    };
    let (cx, cy) = (part(0) * variances.center, part(1) * variances.center);
    let (half_w, half_h) = (half_side(2), half_side(3));
    [
        cx.clone() - half_w.clone(),
        cy.clone() - half_h.clone(),
        cx + half_w,
        cy + half_h,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::{CenterSize, encode};

    /// Offsets of `boxes` (centre x, centre y, width, height) encoded against one prior, as
    /// `[1, boxes, 4]`.
    fn encoded(boxes: &[[f32; 4]], prior: &CenterSize, device: &Device) -> Tensor<3> {
        let values: Vec<f32> = boxes
            .iter()
            .flat_map(|&[cx, cy, w, h]| {
                encode(&CenterSize { cx, cy, w, h }, prior, Variances::default())
            })
            .collect();
        Tensor::from_data(TensorData::new(values, [1, boxes.len(), 4]), device)
    }

    fn labels(values: Vec<i64>, device: &Device) -> Tensor<2, Int> {
        let n = values.len();
        Tensor::from_data(TensorData::new(values, [1, n]), device)
    }

    #[test]
    fn hand_computed_giou_on_face_priors_only() {
        let device = Device::flex();
        // A prior 0.2 x 0.1 (not square, not at the origin), to show the loss is the GIoU of
        // the boxes themselves.
        let prior = CenterSize {
            cx: 0.4,
            cy: 0.6,
            w: 0.2,
            h: 0.1,
        };
        // Prior 0 (face): a 0.2 x 0.2 box against the same box moved 0.1 right: intersection
        // 0.1 x 0.2 = 0.02, union 0.06, enclosing 0.3 x 0.2 = 0.06: GIoU = 1/3.
        // Prior 1 (face): disjoint boxes 0.1 x 0.1 at x 0.3 and 0.5: IoU 0, union 0.02,
        // enclosing 0.3 x 0.1 = 0.03: GIoU = -1/3.
        // Prior 2 (background) and 3 (ignored) are far off and must not count.
        let predicted = encoded(
            &[
                [0.4, 0.6, 0.2, 0.2],
                [0.3, 0.6, 0.1, 0.1],
                [0.1, 0.1, 0.05, 0.05],
                [0.9, 0.9, 0.3, 0.05],
            ],
            &prior,
            &device,
        );
        let target = encoded(
            &[
                [0.5, 0.6, 0.2, 0.2],
                [0.5, 0.6, 0.1, 0.1],
                [0.5, 0.5, 0.2, 0.2],
                [0.4, 0.6, 0.2, 0.1],
            ],
            &prior,
            &device,
        );
        let loss = giou_loss(
            predicted,
            target,
            labels(vec![1, 1, 0, -1], &device),
            Variances::default(),
        );
        let expected = ((1.0 - 1.0 / 3.0) + (1.0 + 1.0 / 3.0)) / 2.0;
        let value: f32 = loss.into_scalar();
        assert!(
            (value - expected).abs() < 1e-4,
            "{value} against {expected}"
        );
    }

    #[test]
    fn zero_for_exact_boxes_and_without_faces() {
        let device = Device::flex();
        let prior = CenterSize {
            cx: 0.5,
            cy: 0.5,
            w: 0.1,
            h: 0.1,
        };
        let boxes = [[0.52, 0.47, 0.13, 0.08], [0.3, 0.2, 0.05, 0.2]];
        let same = giou_loss(
            encoded(&boxes, &prior, &device),
            encoded(&boxes, &prior, &device),
            labels(vec![1, 1], &device),
            Variances::default(),
        );
        assert!(same.into_scalar::<f32>().abs() < 1e-5);
        let other = [[0.1, 0.1, 0.3, 0.3], [0.9, 0.9, 0.01, 0.01]];
        let no_face = giou_loss(
            encoded(&boxes, &prior, &device),
            encoded(&other, &prior, &device),
            labels(vec![0, -1], &device),
            Variances::default(),
        );
        assert_eq!(no_face.into_scalar::<f32>(), 0.0);
    }

    #[test]
    fn wild_offsets_stay_finite() {
        let device = Device::flex();
        let offsets = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 1e4, -1e4], [1, 1, 4]),
            &device,
        );
        let loss = giou_loss(
            offsets,
            Tensor::zeros([1, 1, 4], &device),
            labels(vec![1], &device),
            Variances::default(),
        );
        let value: f32 = loss.into_scalar();
        assert!(value.is_finite() && value > 0.0 && value <= 2.0, "{value}");
    }
}
