//! `ssdface info`: what the model is and what it costs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use burn::module::Module;
use burn::prelude::*;

use super::model_source::{ModelArgs, load_network_config};

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Describe the network of this JSON file of `SsdConfig` fields instead (randomly
    /// initialised: for planning a network to train with `ssdface train --model`).
    #[arg(long = "model", value_name = "FILE", conflicts_with = "weights")]
    network: Option<PathBuf>,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    // The bundled model unless --weights or --model names another.
    let device = Device::flex();
    let (config, model) = match &args.network {
        Some(path) => {
            let config = args.model.apply_input_size(load_network_config(path)?)?;
            let model = config
                .init(&device)
                .with_context(|| format!("{}: not a working network", path.display()))?;
            (config, model)
        }
        None => args.model.load(&device)?,
    };
    let (w, h) = (config.input_width, config.input_height);
    let macs = model.macs(w, h);
    let text = format!(
        "input size: {w}x{h}\n\
         parameters: {}\n\
         cost at {w}x{h}: {:.1} M multiply-adds ({:.1} MFLOPs)\n\
         feature maps: {:?}\n\
         priors: {}\n\
         config: {}\n",
        model.num_params(),
        macs as f64 / 1e6,
        2.0 * macs as f64 / 1e6,
        config.feature_sizes(),
        config.priors().len(),
        burn::config::config_to_json(&config)
    );
    super::print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
