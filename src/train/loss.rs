//! The training loss, whole: the MultiBox loss (smooth-L1 on the offsets of face priors, times
//! a weight, plus cross-entropy on face priors and the hardest background priors: 3 per face
//! prior; in an image without faces, 3 per face prior of the batch's average image; both
//! divided by the number of face priors), and the generalised-IoU term of the box part when it
//! is weighted. Ignored priors (label -1) count neither way.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::overlap::giou_loss;
use crate::boxes::Variances;
use crate::model::SsdOutput;

/// How the training loss weighs its parts (from the run's `TrainConfig`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    /// Mined background priors per face prior.
    pub negatives_per_positive: usize,
    /// Weight of the box regression part against the classification part.
    pub location: f32,
    /// Weight of the generalised-IoU term within the box regression part (0: left out).
    pub giou: f32,
}

/// The training loss of the network's `output`: [`multibox_loss`], plus the generalised-IoU
/// term ([`giou_loss`] of the boxes the offsets encode, with the codec's `variances`) within
/// the box regression part when it is weighted.
pub fn detection_loss(
    output: SsdOutput,
    labels: Tensor<2, Int>,
    target_offsets: Tensor<3>,
    weights: LossWeights,
    variances: Variances,
) -> LossParts {
    // Skipped at weight 0: it decodes the predicted and the target box of every prior.
    let giou = (weights.giou > 0.0).then(|| {
        giou_loss(
            output.offsets.clone(),
            target_offsets.clone(),
            labels.clone(),
            variances,
        ) * weights.giou
    });
    let mut parts = multibox_loss(
        output.logits,
        output.offsets,
        labels,
        target_offsets,
        weights.negatives_per_positive,
        weights.location,
    );
    if let Some(giou) = giou {
        parts.total = parts.total + giou.clone() * weights.location;
        parts.location = parts.location + giou;
    }
    parts
}

/// The loss and its two parts, each a one-element tensor.
#[derive(Debug, Clone)]
pub struct LossParts {
    /// `location_weight x location + confidence`: what is minimised.
    pub total: Tensor<1>,
    /// Smooth-L1 box regression on face priors (plus the weighted generalised-IoU term in
    /// [`detection_loss`]).
    pub location: Tensor<1>,
    /// Cross-entropy on face priors and mined background priors.
    pub confidence: Tensor<1>,
}

/// MultiBox loss of a batch.
///
/// - `logits`: `[batch, priors, 2]`, `offsets`: `[batch, priors, 4]` (network output);
/// - `labels`: `[batch, priors]`, 1 for a prior matched to a face, 0 for background, -1 for a
///   prior to ignore (it matches an ignored face): it is never a positive, never mined as a
///   negative, and adds nothing to the loss;
/// - `target_offsets`: `[batch, priors, 4]`, the encoded boxes (used where `labels` is 1);
/// - `location_weight`: the box regression's share of the total against the classification's.
///
/// Hard-negative mining ranks each image's background priors by their background
/// cross-entropy and keeps the `negatives_per_positive` x (face priors) worst ones; the
/// ranking carries no gradient. An image without face priors (a synthetic negative, a crop
/// without faces) keeps as many as the batch's images have on average (rounded up): with none,
/// it would teach nothing, and face-free images are where the network learns that walls and
/// noise are not faces.
pub fn multibox_loss(
    logits: Tensor<3>,
    offsets: Tensor<3>,
    labels: Tensor<2, Int>,
    target_offsets: Tensor<3>,
    negatives_per_positive: usize,
    location_weight: f32,
) -> LossParts {
    let [batch, priors, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    let positive = labels.clone().equal_elem(1);
    let background = labels.equal_elem(0);

    let background_loss = log_probs
        .clone()
        .detach()
        .narrow(2, 0, 1)
        .reshape([batch, priors])
        .neg()
        // Cross-entropy is never negative: -1 ranks every face and ignored prior after every
        // background one.
        .mask_fill(background.clone().bool_not(), -1.0);
    // Counts and ranks in f32 (exact far beyond any prior count) to stay clear of the
    // backends' differing integer dtypes.
    let rank = background_loss.argsort_descending(1).argsort(1).float();
    let face = positive.clone().float();
    let positives = face.clone().sum_dim(1);
    let backgrounds = background.float().sum_dim(1);
    let average_positives = positives.clone().mean().reshape([1, 1]).expand([batch, 1]);
    let face_free = positives.clone().equal_elem(0.0).float();
    let wanted =
        (positives.clone() + face_free * average_positives) * negatives_per_positive as f32;
    let negatives = wanted.min_pair(backgrounds);
    let negative = rank.lower(negatives.expand([batch, priors]));
    let selected = positive.bool_or(negative).float();

    let normaliser = positives.sum().clamp_min(1.0);
    // Two classes: the cross-entropy is -log p(face) on faces and -log p(background) elsewhere.
    let class_log_prob = |class: usize| {
        log_probs
            .clone()
            .narrow(2, class, 1)
            .reshape([batch, priors])
    };
    let cross_entropy =
        (class_log_prob(1) * face.clone() + class_log_prob(0) * (face.clone().neg() + 1.0)).neg();
    let confidence = (cross_entropy * selected).sum() / normaliser.clone();

    let difference = (offsets - target_offsets).abs();
    let smooth_l1 = difference
        .clone()
        .lower_elem(1.0)
        .float()
        .mul(difference.clone().powi_scalar(2) * 0.5 - difference.clone() + 0.5)
        + difference
        - 0.5;
    let location = (smooth_l1.sum_dim(2).reshape([batch, priors]) * face).sum() / normaliser;

    LossParts {
        total: location.clone() * location_weight + confidence.clone(),
        location,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    /// Cross-entropy of class `label` for logits `(l0, l1)`.
    fn ce(l0: f32, l1: f32, label: usize) -> f32 {
        let log_sum = (l0.exp() + l1.exp()).ln();
        log_sum - [l0, l1][label]
    }

    #[test]
    fn hand_computed_loss_with_three_to_one_mining() {
        let device = Device::flex();
        // One image, six priors; prior 1 is a face. Background priors 0, 2..5 have face logits
        // 0.5, 2.0, -1.0, 1.5, 0.0: the three hardest (highest background loss) are priors
        // 2 (2.0), 4 (1.5) and 0 (0.5).
        let face_logits = [0.5, 1.0, 2.0, -1.0, 1.5, 0.0];
        let logits: Vec<f32> = face_logits.iter().flat_map(|&f| [0.0, f]).collect();
        let logits = Tensor::<3>::from_data(TensorData::new(logits, [1, 6, 2]), &device);
        let labels = Tensor::<2, Int>::from_data(
            TensorData::new(vec![0i64, 1, 0, 0, 0, 0], [1, 6]),
            &device,
        );
        let mut predicted = vec![0.0f32; 24];
        predicted[4..8].copy_from_slice(&[0.5, -2.0, 0.1, 0.0]);
        let mut targets = vec![9.0f32; 24]; // background targets are ignored
        targets[4..8].copy_from_slice(&[0.0, 0.0, 0.0, 0.0]);
        let offsets = Tensor::<3>::from_data(TensorData::new(predicted, [1, 6, 4]), &device);
        let targets = Tensor::<3>::from_data(TensorData::new(targets, [1, 6, 4]), &device);

        let loss = multibox_loss(logits, offsets, labels, targets, 3, 2.0);

        // smooth-L1: 0.5 * 0.25 + (2 - 0.5) + 0.5 * 0.01 + 0 = 1.63, over 1 positive.
        let location = value(loss.location);
        assert!((location - 1.63).abs() < 1e-5, "location {location}");
        let expected = ce(0.0, 1.0, 1) + ce(0.0, 2.0, 0) + ce(0.0, 1.5, 0) + ce(0.0, 0.5, 0);
        let confidence = value(loss.confidence);
        assert!(
            (confidence - expected).abs() < 1e-5,
            "confidence {confidence} vs {expected}"
        );
        assert!((value(loss.total) - (2.0 * 1.63 + expected)).abs() < 1e-4);
    }

    #[test]
    fn mining_is_per_image_capped_by_the_background_count_and_covers_face_free_images() {
        let device = Device::flex();
        // Image 0: 1 face prior of 3 -> 2 negatives available (3 wanted). Image 1: no face ->
        // 3 x the batch's 0.5 face priors per image = 1.5, rounded up: 2 negatives.
        // Normaliser: 1 face prior in the batch.
        let logits = Tensor::<3>::zeros([2, 3, 2], &device);
        let labels = Tensor::<2, Int>::from_data(
            TensorData::new(vec![1i64, 0, 0, 0, 0, 0], [2, 3]),
            &device,
        );
        let zeros = Tensor::<3>::zeros([2, 3, 4], &device);
        let loss = multibox_loss(logits, zeros.clone(), labels, zeros, 3, 1.0);
        let confidence = value(loss.confidence);
        assert!((confidence - 5.0 * 2f32.ln()).abs() < 1e-5, "{confidence}");
        assert_eq!(value(loss.location), 0.0);
    }

    #[test]
    fn a_face_free_image_contributes_its_hardest_background_priors() {
        let device = Device::flex();
        // Image 0: 2 face priors of 8 (6 background, 6 wanted). Image 1: no face, 8 background
        // priors with face logits 0..7 -> 3 x 1 = 3 negatives: the three highest (5, 6, 7).
        let mut values = vec![0f32; 2 * 8 * 2];
        for prior in 0..8 {
            values[(8 + prior) * 2 + 1] = prior as f32;
        }
        let logits = Tensor::<3>::from_data(TensorData::new(values, [2, 8, 2]), &device);
        let mut labels = vec![0i64; 16];
        labels[0] = 1;
        labels[1] = 1;
        let labels = Tensor::<2, Int>::from_data(TensorData::new(labels, [2, 8]), &device);
        let zeros = Tensor::<3>::zeros([2, 8, 4], &device);
        let loss = multibox_loss(logits, zeros.clone(), labels, zeros, 3, 1.0);
        // Image 0: all 8 priors selected at logits (0, 0): 8 ln 2. Image 1: -log p(background)
        // for face logits 5, 6 and 7. Normaliser: 2 face priors.
        let expected =
            (8.0 * 2f32.ln() + ce(0.0, 5.0, 0) + ce(0.0, 6.0, 0) + ce(0.0, 7.0, 0)) / 2.0;
        let confidence = value(loss.confidence);
        assert!(
            (confidence - expected).abs() < 1e-4,
            "{confidence} against {expected}"
        );
    }

    #[test]
    fn ignored_priors_are_neither_faces_nor_mined_negatives() {
        let device = Device::flex();
        // Priors 0..4; prior 1 is a face. Background priors 0, 2 and 4 have face logits 0.5,
        // -1.0 and 0.0; prior 3 has the highest face logit (3.0): mined first were it
        // background, but it is ignored. With 3 negatives wanted and only 3 background priors,
        // mining takes 0, 2 and 4, never 3.
        let face_logits = [0.5, 1.0, -1.0, 3.0, 0.0];
        let logits: Vec<f32> = face_logits.iter().flat_map(|&f| [0.0, f]).collect();
        let logits = Tensor::<3>::from_data(TensorData::new(logits, [1, 5, 2]), &device);
        let labels =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1, 0, -1, 0], [1, 5]), &device);
        let mut targets = vec![0.0f32; 20];
        targets[12..16].copy_from_slice(&[5.0, 5.0, 5.0, 5.0]); // on the ignored prior
        let offsets = Tensor::<3>::zeros([1, 5, 4], &device);
        let targets = Tensor::<3>::from_data(TensorData::new(targets, [1, 5, 4]), &device);

        let loss = multibox_loss(logits, offsets, labels, targets, 3, 1.0);

        let expected = ce(0.0, 1.0, 1) + ce(0.0, 0.5, 0) + ce(0.0, -1.0, 0) + ce(0.0, 0.0, 0);
        let confidence = value(loss.confidence);
        assert!(
            (confidence - expected).abs() < 1e-5,
            "confidence {confidence} vs {expected}"
        );
        assert_eq!(
            value(loss.location),
            0.0,
            "the ignored prior's box is not regressed"
        );

        // With one negative wanted, the hardest background prior (0, logit 0.5) is mined, not
        // the ignored one.
        let logits: Vec<f32> = face_logits.iter().flat_map(|&f| [0.0, f]).collect();
        let loss = multibox_loss(
            Tensor::<3>::from_data(TensorData::new(logits, [1, 5, 2]), &device),
            Tensor::<3>::zeros([1, 5, 4], &device),
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1, 0, -1, 0], [1, 5]), &device),
            Tensor::<3>::zeros([1, 5, 4], &device),
            1,
            1.0,
        );
        let expected = ce(0.0, 1.0, 1) + ce(0.0, 0.5, 0);
        let confidence = value(loss.confidence);
        assert!(
            (confidence - expected).abs() < 1e-5,
            "confidence {confidence} vs {expected}"
        );
    }
}
