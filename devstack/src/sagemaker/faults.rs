//! Faults the endpoint injects on request, and the counters tests read.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::protocol::ApiError;

/// Fault settings (`PUT /_devstack/faults`). All off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of CreateTrainingJob calls answered `ThrottlingException` (0.0–1.0), spread
    /// evenly and deterministically over the calls.
    pub throttle_rate: f64,
    /// Share of CreateTrainingJob calls answered `InternalFailure` (HTTP 500).
    pub internal_error_rate: f64,
    /// Instance type (spot and on demand together) or pool (`ml.g5.xlarge/spot`,
    /// `ml.g5.xlarge/on-demand`: AWS's separate quotas) → instances that may run at once;
    /// beyond it CreateTrainingJob answers `ResourceLimitExceeded` as AWS does for the
    /// account-level quota.
    pub quotas: BTreeMap<String, u32>,
    /// Instance types without capacity: jobs that run there fail before training with
    /// `CapacityError` (jobs that run as processes only).
    pub capacity_errors: BTreeSet<String>,
    /// Instance types whose spot capacity is lost: a spot job there is interrupted after its
    /// first checkpoint and, capacity not coming back within MaxWait, ends `Stopped` with
    /// `MaxWaitTimeExceeded`.
    pub spot_capacity_lost: BTreeSet<String>,
    /// Instance type → spot interruptions each spot job there suffers (one after each new
    /// checkpoint); the job resumes from its checkpoints every time.
    pub spot_interruptions: BTreeMap<String, u32>,
    /// Milliseconds CreateTrainingJob takes before it creates the job (AWS's take a second or
    /// so): the window in which an operator's cancel races a launch.
    pub create_delay_ms: u64,
    /// Share of PutEvents calls carrying trainq's alerts (an entry with `Source: trainq`)
    /// answered `InternalException` (HTTP 500), spread evenly: an alert sink that fails.
    pub alert_failure_rate: f64,
    /// Seconds AWS's clock is ahead of this machine's, as the `Date` of STS answers says: the
    /// CLI stamps operator writes by AWS's clock, not the laptop's.
    pub clock_offset_s: i64,
}

/// Counters (`GET /_devstack/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every CreateTrainingJob call received.
    pub create_calls: u64,
    /// Jobs actually created.
    pub jobs_created: u64,
    /// Calls answered `ThrottlingException`.
    pub throttled: u64,
    /// Calls answered `InternalFailure`.
    pub internal_errors: u64,
    /// Calls answered `ResourceLimitExceeded`.
    pub quota_refused: u64,
    /// Calls answered `ResourceInUse` (a reused job name).
    pub name_in_use: u64,
    /// Calls answered `ValidationException`.
    pub invalid: u64,
    /// PutEvents calls carrying trainq's alerts.
    pub alert_calls: u64,
    /// Of those, answered `InternalException` by `alert_failure_rate`.
    pub alerts_refused: u64,
    /// Pool (`ml.g5.xlarge/spot`) → the most instances that ever ran in it at once: what
    /// trainq's capacity ledger must keep within its limits.
    pub peak_running: BTreeMap<String, u32>,
    /// The contract check of every call through the front door.
    pub contract: crate::contract::ContractStats,
    /// DynamoDB reads by the access key that signed them.
    #[serde(default)]
    pub dynamodb_reads: BTreeMap<String, super::DynamoReads>,
}

impl Stats {
    pub(super) fn count_refusal(&mut self, e: &ApiError) {
        match e.code {
            "ResourceLimitExceeded" => self.quota_refused += 1,
            "ResourceInUse" => self.name_in_use += 1,
            _ => self.invalid += 1,
        }
    }
}

/// Whether the `n`-th call (1-based) falls in a share `rate` spread evenly over the calls.
fn hits(rate: f64, n: u64) -> bool {
    let rate = rate.clamp(0.0, 1.0);
    (n as f64 * rate).floor() > ((n - 1) as f64 * rate).floor()
}

impl Faults {
    /// Throttling and internal errors, decided before the request is even read (as in AWS).
    pub(super) fn before_create(&self, stats: &mut Stats) -> Result<(), ApiError> {
        let n = stats.create_calls;
        if hits(self.throttle_rate, n) {
            stats.throttled += 1;
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            ));
        }
        if hits(self.internal_error_rate, n) {
            stats.internal_errors += 1;
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "An internal error occurred (injected by devstack)",
            ));
        }
        Ok(())
    }

    /// A PutEvents call carrying trainq's alerts: fails by `alert_failure_rate`.
    pub(super) fn before_alert(&self, stats: &mut Stats) -> Result<(), ApiError> {
        stats.alert_calls += 1;
        if hits(self.alert_failure_rate, stats.alert_calls) {
            stats.alerts_refused += 1;
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalException",
                "An internal error occurred (injected by devstack)",
            ));
        }
        Ok(())
    }
}

/// Whether a call is EventBridge PutEvents with one of trainq's alerts (`Source: trainq`).
pub(super) fn is_alert(headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    let put_events = headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t == "AWSEvents.PutEvents");
    put_events
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
            v["Entries"]
                .as_array()
                .is_some_and(|es| es.iter().any(|e| e["Source"] == "trainq"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_spread_evenly() {
        let count = |rate| (1..=100).filter(|n| hits(rate, *n)).count();
        assert_eq!(count(0.0), 0);
        assert_eq!(count(0.25), 25);
        assert_eq!(count(1.0), 100);
    }
}
