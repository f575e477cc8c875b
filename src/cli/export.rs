//! `ssdface export`: a weights file from a training run's checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ssdface::train;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The run folder (`--out` of `ssdface train`).
    #[arg(value_name = "RUN")]
    run: PathBuf,
    /// The weights file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The epoch to export (default: the newest checkpoint).
    #[arg(long, value_name = "N")]
    epoch: Option<usize>,
    /// Store f32 parameters instead of f16 (twice the size, no rounding).
    #[arg(long)]
    f32: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let precision = super::precision(args.f32);
    let epoch = train::export_checkpoint(&args.run, args.epoch, &args.out, precision)
        .with_context(|| format!("cannot export from {}", args.run.display()))?;
    eprintln!("wrote {} (epoch {epoch})", args.out.display());
    Ok(ExitCode::SUCCESS)
}
