//! What the watcher tells the world about a record that changed: EMF metrics by the state it
//! reached, and the alerts of DESIGN §3.

use trainq_common::JobRecord;
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::metrics::{self, Metric, NO_REGISTRY};
use trainq_common::state::JobState;

use crate::retry::{Cause, RetryStep};

/// The record's registry as the metrics' dimension.
fn registry(record: &JobRecord) -> &'static str {
    record.registry.map_or(NO_REGISTRY, |r| r.as_str())
}

/// Emits the metric of the state the record reached, if it moved.
pub(crate) fn state_metrics(before: JobState, record: &JobRecord) {
    if before == record.state {
        return;
    }
    let values: Vec<(Metric, f64)> = match record.state {
        JobState::Completed => std::iter::once((Metric::Completed, 1.0))
            .chain(record.spot_savings_pct.map(|s| (Metric::SpotSavings, s)))
            .collect(),
        JobState::Failed => vec![(Metric::Failed, 1.0)],
        JobState::Retrying => vec![(Metric::Retried, 1.0)],
        JobState::Registered => vec![(Metric::Registered, 1.0)],
        _ => return,
    };
    metrics::emit(registry(record), &values);
}

/// Counts a planned retry by its cause (the dashboard's "retries by cause").
pub(crate) fn retry_metric(record: &JobRecord, cause: &Cause) {
    metrics::emit_with(
        &[("Registry", registry(record)), ("Cause", cause.label())],
        &[(Metric::RetriedByCause, 1.0)],
    );
}

/// The alerts a written change causes (staged in the record's outbox with the change): a
/// retry after lost capacity, a spent budget, a failure that is not retried.
pub(crate) fn alerts_for(
    before: JobState,
    record: &JobRecord,
    retry: Option<&(Cause, RetryStep)>,
) -> Vec<Alert> {
    match retry {
        Some((cause, RetryStep::Planned { .. })) if cause.is_capacity() => {
            vec![capacity_alert(record)]
        }
        Some((_, RetryStep::Planned { .. })) => Vec::new(),
        Some((_, RetryStep::Exhausted)) => vec![exhausted_alert(record)],
        None if record.state == JobState::Failed && before != JobState::Failed => {
            vec![failed_alert(record)]
        }
        None => Vec::new(),
    }
}

fn reason(record: &JobRecord, default: &str) -> String {
    record.reason.clone().unwrap_or_else(|| default.into())
}

/// `Training Capacity Pressure`: an attempt lost its capacity and the request steps down.
pub(crate) fn capacity_alert(record: &JobRecord) -> Alert {
    Alert::about(
        AlertKind::CapacityPressure,
        record,
        reason(record, "capacity lost"),
    )
}

/// `Training Retries Exhausted`: the budget is spent; the record is `Failed`.
pub(crate) fn exhausted_alert(record: &JobRecord) -> Alert {
    Alert::about(
        AlertKind::RetriesExhausted,
        record,
        reason(record, "retries exhausted"),
    )
}

/// `Training Job Failed`: the training failed and is not retried.
pub(crate) fn failed_alert(record: &JobRecord) -> Alert {
    Alert::about(
        AlertKind::JobFailed,
        record,
        reason(record, "training failed"),
    )
}
