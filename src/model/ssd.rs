//! The whole SSD network: backbone, extra layers and heads, with outputs flattened to one row
//! per prior.

use burn::prelude::*;

use super::backbone::Backbone;
use super::config::SsdConfig;
use super::context::ContextBlock;
use super::heads::{DetectionHead, ExtraLayer};
use super::top_down::TopDown;

/// The SSD face detector network.
#[derive(Module, Debug)]
pub struct Ssd {
    backbone: Backbone,
    extras: Vec<ExtraLayer>,
    /// `top_down[i]` feeds level `i` from level `i + 1`.
    top_down: Vec<TopDown>,
    /// `context[i]` refines level `i` after its top-down path.
    context: Vec<ContextBlock>,
    heads: Vec<DetectionHead>,
}

/// Raw network output for a batch, one row per prior.
#[derive(Debug, Clone)]
pub struct SsdOutput {
    /// Class logits `[batch, priors, 2]` (background, face).
    pub logits: Tensor<3>,
    /// Encoded box offsets `[batch, priors, 4]`.
    pub offsets: Tensor<3>,
}

impl Ssd {
    /// The network for inference: every unit's batch norm folded into its convolution once
    /// ([`ConvBn::folded`](super::ConvBn::folded)), so that no forward pass folds it again. A
    /// folded network detects as before but can be neither trained nor saved.
    pub fn folded(self) -> Self {
        Self {
            backbone: self.backbone.folded(),
            extras: self.extras.into_iter().map(ExtraLayer::folded).collect(),
            top_down: self.top_down,
            context: self.context.into_iter().map(ContextBlock::folded).collect(),
            heads: self.heads,
        }
    }

    /// Build the network described by a (validated) config.
    pub(crate) fn new(config: &SsdConfig, device: &Device) -> Self {
        let backbone = Backbone::new(config, device);
        let tapped = config
            .stages
            .iter()
            .filter(|s| s.tap)
            .map(|s| config.scaled(s.channels));
        let mut input = config
            .stages
            .last()
            .map_or(config.scaled(config.stem_channels), |s| {
                config.scaled(s.channels)
            });
        let extras: Vec<ExtraLayer> = config
            .extra_channels
            .iter()
            .map(|&channels| {
                let output = config.scaled(channels);
                let layer = ExtraLayer::new(input, output, device);
                input = output;
                layer
            })
            .collect();
        let extra_outputs = config.extra_channels.iter().map(|&c| config.scaled(c));
        let level_channels: Vec<usize> = tapped.chain(extra_outputs).collect();
        let top_down = level_channels
            .windows(2)
            .take(config.top_down_levels())
            .map(|pair| TopDown::new(pair[1], pair[0], device))
            .collect();
        let context = level_channels
            .iter()
            .take(config.context_levels())
            .map(|&channels| ContextBlock::new(channels, device))
            .collect();
        let heads = level_channels
            .into_iter()
            .zip(config.priors_per_cell())
            .map(|(channels, priors)| DetectionHead::new(channels, priors, device))
            .collect();
        Self {
            backbone,
            extras,
            top_down,
            context,
            heads,
        }
    }

    /// Run the network on normalised images `[batch, 3, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> SsdOutput {
        let mut features = self.backbone.forward(images);
        let mut x = features
            .last()
            .cloned()
            .expect("a validated config taps at least one stage");
        for extra in &self.extras {
            x = extra.forward(x);
            features.push(x.clone());
        }
        // Coarsest first, so that a level passes on what it received from above.
        for (level, path) in self.top_down.iter().enumerate().rev() {
            features[level] = path.forward(features[level].clone(), features[level + 1].clone());
        }
        for (level, block) in self.context.iter().enumerate() {
            features[level] = block.forward(features[level].clone());
        }
        let (logits, offsets): (Vec<_>, Vec<_>) = features
            .into_iter()
            .zip(&self.heads)
            .map(|(f, head)| head.forward(f))
            .unzip();
        SsdOutput {
            logits: Tensor::cat(logits, 1),
            offsets: Tensor::cat(offsets, 1),
        }
    }

    /// Multiply-accumulates of one forward pass on a `width` x `height` image.
    pub fn macs(&self, width: usize, height: usize) -> u64 {
        let (mut total, mut sizes) = self.backbone.macs(height, width);
        let (mut h, mut w) = *sizes.last().expect("a validated config taps a stage");
        for extra in &self.extras {
            let (macs, oh, ow) = extra.macs(h, w);
            (total, h, w) = (total + macs, oh, ow);
            sizes.push((h, w));
        }
        let top_down: u64 = self
            .top_down
            .iter()
            .zip(&sizes[1..])
            .map(|(path, &(h, w))| path.macs(h, w))
            .sum();
        let context: u64 = self
            .context
            .iter()
            .zip(&sizes)
            .map(|(block, &(h, w))| block.macs(h, w))
            .sum();
        total
            + top_down
            + context
            + sizes
                .iter()
                .zip(&self.heads)
                .map(|(&(h, w), head)| head.macs(h, w))
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::Distribution;

    #[test]
    fn priors_match_head_rows_for_several_input_sizes() {
        let device = Device::flex();
        for (w, h) in [(320, 240), (640, 480), (160, 120), (256, 256), (200, 328)] {
            let config = SsdConfig::new().at_input_size(w, h).unwrap();
            let model = config.init(&device).unwrap();
            let out = model.forward(Tensor::zeros([2, 3, h, w], &device));
            let priors = config.priors().len();
            assert_eq!(out.logits.dims(), [2, priors, 2], "logits at {w}x{h}");
            assert_eq!(out.offsets.dims(), [2, priors, 4], "offsets at {w}x{h}");
        }
    }

    struct AddToEveryWeight(f32);

    impl ModuleMapper for AddToEveryWeight {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let add = self.0;
            p.map(|t| t + add)
        }
    }

    /// Grows `plain` into `grown` with the plain model's weights: the grown network must detect
    /// exactly as the plain one, and once `nudge` moves its new parts, the rows of the
    /// `changed` finest levels must change and no other.
    fn check_growth(grown: SsdConfig, nudge: impl Fn(&mut Ssd), changed: usize) {
        let device = Device::flex();
        let (w, h) = (200, 328); // odd coarse sides: 25x41 -> 13x21 -> 7x11
        let plain = SsdConfig::new().at_input_size(w, h).unwrap();
        let grown = grown.at_input_size(w, h).unwrap();
        let model = plain.init(&device).unwrap();
        let record = model.clone().into_record();
        let mut with_growth = grown
            .init(&device)
            .unwrap()
            .try_load_record(record.allow_partial(true))
            .unwrap();
        let input = Tensor::random([1, 3, h, w], Distribution::Uniform(-1.0, 1.0), &device);
        let before = model.forward(input.clone());
        let after = with_growth.forward(input.clone());
        assert_eq!(after.logits.dims(), before.logits.dims());
        let same = |a: Tensor<3>, b: Tensor<3>| -> f32 { (a - b).abs().max().into_scalar() };
        assert_eq!(same(before.logits.clone(), after.logits), 0.0);

        nudge(&mut with_growth);
        let moved = with_growth.forward(input).logits;
        let levels = plain.feature_sizes();
        let per_cell = plain.priors_per_cell();
        let fine_rows: usize = (0..changed)
            .map(|i| levels[i].0 * levels[i].1 * per_cell[i])
            .sum();
        let rows = before.logits.dims()[1];
        let fine = same(
            before.logits.clone().narrow(1, 0, fine_rows),
            moved.clone().narrow(1, 0, fine_rows),
        );
        let coarse = same(
            before.logits.narrow(1, fine_rows, rows - fine_rows),
            moved.narrow(1, fine_rows, rows - fine_rows),
        );
        assert!(fine > 0.0, "the grown levels did not change");
        assert_eq!(coarse, 0.0, "a level that did not grow changed");
    }

    #[test]
    fn top_down_paths_start_at_zero_and_then_change_the_finer_levels() {
        let grown = SsdConfig::new().with_top_down_levels(Some(2));
        check_growth(
            grown,
            |model| {
                assert_eq!(model.top_down.len(), 2);
                for path in &mut model.top_down {
                    *path = path.clone().map(&mut AddToEveryWeight(0.01));
                }
            },
            2,
        );
    }

    #[test]
    fn context_blocks_start_at_zero_and_then_change_their_levels() {
        let grown = SsdConfig::new().with_context_levels(Some(1));
        check_growth(
            grown,
            |model| {
                assert_eq!(model.context.len(), 1);
                for block in &mut model.context {
                    *block = block.clone().map(&mut AddToEveryWeight(0.01));
                }
            },
            1,
        );
    }

    #[test]
    fn default_network_stays_under_one_million_parameters() {
        let model = SsdConfig::new().init(&Device::flex()).unwrap();
        let params = model.num_params();
        assert!(params <= 1_000_000, "{params} parameters");
        assert!(
            params > 100_000,
            "{params} parameters: too small to be the SSD"
        );
    }
}
