//! `trainq`: the command line for the backend, on-call engineers and researchers. See
//! `trainq --help` and the README's operations section.

use std::process::ExitCode;

use clap::Parser;
use trainq_cli::args::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    match trainq_cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            trainq_cli::note!("{e}");
            e.exit_code()
        }
    }
}
