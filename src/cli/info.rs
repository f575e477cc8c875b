//! `ssdface info`: what the model is and what it costs.

use std::process::ExitCode;

use burn::module::Module;
use burn::prelude::*;

use super::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    // The bundled model unless --weights names another.
    let (config, model) = args.model.load(&Device::flex())?;
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
