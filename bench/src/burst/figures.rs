//! The burst's figures for one side, and the targets they are held to: utilisation of the
//! quota while requests wait, quota refusals, production waits, fairness between customers,
//! the weight-2 customer's share, nothing lost.

use std::collections::BTreeMap;

use trainq_common::state::JobState;
use trainq_common::time_util::rfc3339_to_epoch_ms;

use super::side::{Observed, Shape};
use super::workload::{RESEARCH, Sent};

/// One side's figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    /// The side.
    pub(crate) label: String,
    /// Requests sent; ended `Registered`.
    pub(crate) sent: usize,
    /// Requests that ended `Registered`.
    pub(crate) registered: usize,
    /// Requests not registered at the end (dead-lettered, stranded, failed).
    pub(crate) lost: usize,
    /// Mean instances running / quota while requests waited.
    pub(crate) utilisation: f64,
    /// CreateTrainingJob calls; of them refused for quota.
    pub(crate) creates: u64,
    /// Refused for quota.
    pub(crate) quota_refused: u64,
    /// Production wait (enqueue → launch), p50 and p95, seconds; production not launched.
    pub(crate) production_wait: (f64, f64),
    /// Jain's index of the research customers' weighted shares while all had a backlog.
    pub(crate) jain: f64,
    /// The weight-2 customer's share / the mean weight-1 customer's.
    pub(crate) weight2_ratio: f64,
    /// Seconds from the first send to the last request ending.
    pub(crate) elapsed_s: f64,
}

/// Seconds since the run's start of an RFC 3339 time.
fn at(o: &Observed, time: Option<&str>) -> Option<f64> {
    Some((rfc3339_to_epoch_ms(time?)? - o.started_ms) as f64 / 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// When each request launched and ended (seconds since the start), if it did.
fn spans(o: &Observed, sent: &[&Sent]) -> Vec<(String, Option<(f64, f64)>)> {
    sent.iter()
        .map(|s| {
            let span = o.records.get(&s.id).and_then(|r| {
                let a = r.attempts.iter().find(|a| a.launched_at.is_some())?;
                let launched = at(o, a.launched_at.as_deref())?;
                let ended = at(o, a.ended_at.as_deref()).unwrap_or(launched);
                Some((launched, ended))
            });
            (s.customer.clone(), span)
        })
        .collect()
}

/// The figures of `o` for the burst `shape`.
pub(crate) fn of(o: &Observed, shape: &Shape) -> Figures {
    let all: Vec<&Sent> = shape.sweep.iter().chain(&shape.retrains).collect();
    let registered = all
        .iter()
        .filter(|s| {
            o.records
                .get(&s.id)
                .is_some_and(|r| r.state == JobState::Registered)
        })
        .count();
    let sweep: Vec<&Sent> = shape.sweep.iter().collect();
    let research = spans(o, &sweep);
    // Requests wait from the moment the quota is first full until the last sweep request
    // launches: the interval the scheduler, not the arrivals, decides the use of the quota.
    let last_launch = research
        .iter()
        .filter_map(|(_, s)| s.map(|(l, _)| l))
        .fold(0.0_f64, f64::max);
    let quota = f64::from(shape.quota);
    let full_from = o
        .running
        .iter()
        .find(|(_, n)| *n >= shape.quota)
        .map_or(0.0, |(t, _)| *t);
    let busy: Vec<f64> = o
        .running
        .iter()
        .filter(|(t, _)| *t >= full_from && *t <= last_launch)
        .map(|(_, n)| f64::from(*n))
        .collect();
    let utilisation = busy.iter().sum::<f64>() / busy.len().max(1) as f64 / quota;

    let mut waits: Vec<f64> = shape
        .retrains
        .iter()
        .filter_map(|s| {
            let r = o.records.get(&s.id)?;
            let launched = rfc3339_to_epoch_ms(r.attempts.first()?.launched_at.as_deref()?)?;
            let sent = rfc3339_to_epoch_ms(r.enqueued_at.as_deref()?)?;
            Some((launched - sent) as f64 / 1000.0)
        })
        .collect();
    waits.sort_by(f64::total_cmp);

    // Shares are judged from the start: a customer whose requests were taken in first borrows
    // the idle quota and pays it back through its decayed usage, so only the whole interval
    // shows the share it is owed.
    let (jain, weight2_ratio) = fairness(&research, 0.0);
    Figures {
        label: o.label.clone(),
        sent: all.len(),
        registered,
        lost: all.len() - registered,
        utilisation,
        creates: o.stats["create_calls"].as_u64().unwrap_or(0),
        quota_refused: o.stats["quota_refused"].as_u64().unwrap_or(0),
        production_wait: (percentile(&waits, 0.5), percentile(&waits, 0.95)),
        jain,
        weight2_ratio,
        elapsed_s: o.elapsed.as_secs_f64(),
    }
}

/// Jain's index of the research customers' instance-seconds per unit of weight, and the
/// weight-2 customer's share against the others', from `from` over the time every customer
/// still had requests waiting (until the first one's last request launched).
fn fairness(research: &[(String, Option<(f64, f64)>)], from: f64) -> (f64, f64) {
    let mut last: BTreeMap<&str, f64> = BTreeMap::new();
    for (c, span) in research {
        let l = span.map_or(f64::INFINITY, |(l, _)| l);
        let e = last.entry(c.as_str()).or_insert(0.0);
        *e = e.max(l);
    }
    let window = last.values().copied().fold(f64::INFINITY, f64::min);
    let mut held: BTreeMap<&str, f64> = BTreeMap::new();
    for (c, span) in research {
        if let Some((l, e)) = span {
            let overlap = (e.min(window) - l.max(from)).max(0.0);
            *held.entry(c.as_str()).or_default() += overlap;
        }
    }
    let weighted: Vec<(f64, f64)> = RESEARCH
        .iter()
        .map(|(c, _, w)| (held.get(c).copied().unwrap_or(0.0) / w, *w))
        .collect();
    let xs: Vec<f64> = weighted.iter().map(|(x, _)| *x).collect();
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    let jain = if squares > 0.0 {
        sum * sum / (xs.len() as f64 * squares)
    } else {
        f64::NAN
    };
    let heavy = weighted
        .iter()
        .find(|(_, w)| *w == 2.0)
        .map_or(f64::NAN, |(x, w)| x * w);
    let ones: Vec<f64> = weighted
        .iter()
        .filter(|(_, w)| *w == 1.0)
        .map(|(x, _)| *x)
        .collect();
    let mean_one = ones.iter().sum::<f64>() / ones.len().max(1) as f64;
    (jain, heavy / mean_one)
}

/// The targets of issue #13, each with whether `f` meets it.
pub(crate) fn targets(f: &Figures, job_s: f64) -> Vec<(String, bool)> {
    let refused = f.quota_refused as f64 / f.creates.max(1) as f64;
    vec![
        (
            format!(
                "utilisation of the quota while requests wait ≥ 95% ({:.1}%)",
                f.utilisation * 100.0
            ),
            f.utilisation >= 0.95,
        ),
        (
            format!("creates refused for quota ≤ 1% ({:.1}%)", refused * 100.0),
            refused <= 0.01,
        ),
        (
            format!(
                "production wait p50 and p95 ≤ a job + 5 s = {:.0} s ({:.1} s, {:.1} s)",
                job_s + 5.0,
                f.production_wait.0,
                f.production_wait.1
            ),
            f.production_wait.1 <= job_s + 5.0,
        ),
        (
            format!("Jain's index ≥ 0.95 ({:.3})", f.jain),
            f.jain >= 0.95,
        ),
        (
            format!("weight-2 share 2:1 ± 10% ({:.2}:1)", f.weight2_ratio),
            (1.8..=2.2).contains(&f.weight2_ratio),
        ),
        (format!("0 lost ({})", f.lost), f.lost == 0),
    ]
}
