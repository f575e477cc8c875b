//! The whole SSD network: backbone, extra layers and heads, with outputs flattened to one row
//! per prior.

use burn::prelude::*;

use super::backbone::Backbone;
use super::config::SsdConfig;
use super::heads::{DetectionHead, ExtraLayer};

/// The SSD face detector network.
#[derive(Module, Debug)]
pub struct Ssd {
    backbone: Backbone,
    extras: Vec<ExtraLayer>,
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
        let heads = tapped
            .chain(extra_outputs)
            .zip(config.priors_per_cell())
            .map(|(channels, priors)| DetectionHead::new(channels, priors, device))
            .collect();
        Self {
            backbone,
            extras,
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
        total
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
