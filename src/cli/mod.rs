//! Subcommands of the `ssdface` binary.

mod average;
#[cfg(feature = "train")]
mod backend;
mod detect;
mod eval;
#[cfg(feature = "train")]
mod export;
mod info;
mod inputs;
mod model_source;
#[cfg(feature = "train")]
mod progress;
#[cfg(feature = "train")]
mod train;

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
    /// Train a model, or resume a run.
    #[cfg(feature = "train")]
    // Boxed: its many options would make every other command's value as large.
    Train(Box<train::TrainArgs>),
    /// Write a weights file from a training run's checkpoint (also while it trains).
    #[cfg(feature = "train")]
    Export(export::ExportArgs),
    /// Average the parameters of several weights files of one network (e.g. a run's last epochs).
    Average(average::AverageArgs),
    /// Score a model on a labelled folder (WIDER FACE protocol).
    Eval(eval::EvalArgs),
}

/// The precision of a written weights file: f16 unless `--f32` asks for exact f32.
fn precision(f32: bool) -> ssdface::weights::Precision {
    if f32 {
        ssdface::weights::Precision::Full
    } else {
        ssdface::weights::Precision::Half
    }
}

/// Write `text` to standard output. A reader that went away (`ssdface info | head -1`) ends
/// the output quietly, as it does for other command-line tools, rather than as an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to standard output"),
    }
}

impl Cli {
    /// Whether the command trains on LibTorch, whose OpenMP threads then share the cores with
    /// the training kernels (see `ssdface::openmp`).
    #[cfg(all(feature = "libtorch", unix))]
    pub fn trains_on_libtorch(&self) -> bool {
        #[cfg(feature = "train")]
        if let Command::Train(args) = &self.command {
            return args.on_libtorch();
        }
        false
    }
}

/// `error` and its causes, each said once. The library's errors name their cause in their
/// own message (for callers that print only that) and also return it as their source, so the
/// chain of messages repeats it: a cause already said is left out.
pub fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if message.contains(&cause) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&cause);
    }
    message
}

/// Run the parsed command; the exit code says whether every input succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Info(args) => info::run(args),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(*args),
        #[cfg(feature = "train")]
        Command::Export(args) => export::run(args),
        Command::Average(args) => average::run(args),
        Command::Eval(args) => eval::run(args),
    }
}
