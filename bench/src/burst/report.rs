//! The burst's section of `bench/results.md`, kept between markers so `make bench` (which
//! rewrites the rest of the file) carries it over, and `make burst` replaces only it.

use std::path::Path;

use super::figures::{self, Figures};
use super::side::Shape;

/// A row of the table: its name and how a side's figures show in it.
type Row = (&'static str, fn(&Figures) -> String);

/// Where the section starts and ends in the file.
pub(crate) const START: &str = "<!-- burst:start -->";
/// Its end.
pub(crate) const END: &str = "<!-- burst:end -->";

/// The section for `sides` (trainq first, then the previous release).
pub(crate) fn section(sides: &[Figures], shape: &Shape) -> String {
    let job_s = shape.job.as_secs_f64();
    let mut s = format!(
        "{START}\n## Sharing the quota (`make burst`)\n\n\
         {} research requests of four customers (weights 2, 1, 1, 1; backlogs 4:3:2:1), interleaved and sent at once, \
         and {} production data-shift retrains sent one every {:.0} s through the run, against a \
         quota of {} instances of one pool (SageMaker refuses beyond it), each job training {:.0}–{:.0} s ({job_s:.0} s on average; real jobs run minutes, so the second or so each hand-over of a slot takes weighs less in production than here). \
         Both sides run the shipped binaries behind the Runtime API on the same emulators, in one run: \
         trainq as of this commit, and the previous release (commit `{}`), whose scheduler was \
         SageMaker's refusals (create, defer with a growing visibility timeout, dead-letter after \
         `maxReceiveCount`).\n\n",
        shape.sweep.len(),
        shape.retrains.len(),
        job_s / 2.0,
        shape.quota,
        job_s / 2.0,
        job_s * 1.5,
        super::BURST_BASELINE,
    );
    s.push_str("| figure | ");
    s.push_str(
        &sides
            .iter()
            .map(|f| f.label.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    s.push_str(" |\n|---|");
    s.push_str(&"---|".repeat(sides.len()));
    s.push('\n');
    let rows: [Row; 9] = [
        ("requests registered / sent", |f| {
            format!("{} / {}", f.registered, f.sent)
        }),
        ("lost (not registered at the end)", |f| f.lost.to_string()),
        ("quota used while requests wait", |f| {
            format!("{:.1}%", f.utilisation * 100.0)
        }),
        ("CreateTrainingJob calls (refused for quota)", |f| {
            format!("{} ({})", f.creates, f.quota_refused)
        }),
        ("production wait p50 / p95", |f| {
            let (p50, p95) = f.production_wait;
            format!("{p50:.1} s / {p95:.1} s")
        }),
        ("Jain's index, research customers (per weight)", |f| {
            format!("{:.3}", f.jain)
        }),
        ("weight-2 customer's share : weight-1's", |f| {
            format!("{:.2} : 1", f.weight2_ratio)
        }),
        ("first send → last request ended", |f| {
            format!("{:.0} s", f.elapsed_s)
        }),
        ("CreateTrainingJob calls per registered request", |f| {
            format!("{:.2}", f.creates as f64 / f.registered.max(1) as f64)
        }),
    ];
    for (name, value) in &rows {
        s.push_str(&format!("| {name} |"));
        for f in sides {
            s.push_str(&format!(" {} |", value(f)));
        }
        s.push('\n');
    }
    s.push_str("\nThe issue's targets, for trainq:\n\n");
    if let Some(trainq) = sides.first() {
        for (target, met) in figures::targets(trainq, job_s) {
            s.push_str(&format!(
                "- {} {target}\n",
                if met { "met:" } else { "MISSED:" }
            ));
        }
    }
    s.push_str(&format!("\n{END}\n"));
    s
}

/// Replaces the section in `path` (or appends it).
pub(crate) fn write(path: &Path, section: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let updated = match (text.find(START), text.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!(
                "{}{}{}",
                &text[..a],
                section.trim_end(),
                &text[b + END.len()..]
            )
        }
        _ => format!("{}\n{section}", text.trim_end()),
    };
    std::fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()))
}

/// The section already in `text`, if any: `make bench` keeps it when it rewrites the file.
pub(crate) fn kept(text: &str) -> Option<&str> {
    let a = text.find(START)?;
    let b = text.find(END)?;
    (a < b).then(|| &text[a..b + END.len()])
}
