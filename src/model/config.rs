//! `SsdConfig`: input size, architecture, priors and box codec in one validated config, saved
//! inside every weights file.

use burn::prelude::*;

use super::Ssd;
use crate::boxes::{CenterSize, PriorLevel, Variances, generate_priors};

/// The finest detection level's stride; input sides must be multiples of it so that its cells
/// tile the input exactly.
pub const INPUT_STRIDE: usize = 8;

/// Smallest input side the network accepts: below it the coarsest level has no room left.
pub const MIN_INPUT_SIDE: usize = 32;

/// Largest input side the network accepts: 4096x4096 already means 0.7 M priors and about
/// 28 G multiply-adds per image; larger inputs would exhaust memory before detecting anything.
pub const MAX_INPUT_SIDE: usize = 4096;

/// A size written `WIDTHxHEIGHT` (like `320x240`), as the command line and the benchmarks
/// take it; the config checks whether the network accepts it.
pub fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, like 320x240, got {text:?}"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("{s:?} is not a whole number of pixels"))
    };
    Ok((parse(w)?, parse(h)?))
}

/// One stage of inverted residual blocks (MobileNetV2's `t, c, n, s` table row).
#[derive(Config, Debug, PartialEq)]
pub struct StageConfig {
    /// Expansion factor of the hidden layer (`t`).
    pub expansion: usize,
    /// Output channels before the width multiplier (`c`).
    pub channels: usize,
    /// Number of blocks (`n`).
    pub repeats: usize,
    /// Stride of the first block (`s`).
    pub stride: usize,
    /// Whether this stage's output feeds a detection head.
    #[config(default = false)]
    pub tap: bool,
}

/// Everything that defines the detector: input size, architecture, priors and the box codec.
///
/// It is saved inside every weights file, so weights always come with the network they fit.
#[derive(Config, Debug, PartialEq)]
pub struct SsdConfig {
    /// Network input width in pixels (a multiple of 8).
    #[config(default = 320)]
    pub input_width: usize,
    /// Network input height in pixels (a multiple of 8).
    #[config(default = 240)]
    pub input_height: usize,
    /// Channel width multiplier applied to the stem, stages and extra layers.
    #[config(default = 0.5)]
    pub width_multiplier: f64,
    /// Channels of the stride-2 stem convolution (before the multiplier).
    #[config(default = 32)]
    pub stem_channels: usize,
    /// The inverted residual stages, in order.
    #[config(default = "default_stages()")]
    pub stages: Vec<StageConfig>,
    /// Output channels of each extra stride-2 layer after the backbone (before the multiplier);
    /// each adds a detection level for large faces.
    #[config(default = "vec![384]")]
    pub extra_channels: Vec<usize>,
    /// How many of the finest detection levels add the next coarser level's features (a
    /// feature pyramid's top-down path): context for small faces. Absent, as in weights saved
    /// before it existed, means none.
    pub top_down_levels: Option<usize>,
    /// How many of the finest detection levels pass through a context block (an inverted
    /// residual) before their heads. Absent, as in weights saved before it existed, means none.
    pub context_levels: Option<usize>,
    /// Prior side lengths in input pixels, one list per detection level (finest first).
    #[config(default = "default_min_sizes()")]
    pub min_sizes: Vec<Vec<f32>>,
    /// Width/height ratios of the priors, applied to every min size.
    #[config(default = "vec![1.0]")]
    pub aspect_ratios: Vec<f32>,
    /// Variances of the box codec (`[0.1, 0.1, 0.2, 0.2]`).
    #[config(default = "Variances::default()")]
    pub variances: Variances,
    /// Subtracted from every 0..255 pixel value before scaling.
    #[config(default = 127.0)]
    pub pixel_mean: f32,
    /// Divides every pixel value after the mean is subtracted.
    #[config(default = 128.0)]
    pub pixel_std: f32,
}

fn default_stages() -> Vec<StageConfig> {
    vec![
        StageConfig::new(1, 32, 1, 1),
        StageConfig::new(4, 48, 1, 2),
        StageConfig::new(4, 64, 2, 2).with_tap(true),
        StageConfig::new(6, 128, 3, 2),
        StageConfig::new(6, 192, 1, 1).with_tap(true),
        StageConfig::new(6, 320, 1, 2).with_tap(true),
    ]
}

fn default_min_sizes() -> Vec<Vec<f32>> {
    vec![
        vec![10.0, 16.0, 24.0],
        vec![32.0, 48.0],
        vec![64.0, 96.0],
        vec![128.0, 192.0, 256.0],
    ]
}

/// A configuration that cannot describe a working network.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// An input side that the network cannot take.
    #[error(
        "input size {width}x{height} is not supported: both sides must be multiples of \
         {INPUT_STRIDE} from {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels"
    )]
    InputSize {
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
    },
    /// The prior table does not match the number of detection levels.
    #[error(
        "the network has {levels} detection levels ({taps} tapped stages + {extras} extra \
         layers) but min_sizes lists {min_sizes}"
    )]
    Levels {
        /// Detection levels of the architecture.
        levels: usize,
        /// Tapped backbone stages.
        taps: usize,
        /// Extra layers.
        extras: usize,
        /// Entries in `min_sizes`.
        min_sizes: usize,
    },
    /// A level or aspect-ratio list that would give no priors.
    #[error("every detection level needs at least one min size and one aspect ratio")]
    EmptyPriors,
    /// No backbone stage feeds a detection head.
    #[error("at least one backbone stage must be tapped for detection (\"tap\": true)")]
    NoTappedStage,
    /// A multiplier or size that would build no network.
    #[error("{0} must be positive and finite")]
    NotPositive(&'static str),
    /// A size or count that would build no network or one too large to allocate.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

/// A setting outside the range it must be in, named as in the config file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} must be {range}, got {value}")]
pub struct OutOfRange {
    /// The setting.
    pub field: String,
    /// What it must be.
    pub range: &'static str,
    /// What it is.
    pub value: String,
}

/// `Ok` when `ok`, else the [`OutOfRange`] error naming `field`, its `range` and `value`:
/// the one check behind every config's validation.
pub(crate) fn ensure(
    field: impl Into<String>,
    range: &'static str,
    value: impl std::fmt::Display,
    ok: bool,
) -> Result<(), OutOfRange> {
    if ok {
        Ok(())
    } else {
        Err(OutOfRange {
            field: field.into(),
            range,
            value: value.to_string(),
        })
    }
}

/// The most channels a layer may have before the width multiplier.
const MAX_CHANNELS: usize = 2048;
/// The most stages, blocks per stage, extra layers and expansion a config may ask for.
const MAX_COUNT: usize = 16;
/// The most weights a config may describe: 200 times the default network's, far beyond any
/// face detector this crate is for, and well inside memory.
const MAX_PARAMETERS: f64 = 1e8;

impl SsdConfig {
    /// Check that the configuration describes a working network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let side_ok = |s: usize| {
            (MIN_INPUT_SIDE..=MAX_INPUT_SIDE).contains(&s) && s.is_multiple_of(INPUT_STRIDE)
        };
        if !side_ok(self.input_width) || !side_ok(self.input_height) {
            return Err(ConfigError::InputSize {
                width: self.input_width,
                height: self.input_height,
            });
        }
        let taps = self.stages.iter().filter(|s| s.tap).count();
        if taps == 0 {
            return Err(ConfigError::NoTappedStage);
        }
        if !(self.width_multiplier.is_finite() && self.width_multiplier > 0.0) {
            return Err(ConfigError::NotPositive("width_multiplier"));
        }
        self.validate_sizes()?;
        let extras = self.extra_channels.len();
        if taps + extras != self.min_sizes.len() {
            return Err(ConfigError::Levels {
                levels: taps + extras,
                taps,
                extras,
                min_sizes: self.min_sizes.len(),
            });
        }
        if self.aspect_ratios.is_empty() || self.min_sizes.iter().any(Vec::is_empty) {
            return Err(ConfigError::EmptyPriors);
        }
        let top_down = self.top_down_levels();
        ensure(
            "top_down_levels",
            "fewer than the detection levels",
            top_down,
            top_down < taps + extras,
        )?;
        let context = self.context_levels();
        ensure(
            "context_levels",
            "at most the detection levels",
            context,
            context <= taps + extras,
        )?;
        Ok(())
    }

    /// Bounds on every size and count, so that a config (from a weights file, say) cannot ask
    /// for a network that has no channels or that would not fit in memory.
    fn validate_sizes(&self) -> Result<(), ConfigError> {
        let counted = |v: usize| (1..=MAX_COUNT).contains(&v);
        let channels = |v: usize| (1..=MAX_CHANNELS).contains(&v);
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let multiplier = self.width_multiplier;
        ensure(
            "width_multiplier",
            "at most 4",
            multiplier,
            multiplier <= 4.0,
        )?;
        let stem = self.stem_channels;
        ensure("stem_channels", "1 to 2048", stem, channels(stem))?;
        let stages = self.stages.len();
        ensure("stages", "1 to 16 stages", stages, counted(stages))?;
        for (i, stage) in self.stages.iter().enumerate() {
            let field = |name: &str| format!("stages[{i}].{name}");
            let t = stage.expansion;
            ensure(field("expansion"), "1 to 16", t, counted(t))?;
            let c = stage.channels;
            ensure(field("channels"), "1 to 2048", c, channels(c))?;
            let n = stage.repeats;
            ensure(field("repeats"), "1 to 16", n, counted(n))?;
            let s = stage.stride;
            ensure(field("stride"), "1 or 2", s, s == 1 || s == 2)?;
        }
        let extras = self.extra_channels.len();
        ensure(
            "extra_channels",
            "at most 16 layers",
            extras,
            extras <= MAX_COUNT,
        )?;
        for (i, &c) in self.extra_channels.iter().enumerate() {
            ensure(format!("extra_channels[{i}]"), "1 to 2048", c, channels(c))?;
        }
        for (i, sizes) in self.min_sizes.iter().enumerate() {
            let ok = sizes.len() <= MAX_COUNT && sizes.iter().all(|&v| positive(v));
            ensure(
                format!("min_sizes[{i}]"),
                "up to 16 positive sizes",
                format!("{sizes:?}"),
                ok,
            )?;
        }
        let ratios = &self.aspect_ratios;
        let ok = ratios.len() <= MAX_COUNT && ratios.iter().all(|&v| positive(v));
        ensure(
            "aspect_ratios",
            "up to 16 positive ratios",
            format!("{ratios:?}"),
            ok,
        )?;
        let v = self.variances;
        let ok = positive(v.center) && positive(v.size);
        ensure("variances", "positive", format!("{v:?}"), ok)?;
        let (mean, std) = (self.pixel_mean, self.pixel_std);
        ensure("pixel_mean", "finite", mean, mean.is_finite())?;
        ensure("pixel_std", "positive", std, positive(std))?;
        let weights = self.convolution_weights();
        ensure(
            "the network",
            "at most 100 M weights",
            format!("{weights:.3e} weights"),
            weights <= MAX_PARAMETERS,
        )?;
        Ok(())
    }

    /// The convolution weights of the backbone and extra layers (the bulk of the parameters),
    /// counted from the config alone so that an absurd one is refused before it is built.
    fn convolution_weights(&self) -> f64 {
        let mut input = self.scaled(self.stem_channels) as f64;
        let mut total = 27.0 * input;
        for stage in &self.stages {
            let output = self.scaled(stage.channels) as f64;
            for _ in 0..stage.repeats {
                let hidden = input * stage.expansion as f64;
                total += input * hidden + 9.0 * hidden + hidden * output;
                input = output;
            }
        }
        for &channels in &self.extra_channels {
            let output = self.scaled(channels) as f64;
            let hidden = (output / 4.0).max(8.0);
            total += input * hidden + 9.0 * hidden + hidden * output;
            input = output;
        }
        total
    }

    /// The same network at another input size (weights fit any size the config allows).
    pub fn at_input_size(&self, width: usize, height: usize) -> Result<Self, ConfigError> {
        let config = self
            .clone()
            .with_input_width(width)
            .with_input_height(height);
        config.validate()?;
        Ok(config)
    }

    /// Channels after the width multiplier, rounded to a multiple of 8 as in MobileNetV2
    /// (never dropping more than 10 % below the scaled value).
    pub fn scaled(&self, channels: usize) -> usize {
        let target = channels as f64 * self.width_multiplier;
        let rounded = (((target + 4.0) / 8.0).floor() as usize * 8).max(8);
        if (rounded as f64) < 0.9 * target {
            rounded + 8
        } else {
            rounded
        }
    }

    /// Feature-map sizes `(width, height)` of the detection levels, finest first.
    ///
    /// Every stride-2 layer pads by half its kernel, so a side of `n` cells becomes
    /// `ceil(n / 2)`.
    pub fn feature_sizes(&self) -> Vec<(usize, usize)> {
        let halve =
            |(w, h): (usize, usize), stride: usize| (w.div_ceil(stride), h.div_ceil(stride));
        let mut size = halve((self.input_width, self.input_height), 2);
        let mut levels = Vec::new();
        for stage in &self.stages {
            size = halve(size, stage.stride);
            if stage.tap {
                levels.push(size);
            }
        }
        for _ in &self.extra_channels {
            size = halve(size, 2);
            levels.push(size);
        }
        levels
    }

    /// How many of the finest levels take the top-down path (0 when the config has none).
    pub fn top_down_levels(&self) -> usize {
        self.top_down_levels.unwrap_or(0)
    }

    /// How many of the finest levels pass through a context block (0 when the config has none).
    pub fn context_levels(&self) -> usize {
        self.context_levels.unwrap_or(0)
    }

    /// Priors per feature-map cell, per level.
    pub fn priors_per_cell(&self) -> Vec<usize> {
        self.min_sizes
            .iter()
            .map(|sizes| sizes.len() * self.aspect_ratios.len())
            .collect()
    }

    /// All priors, normalised to the input, in the order the heads emit their rows.
    pub fn priors(&self) -> Vec<CenterSize> {
        let levels: Vec<PriorLevel> = self
            .feature_sizes()
            .into_iter()
            .zip(&self.min_sizes)
            .map(|((feature_width, feature_height), sizes)| PriorLevel {
                feature_width,
                feature_height,
                min_sizes: sizes.clone(),
            })
            .collect();
        generate_priors(
            &levels,
            self.input_width,
            self.input_height,
            &self.aspect_ratios,
        )
    }

    /// A freshly initialised network for this configuration.
    pub fn init(&self, device: &Device) -> Result<Ssd, ConfigError> {
        self.validate()?;
        Ok(Ssd::new(self, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert_eq!(parse_size("640X480"), Ok((640, 480)));
        assert!(parse_size("640").is_err());
        assert!(parse_size("ax480").is_err());
    }

    #[test]
    fn default_config_is_valid_and_has_four_levels() {
        let config = SsdConfig::new();
        config.validate().unwrap();
        assert_eq!(
            config.feature_sizes(),
            vec![(40, 30), (20, 15), (10, 8), (5, 4)]
        );
        // 40*30*3 + 20*15*2 + 10*8*2 + 5*4*3
        assert_eq!(config.priors().len(), 4420);
    }

    #[test]
    fn rejects_unsupported_input_sizes() {
        let config = SsdConfig::new();
        assert!(config.at_input_size(640, 480).is_ok());
        assert_eq!(
            config.at_input_size(322, 240),
            Err(ConfigError::InputSize {
                width: 322,
                height: 240
            })
        );
        assert!(config.at_input_size(16, 16).is_err());
        // Sizes that would exhaust memory are refused before any allocation.
        let error = config.at_input_size(100_000, 100_000).unwrap_err();
        assert!(error.to_string().contains("to 4096 pixels"), "{error}");
        assert!(config.at_input_size(4096, 4096).is_ok());
        assert!(config.at_input_size(4104, 480).is_err());
    }

    #[test]
    fn rejects_a_network_without_a_tapped_stage() {
        let mut config = SsdConfig::new();
        for stage in &mut config.stages {
            stage.tap = false;
        }
        // Keep the prior table the length of the remaining levels, so only the tap rule fails.
        config.min_sizes.truncate(config.extra_channels.len());
        assert_eq!(config.validate(), Err(ConfigError::NoTappedStage));
        assert!(config.init(&Device::flex()).is_err());
        assert_eq!(
            SsdConfig::new().with_width_multiplier(f64::NAN).validate(),
            Err(ConfigError::NotPositive("width_multiplier"))
        );
    }

    #[test]
    fn rejects_sizes_that_build_nothing_or_too_much() {
        let with_stage = |change: fn(&mut StageConfig)| {
            let mut config = SsdConfig::new();
            change(&mut config.stages[1]);
            config.validate().unwrap_err().to_string()
        };
        assert!(with_stage(|s| s.stride = 0).starts_with("stages[1].stride must be 1 or 2"));
        assert!(with_stage(|s| s.expansion = 0).starts_with("stages[1].expansion"));
        assert!(with_stage(|s| s.channels = 0).starts_with("stages[1].channels"));
        let error = SsdConfig::new().with_pixel_std(0.0).validate().unwrap_err();
        assert!(error.to_string().starts_with("pixel_std"), "{error}");
        // Every size in range, but together far too many weights.
        let mut config = SsdConfig::new().with_width_multiplier(4.0);
        for stage in &mut config.stages {
            (stage.channels, stage.expansion, stage.repeats) = (2048, 16, 16);
        }
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.starts_with("the network must be at most 100 M weights"),
            "{error}"
        );
        // The default network is far inside the bound.
        assert!(SsdConfig::new().convolution_weights() < 1e6);
    }

    #[test]
    fn rejects_a_prior_table_of_the_wrong_length() {
        let config = SsdConfig::new().with_min_sizes(vec![vec![16.0]; 3]);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Levels {
                levels: 4,
                min_sizes: 3,
                ..
            })
        ));
    }

    #[test]
    fn the_top_down_path_needs_a_coarser_level_above_each_of_its_levels() {
        let config = SsdConfig::new();
        assert_eq!(config.top_down_levels(), 0);
        config
            .clone()
            .with_top_down_levels(Some(3))
            .validate()
            .unwrap();
        let error = config
            .with_top_down_levels(Some(4))
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "top_down_levels must be fewer than the detection levels, got 4"
        );
    }

    #[test]
    fn context_blocks_fit_at_most_every_level() {
        let config = SsdConfig::new();
        assert_eq!(config.context_levels(), 0);
        config
            .clone()
            .with_context_levels(Some(4))
            .validate()
            .unwrap();
        let error = config
            .with_context_levels(Some(5))
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "context_levels must be at most the detection levels, got 5"
        );
    }

    #[test]
    fn width_multiplier_rounds_to_multiples_of_eight() {
        let config = SsdConfig::new();
        assert_eq!(config.scaled(32), 16);
        assert_eq!(config.scaled(48), 24);
        assert_eq!(config.scaled(192), 96);
        assert_eq!(config.scaled(8), 8);
    }
}
