//! The `ssdface` command line: detect faces in images and describe the model.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    #[cfg(all(feature = "libtorch", unix))]
    if args.trains_on_libtorch() {
        ssdface::openmp::restart_with_passive_openmp();
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cli::error_message(&error));
            ExitCode::FAILURE
        }
    }
}
