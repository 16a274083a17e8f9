//! The command line: `train` (what SageMaker runs) and `generate` (a synthetic dataset).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{contract, images, train};

const USAGE: &str =
    "usage: defect-trainer train\n       defect-trainer generate --out DIR [--seed N] [--count N]";

/// Runs the command line with the process's arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("train") | None => train(),
        Some("generate") => generate(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(64)
        }
    }
}

fn train() -> ExitCode {
    let root = contract::MlRoot::from_env();
    match train::run(&root) {
        Ok(()) => ExitCode::SUCCESS,
        Err(train::Failure(reason)) => {
            eprintln!("training failed: {reason}");
            let path = root.failure();
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, &reason));
            if let Err(e) = written {
                eprintln!("cannot write {}: {e}", path.display());
            }
            ExitCode::from(2)
        }
    }
}

fn generate(args: &[String]) -> ExitCode {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let number = |flag: &str, default: u64| value(flag).map_or(Some(default), |v| v.parse().ok());
    let (Some(out), Some(seed), Some(count)) =
        (value("--out"), number("--seed", 1), number("--count", 400))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    match images::generate(&PathBuf::from(out), seed, count as usize) {
        Ok(()) => {
            println!("{count} images written to {out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::from(1)
        }
    }
}
