//! The `gantry` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = gantry::cli::Cli::parse();
    gantry::cli::run(cli)
}
