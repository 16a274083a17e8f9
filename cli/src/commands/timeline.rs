//! A request's attempts as `trainq jobs show` draws them: each attempt as a bar of its
//! secondary statuses (one letter per status, widths by duration) with a legend of the
//! durations, the rung of the ladder it ran on, why it ended and the attempt that followed.
//! Pure text, so it reads the same in a terminal, a pipe and a ticket.

use trainq_common::failure::{Ending, SystemFailure, classify};
use trainq_common::launch::Rung;
use trainq_common::record::SecondaryStatus;
use trainq_common::request::TrainingRequest;
use trainq_common::{Attempt, ladder};

use crate::top::snapshot::compact_s;

/// Columns of an attempt's bar.
pub const BAR_WIDTH: usize = 40;

/// The letter that stands for a secondary status in a bar.
fn letter(status: &str) -> char {
    match status {
        "Starting" => 's',
        "Pending" => 'p',
        "Downloading" => 'd',
        "DownloadingTrainingImage" => 'i',
        "Training" => 'T',
        "Uploading" => 'u',
        "Interrupted" => '!',
        "Restarting" => 'r',
        "Stopping" => 'x',
        "MaxRuntimeExceeded" => 'm',
        "MaxWaitTimeExceeded" => 'w',
        _ => '?',
    }
}

/// Each status with how long it lasted (ms): until its end, else the next status's start,
/// else `until_ms` (the attempt's end, or now for a running one). Final statuses
/// (`Completed`, `Failed`, `Stopped`) last no time and are left out.
fn spans(history: &[SecondaryStatus], until_ms: i64) -> Vec<(&str, i64)> {
    history
        .iter()
        .enumerate()
        .filter(|(_, s)| !matches!(s.status.as_str(), "Completed" | "Failed" | "Stopped"))
        .filter_map(|(i, s)| {
            let start = s.start_ms?;
            let end = s
                .end_ms
                .or_else(|| history.get(i + 1).and_then(|n| n.start_ms))
                .unwrap_or(until_ms);
            Some((s.status.as_str(), (end - start).max(0)))
        })
        .collect()
}

/// The bar (`[ssdTTTTTTTTu]  58m`) and its legend (`s Starting 42s · T Training 52m`) of
/// `history`; `None` when SageMaker reported no timed status.
pub fn bar(history: &[SecondaryStatus], until_ms: i64) -> Option<(String, String)> {
    let spans = spans(history, until_ms);
    let total: i64 = spans.iter().map(|(_, d)| d).sum();
    if spans.is_empty() {
        return None;
    }
    let width = i64::try_from(BAR_WIDTH).unwrap_or(40);
    let mut cells = String::new();
    for (status, ms) in &spans {
        // At least one cell, so a short status still shows that it happened.
        let n = if total == 0 {
            1
        } else {
            ((ms * width + total / 2) / total).max(1)
        };
        cells.extend(std::iter::repeat_n(letter(status), n as usize));
    }
    let legend: Vec<String> = spans
        .iter()
        .map(|(status, ms)| format!("{} {status} {}", letter(status), compact_s(ms / 1000)))
        .collect();
    Some((
        format!("[{cells}]  {}", compact_s(total / 1000)),
        legend.join(" · "),
    ))
}

/// `rung 2 of 3` of `attempt` in `request`'s ladder (`None` off the ladder).
pub fn rung_of(request: &TrainingRequest, attempt: &Attempt) -> Option<String> {
    let ladder = ladder::rungs(request);
    let here = Rung {
        instance_type: attempt.instance_type.clone(),
        spot: attempt.spot,
    };
    let at = ladder.iter().position(|r| *r == here)?;
    Some(format!("rung {} of {}", at + 1, ladder.len()))
}

/// Why `attempt` ended, in words (`None` while it runs or was never started).
pub fn why_ended(attempt: &Attempt) -> Option<String> {
    let status = attempt.status.as_deref()?;
    let secondary = attempt.secondary_history.last().map(|s| s.status.as_str());
    let reason = attempt.failure_reason.as_deref();
    let said = reason.map_or(String::new(), |r| format!(" ({r})"));
    Some(match classify(status, secondary, reason)? {
        Ending::Completed => "completed".to_owned(),
        Ending::Stopped => "stopped".to_owned(),
        Ending::User => format!(
            "the training failed{said}: a user failure, not retried unless the request asks"
        ),
        Ending::System(kind) => {
            let what = match kind {
                SystemFailure::SpotCapacityLost => "spot capacity lost",
                SystemFailure::InsufficientCapacity => "no capacity for the instance type",
                SystemFailure::Quota => "an account quota",
                SystemFailure::Internal => "SageMaker's internal error",
            };
            format!("{what}{said}: a system failure")
        }
    })
}

/// What followed `attempt` in `attempts`: the next attempt, its rung and what caused it.
pub fn followed_by(attempts: &[Attempt], attempt: &Attempt) -> Option<String> {
    let next = attempts.iter().find(|a| a.number == attempt.number + 1)?;
    let rung = format!(
        "{} {}",
        next.instance_type,
        if next.spot { "spot" } else { "on-demand" }
    );
    // The next attempt's own line names who asked for an operator's retry.
    let by = if next.retried_by.is_some() {
        "an operator's retry"
    } else {
        "the retry policy"
    };
    Some(format!("next: attempt {} on {rung} ({by})", next.number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: &str, start: i64, end: Option<i64>) -> SecondaryStatus {
        SecondaryStatus {
            status: s.into(),
            start_ms: Some(start),
            end_ms: end,
            message: None,
        }
    }

    #[test]
    fn a_bar_gives_each_status_its_share_and_a_short_one_a_cell() {
        let history = [
            status("Starting", 0, Some(60_000)),
            status("Downloading", 60_000, None),
            status("Training", 62_000, Some(3_062_000)),
            status("Interrupted", 3_062_000, Some(3_122_000)),
            status("Stopped", 3_122_000, None),
        ];
        let (bar, legend) = bar(&history, 9_999_999).unwrap();
        // 3,122 s in all: Training's 3,000 s take 38 of 40 cells, the 2 s download still one.
        assert_eq!(bar, format!("[sd{}!]  52m", "T".repeat(38)));
        assert_eq!(
            legend,
            "s Starting 1m · d Downloading 2s · T Training 50m · ! Interrupted 1m"
        );
    }

    #[test]
    fn a_running_attempt_lasts_until_now_and_no_history_draws_nothing() {
        let history = [status("Training", 0, None)];
        let (bar, _) = bar(&history, 90_000).unwrap();
        assert!(bar.ends_with("]  1m"), "{bar}");
        assert_eq!(bar.matches('T').count(), BAR_WIDTH);
        assert_eq!(super::bar(&[], 0), None);
    }
}
