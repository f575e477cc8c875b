//! Subcommands of the `ssdface` binary.

mod detect;
mod draw;
mod font;
mod info;
mod inputs;
mod model_source;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Face detection with a small SSD network.
#[derive(Parser, Debug)]
#[command(name = "ssdface", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Detect faces in images and print them as JSON.
    Detect(detect::DetectArgs),
    /// Print the model's config, parameter count, cost and number of priors.
    Info(info::InfoArgs),
}

/// Run the parsed command; the exit code says whether every input succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Info(args) => info::run(args),
    }
}
