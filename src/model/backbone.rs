//! The backbone: a stride-2 stem and MobileNetV2 inverted residual stages, whose tapped
//! outputs feed the detection heads.

use burn::prelude::*;

use super::config::{SsdConfig, StageConfig};
use super::layers::ConvBn;

/// MobileNetV2's inverted residual block: 1x1 expansion, 3x3 depthwise, linear 1x1 projection,
/// with a skip connection when the shape is kept.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    /// The block with its units' batch norm folded ([`ConvBn::folded`]).
    fn folded(self) -> Self {
        Self {
            expand: self.expand.map(ConvBn::folded),
            depthwise: self.depthwise.folded(),
            project: self.project.folded(),
            residual: self.residual,
        }
    }

    fn new(input: usize, output: usize, expansion: usize, stride: usize, device: &Device) -> Self {
        let hidden = input * expansion;
        Self {
            expand: (expansion != 1).then(|| ConvBn::new([input, hidden], 1, 1, 1, true, device)),
            depthwise: ConvBn::new([hidden, hidden], 3, stride, hidden, true, device),
            project: ConvBn::new([hidden, output], 1, 1, 1, false, device),
            residual: stride == 1 && input == output,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        if let Some(expand) = &self.expand {
            x = expand.forward(x);
        }
        let x = self.project.forward(self.depthwise.forward(x));
        if self.residual { x + input } else { x }
    }

    fn macs(&self, h: usize, w: usize) -> (u64, usize, usize) {
        let expand = self.expand.as_ref().map_or(0, |e| e.macs(h, w).0);
        let (depthwise, oh, ow) = self.depthwise.macs(h, w);
        let (project, _, _) = self.project.macs(oh, ow);
        (expand + depthwise + project, oh, ow)
    }
}

/// A run of inverted residual blocks; `tap` marks a stage whose output feeds a detection head.
#[derive(Module, Debug)]
pub struct Stage {
    blocks: Vec<InvertedResidual>,
    tap: bool,
}

/// The feature extractor: a stride-2 stem and the configured stages.
#[derive(Module, Debug)]
pub struct Backbone {
    stem: ConvBn,
    stages: Vec<Stage>,
}

impl Backbone {
    /// The backbone with every unit's batch norm folded ([`ConvBn::folded`]).
    pub(crate) fn folded(self) -> Self {
        let stages = self.stages.into_iter().map(|stage| Stage {
            blocks: stage
                .blocks
                .into_iter()
                .map(InvertedResidual::folded)
                .collect(),
            tap: stage.tap,
        });
        Self {
            stem: self.stem.folded(),
            stages: stages.collect(),
        }
    }

    pub(crate) fn new(config: &SsdConfig, device: &Device) -> Self {
        let stem_channels = config.scaled(config.stem_channels);
        let stem = ConvBn::new([3, stem_channels], 3, 2, 1, true, device);
        let mut input = stem_channels;
        let stages = config
            .stages
            .iter()
            .map(|stage: &StageConfig| {
                let output = config.scaled(stage.channels);
                let blocks = (0..stage.repeats)
                    .map(|i| {
                        let stride = if i == 0 { stage.stride } else { 1 };
                        let block =
                            InvertedResidual::new(input, output, stage.expansion, stride, device);
                        input = output;
                        block
                    })
                    .collect();
                Stage {
                    blocks,
                    tap: stage.tap,
                }
            })
            .collect();
        Self { stem, stages }
    }

    /// The feature maps of the tapped stages, finest first.
    pub(crate) fn forward(&self, input: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = self.stem.forward(input);
        let mut taps = Vec::new();
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(x);
            }
            if stage.tap {
                taps.push(x.clone());
            }
        }
        taps
    }

    /// Multiply-accumulates for an `h` x `w` input, and the sizes of the tapped feature maps.
    pub(crate) fn macs(&self, h: usize, w: usize) -> (u64, Vec<(usize, usize)>) {
        let (mut total, mut h, mut w) = self.stem.macs(h, w);
        let mut taps = Vec::new();
        for stage in &self.stages {
            for block in &stage.blocks {
                let (macs, oh, ow) = block.macs(h, w);
                (total, h, w) = (total + macs, oh, ow);
            }
            if stage.tap {
                taps.push((h, w));
            }
        }
        (total, taps)
    }
}
