//! `ssdface info`: what the model is and what it costs.

use std::process::ExitCode;

use burn::module::Module;
use burn::prelude::*;
use ssdface::model::SsdConfig;

use super::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let device = Device::flex();
    let (config, model) = match &args.model.weights {
        Some(_) => args.model.load(&device)?,
        None => {
            let config = args.model.apply_input_size(SsdConfig::new())?;
            let model = config.init(&device)?;
            (config, model)
        }
    };
    let (w, h) = (config.input_width, config.input_height);
    let macs = model.macs(w, h);
    println!("input size: {w}x{h}");
    println!("parameters: {}", model.num_params());
    println!(
        "cost at {w}x{h}: {:.1} M multiply-adds ({:.1} MFLOPs)",
        macs as f64 / 1e6,
        2.0 * macs as f64 / 1e6
    );
    println!("feature maps: {:?}", config.feature_sizes());
    println!("priors: {}", config.priors().len());
    println!("config: {}", burn::config::config_to_json(&config));
    Ok(ExitCode::SUCCESS)
}
