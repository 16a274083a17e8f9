//! CloudWatch metrics as Embedded Metric Format (EMF) log lines: one JSON object per line on
//! stdout, which CloudWatch Logs turns into metrics without any API call from the Lambda.

use serde_json::{Map, Value, json};

use crate::record::Attempt;

/// The CloudWatch namespace of every trainq metric.
pub const NAMESPACE: &str = "trainq";

/// The `Cause` dimension of `Retried`: a system failure's kind, or `user_failure` (a request
/// that asked to retry its own failures).
pub fn retry_cause(system: Option<crate::failure::SystemFailure>) -> &'static str {
    use crate::failure::SystemFailure as F;
    match system {
        Some(F::SpotCapacityLost) => "spot_capacity_lost",
        Some(F::InsufficientCapacity) => "insufficient_capacity",
        Some(F::Quota) => "quota",
        Some(F::Internal) => "internal_error",
        None => "user_failure",
    }
}

/// Every value of `Retried`'s `Cause` dimension.
pub const RETRY_CAUSES: [&str; 5] = [
    "spot_capacity_lost",
    "insufficient_capacity",
    "quota",
    "internal_error",
    "user_failure",
];

/// The `Function` dimension of `ColdStart`.
pub const FUNCTIONS: [&str; 2] = ["dispatcher", "watcher"];

/// The `Registry` dimension of metrics that belong to no registry (events of foreign jobs).
pub const NO_REGISTRY: &str = "none";

/// A metric trainq emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A training job was launched (count).
    Launched,
    /// A training job completed (count).
    Completed,
    /// A request ended `Failed` (count).
    Failed,
    /// A new attempt was started after a system failure (count).
    Retried,
    /// A model package was registered (count).
    Registered,
    /// Share of training time not billed thanks to spot (percent).
    SpotSavings,
    /// From enqueue (SQS `SentTimestamp`) to CreateTrainingJob (seconds).
    EnqueueToLaunch,
    /// State-change events that changed no record: of jobs trainq did not launch, of `tq-`
    /// jobs without a record, unreadable ones (count).
    IgnoredEvents,
    /// Records the reconcile schedule found stale and healed (count).
    Reconciled,
    /// A valid request was recorded (count).
    Received,
    /// A request was rejected for good (count).
    Rejected,
    /// A request's round of admission left it waiting for capacity (count).
    Queued,
    /// A retry by its cause (count; dimensions `Registry`, `Cause`).
    RetriedByCause,
    /// An alert was delivered (count; dimension `Kind`, its detail-type).
    Alerts,
    /// A function's process started (count; dimension `Function`).
    ColdStart,
    /// Instances a pool holds, at the reconcile (dimension `Pool`).
    PoolInUse,
    /// A pool's limit now, at the reconcile (dimension `Pool`).
    PoolLimit,
}

impl Metric {
    /// Every metric trainq emits.
    pub const ALL: [Metric; 17] = [
        Self::Launched,
        Self::Completed,
        Self::Failed,
        Self::Retried,
        Self::Registered,
        Self::SpotSavings,
        Self::EnqueueToLaunch,
        Self::IgnoredEvents,
        Self::Reconciled,
        Self::Received,
        Self::Rejected,
        Self::Queued,
        Self::RetriedByCause,
        Self::Alerts,
        Self::ColdStart,
        Self::PoolInUse,
        Self::PoolLimit,
    ];

    /// The dimensions it is emitted with (every line of it carries exactly these).
    pub fn dimensions(self) -> &'static [&'static str] {
        match self {
            Self::RetriedByCause => &["Registry", "Cause"],
            Self::Alerts => &["Kind"],
            Self::ColdStart => &["Function"],
            Self::PoolInUse | Self::PoolLimit => &["Pool"],
            _ => &["Registry"],
        }
    }
}

impl Metric {
    /// Metric name and CloudWatch unit.
    pub fn name_and_unit(self) -> (&'static str, &'static str) {
        match self {
            Self::Launched => ("Launched", "Count"),
            Self::Completed => ("Completed", "Count"),
            Self::Failed => ("Failed", "Count"),
            Self::Retried => ("Retried", "Count"),
            Self::Registered => ("Registered", "Count"),
            Self::SpotSavings => ("SpotSavingsPercent", "Percent"),
            Self::EnqueueToLaunch => ("EnqueueToLaunchSeconds", "Seconds"),
            Self::IgnoredEvents => ("IgnoredEvents", "Count"),
            Self::Reconciled => ("Reconciled", "Count"),
            Self::Received => ("Received", "Count"),
            Self::Rejected => ("Rejected", "Count"),
            Self::Queued => ("Queued", "Count"),
            // The same name as `Retried`, under more dimensions: CloudWatch keeps a metric per
            // dimension set, so the registry's total and its split by cause both exist.
            Self::RetriedByCause => ("Retried", "Count"),
            Self::Alerts => ("Alerts", "Count"),
            Self::ColdStart => ("ColdStart", "Count"),
            Self::PoolInUse => ("PoolInUse", "Count"),
            Self::PoolLimit => ("PoolLimit", "Count"),
        }
    }
}

/// One EMF line with `values`, dimensioned by `registry` (production/research).
pub fn emf_line(timestamp_ms: i64, registry: &str, values: &[(Metric, f64)]) -> String {
    emf_line_with(timestamp_ms, &[("Registry", registry)], values)
}

/// One EMF line with `values` under `dimensions` (name, value), which must be each metric's
/// declared [`Metric::dimensions`].
pub fn emf_line_with(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    values: &[(Metric, f64)],
) -> String {
    let names: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
    debug_assert!(
        values
            .iter()
            .all(|(m, _)| m.dimensions() == names.as_slice()),
        "{values:?} are not declared with the dimensions {names:?}"
    );
    let definitions: Vec<Value> = values
        .iter()
        .map(|(m, _)| {
            let (name, unit) = m.name_and_unit();
            json!({"Name": name, "Unit": unit})
        })
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [names], "Metrics": definitions}]
        }),
    );
    for (name, value) in dimensions {
        line.insert((*name).into(), json!(value));
    }
    for (m, v) in values {
        line.insert(m.name_and_unit().0.into(), json!(v));
    }
    Value::Object(line).to_string()
}

/// Writes one EMF line to stdout, where the Lambda runtime hands it to CloudWatch Logs.
pub fn emit(registry: &str, values: &[(Metric, f64)]) {
    emit_with(&[("Registry", registry)], values);
}

/// [`emit`] under other dimensions (see [`emf_line_with`]).
pub fn emit_with(dimensions: &[(&str, &str)], values: &[(Metric, f64)]) {
    println!(
        "{}",
        emf_line_with(crate::time_util::now_epoch_ms(), dimensions, values)
    );
}

/// Spot savings of attempts in percent: `1 − billable / training` over the spot attempts that
/// report both; `None` when none do.
pub fn spot_savings_percent<'a>(attempts: impl IntoIterator<Item = &'a Attempt>) -> Option<f64> {
    let (billable, training) = attempts
        .into_iter()
        .filter(|a| a.spot)
        .filter_map(|a| Some((a.billable_s?, a.training_s?)))
        .fold((0u64, 0u64), |(b, t), (ab, at)| (b + ab, t + at));
    (training > 0).then(|| (1.0 - billable as f64 / training as f64) * 100.0)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn emf_lines_declare_every_value() {
        let line = emf_line(
            1_795_000_000_000,
            "research",
            &[(Metric::Launched, 1.0), (Metric::EnqueueToLaunch, 2.5)],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "trainq");
        assert_eq!(declared["Dimensions"], json!([["Registry"]]));
        assert_eq!(
            declared["Metrics"][1],
            json!({"Name": "EnqueueToLaunchSeconds", "Unit": "Seconds"})
        );
        assert_eq!(
            (v["Launched"].as_f64(), v["EnqueueToLaunchSeconds"].as_f64()),
            (Some(1.0), Some(2.5))
        );
        assert_eq!(v["Registry"], "research");
        assert!(!line.contains('\n'), "one line");
    }

    #[test]
    fn spot_savings_count_only_spot_attempts_with_figures() {
        let attempt = |spot, billable, training| {
            let mut a = Attempt::planned(Uuid::nil(), 1, "ml.g5.xlarge", spot);
            a.billable_s = billable;
            a.training_s = training;
            a
        };
        let attempts = [
            attempt(true, Some(30), Some(100)),
            attempt(true, Some(50), Some(100)),
            attempt(false, Some(100), Some(100)),
            attempt(true, None, Some(100)),
        ];
        assert_eq!(spot_savings_percent(&attempts), Some(60.0));
        assert_eq!(spot_savings_percent(&attempts[2..]), None);
    }
}
