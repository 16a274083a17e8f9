//! `make burst`: a research sweep and production retrains against a small quota, through
//! trainq's scheduler (capacity ledger, waiting room, priorities, fair share) and through the
//! previous release's launch policy (create, defer on `ResourceLimitExceeded` with a growing
//! visibility timeout), side by side in one run on the same emulators; the figures and the
//! issue's targets go into `bench/results.md`.
//!
//! Settings (environment): `TRAINQ_BURST_BASELINE` (the previous release's binaries, built by
//! `make burst`), `TRAINQ_BURST_SWEEP` (research requests, default 200),
//! `TRAINQ_BURST_RETRAINS` (production, default 20), `TRAINQ_BURST_QUOTA` (default 20),
//! `TRAINQ_BURST_JOB_S` (seconds each job trains, default 30).

mod figures;
mod report;
mod side;
mod workload;

use std::path::{Path, PathBuf};
use std::time::Duration;

use side::{Shape, SideConfig};

use crate::{path_string, setting};

pub(crate) use crate::BURST_BASELINE;

/// The burst's section already in a results file (kept by `make bench`).
pub(crate) fn kept_section(text: &str) -> Option<&str> {
    report::kept(text)
}

/// Runs the burst on both sides and writes the section; returns the file written.
pub(crate) async fn run(workspace: &Path) -> Result<PathBuf, String> {
    let bins = workspace.join("target/debug");
    let baseline: PathBuf = setting(
        "TRAINQ_BURST_BASELINE",
        path_string(&workspace.join("target/burst-baseline/debug")),
    )
    .into();
    let quota: u32 = setting("TRAINQ_BURST_QUOTA", 20);
    let job_s: u64 = setting("TRAINQ_BURST_JOB_S", 30);
    let shape = Shape {
        quota,
        job: Duration::from_secs(job_s),
        sweep: workload::sweep(setting("TRAINQ_BURST_SWEEP", 200)),
        retrains: workload::retrains(setting("TRAINQ_BURST_RETRAINS", 20)),
        deadline: Duration::from_secs(1200),
    };
    let limits = format!("ml.g5.xlarge/spot={quota}, ml.g5.xlarge/on-demand=0");
    let owned = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let trainq = SideConfig {
        label: "trainq: ledger, waiting room, fair share".into(),
        dispatcher: vec![path_string(&bins.join("trainq-dispatcher"))],
        watcher: vec![path_string(&bins.join("trainq-watcher"))],
        env: owned(&[
            ("TRAINQ_POOL_LIMITS", limits),
            ("TRAINQ_CUSTOMER_WEIGHTS", workload::weights()),
            ("TRAINQ_CREATE_RATE_PER_S", "20".into()),
        ]),
    };
    // The old policy's backoff scaled to the job: its defaults (30 s, capped at 900 s) are
    // about a 30th and one length of a half-hour job.
    let previous = SideConfig {
        label: "previous release: SageMaker's refusals as the scheduler".into(),
        dispatcher: vec![path_string(&baseline.join("trainq-dispatcher"))],
        watcher: vec![path_string(&baseline.join("trainq-watcher"))],
        env: owned(&[
            ("TRAINQ_DEFER_BASE_S", "1".into()),
            ("TRAINQ_DEFER_MAX_S", job_s.to_string()),
        ]),
    };
    let mut results = Vec::new();
    // `TRAINQ_BURST_ONLY=trainq` runs trainq's side alone and writes nothing (for tuning).
    let only_trainq = setting("TRAINQ_BURST_ONLY", String::new()) == "trainq";
    let sides: &[&SideConfig] = if only_trainq {
        &[&trainq]
    } else {
        &[&trainq, &previous]
    };
    for config in sides.iter().copied() {
        eprintln!(
            "burst: {} — {} requests, quota {quota}, jobs of {job_s} s",
            config.label,
            shape.sweep.len() + shape.retrains.len()
        );
        let observed = side::run(config, &shape).await?;
        let figures = figures::of(&observed, &shape);
        eprintln!("burst: {figures:?}");
        results.push(figures);
    }
    let out = workspace.join("bench/results.md");
    if !only_trainq {
        report::write(&out, &report::section(&results, &shape))?;
    }
    let failed: Vec<String> = figures::targets(&results[0], job_s as f64)
        .into_iter()
        .filter(|(_, met)| !met)
        .map(|(t, _)| t)
        .collect();
    if failed.is_empty() {
        Ok(out)
    } else {
        Err(format!("targets missed: {}", failed.join("; ")))
    }
}
