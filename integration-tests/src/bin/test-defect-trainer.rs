//! The defect trainer, built as a binary of this package too (`test-defect-trainer`), so the end-to-end tests can run
//! it as a training image (`CARGO_BIN_EXE_test-defect-trainer` exists only for a package's own
//! binaries).

fn main() -> std::process::ExitCode {
    trainq_defect_trainer::cli::main()
}
