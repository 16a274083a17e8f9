//! `defect-trainer`: a small, real training program for trainq's local runs and demo.
//!
//! - `defect-trainer generate --out DIR [--seed N] [--count N]`: a synthetic dataset of
//!   32×32 grayscale part images, about half with scratches (`labels.csv` + PGM files).
//! - `defect-trainer train` (what SageMaker runs): trains under the SageMaker container
//!   contract (`/opt/ml`, or `TRAINQ_ML_ROOT`), checkpointing every epoch and resuming from the
//!   last checkpoint; prints `validation:accuracy=…` metric lines; writes `model/model.json` and
//!   `model/manifest.json`. On bad data or hyperparameters it writes `output/failure` and
//!   exits with status 2.

fn main() -> std::process::ExitCode {
    trainq_defect_trainer::cli::main()
}
