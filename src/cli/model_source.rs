//! Where the CLI's model comes from: a weights file and an optional input-size override.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::config::Config;
use burn::prelude::*;
use ssdface::default_model::DEFAULT_WEIGHTS;
use ssdface::model::{Ssd, SsdConfig};
use ssdface::weights;

/// Options shared by every command that needs a model.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Weights file (written by `ssdface train` or `ssdface::weights::save_file`).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Network input size as WIDTHxHEIGHT (multiples of 8), overriding the weights' own.
    #[arg(long, value_name = "WxH", value_parser = ssdface::model::parse_size)]
    pub input_size: Option<(usize, usize)>,
}

impl ModelArgs {
    /// Load the model on `device`, with the input-size override applied to its config.
    pub fn load(&self, device: &Device) -> anyhow::Result<(SsdConfig, Ssd)> {
        let (config, model) = match &self.weights {
            Some(path) => weights::load_file(path, device)
                .with_context(|| format!("cannot load weights from {}", path.display()))?,
            None => weights::from_bytes(DEFAULT_WEIGHTS, device)
                .context("cannot load the bundled model")?,
        };
        Ok((self.apply_input_size(config)?, model))
    }

    /// The config with the input-size override, if any, applied and checked.
    pub fn apply_input_size(&self, config: SsdConfig) -> anyhow::Result<SsdConfig> {
        match self.input_size {
            Some((w, h)) => Ok(config.at_input_size(w, h)?),
            None => Ok(config),
        }
    }
}

/// The network config in a JSON file of `SsdConfig` fields (`--model`), not yet validated.
pub fn load_network_config(path: &Path) -> anyhow::Result<SsdConfig> {
    SsdConfig::load(path)
        .map_err(|e| anyhow::anyhow!("{}: not a network config: {e}", path.display()))
}
