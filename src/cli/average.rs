//! `ssdface average`: one weights file whose parameters are the mean of several.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use burn::prelude::*;
use ssdface::average::average;
use ssdface::weights;

#[derive(clap::Args, Debug)]
pub struct AverageArgs {
    /// Weights files of one network architecture (for instance `ssdface export RUN --epoch N
    /// --f32` of a run's last epochs). The result takes the first file's config.
    #[arg(value_name = "WEIGHTS", required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// The weights file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Store f32 parameters instead of f16 (twice the size, no rounding).
    #[arg(long)]
    f32: bool,
}

pub fn run(args: AverageArgs) -> anyhow::Result<ExitCode> {
    let device = Device::flex();
    let load = |path: &PathBuf| {
        weights::load_file(path, &device).with_context(|| format!("cannot load {}", path.display()))
    };
    // clap asks for two files at least.
    let (first_path, others) = args
        .inputs
        .split_first()
        .context("no weights files to average")?;
    let (config, first) = load(first_path)?;
    let mut models = vec![first];
    for path in others {
        let (found, model) = load(path)?;
        // The input size changes no parameter, so files for other sizes still average.
        let found = found.at_input_size(config.input_width, config.input_height)?;
        if found != config {
            bail!(
                "{} is for another network than {}: every file must come from the same config",
                path.display(),
                first_path.display()
            );
        }
        models.push(model);
    }
    let mean = average(models)?;
    weights::save_file(&mean, &config, super::precision(args.f32), &args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote {} (mean of {} networks)",
        args.out.display(),
        args.inputs.len()
    );
    Ok(ExitCode::SUCCESS)
}
