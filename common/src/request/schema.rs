//! Serde types of the request schema v1. `docs/request.schema.json` describes the same shape
//! for the backend; a test keeps the two in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::registry::RegistryKind;

/// The only schema version this code reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A training request as the backend, the CLI or a researcher sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRequest {
    /// Always 1 for this schema.
    pub schema_version: u32,
    /// The client's idempotency key. Absent: derived from the SQS message id, so redeliveries
    /// of one message are still one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    /// Customer slug (`[a-z0-9-]`, ≤ 32).
    pub customer: String,
    /// Project slug (`[a-z0-9-]`, ≤ 32).
    pub project: String,
    /// Which registry's images, buckets and model groups the request uses.
    pub registry: RegistryKind,
    /// Why the training was requested.
    pub reason: Reason,
    /// `repository:tag` (or `repository@sha256:…`) inside the registry; never a full URI.
    pub image: String,
    /// The data to train on.
    pub dataset: Dataset,
    /// Passed to the training code as SageMaker hyperparameters (strings, as SageMaker requires).
    #[serde(default)]
    pub hyperparameters: BTreeMap<String, String>,
    /// Compute for the job.
    pub resources: Resources,
    /// Research sweeps: the experiment and trial this request belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
    /// Gate for approving the registered model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Overrides of the retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The priority class the request asks for, by rank (0 is the highest): it may lower the
    /// class its registry and reason give it, never raise it (a higher rank is lowered to that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The longest the request may wait for capacity, in seconds (60–2592000); past it the
    /// request ends `Expired`. Absent: it waits as long as it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_s: Option<u32>,
    /// Where the request came from, for its lineage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// What caused a request: recorded with it and its model (`trainq lineage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The dedupe key the request id was derived from (UUIDv5 of customer, project and key):
    /// the dispatcher checks that they agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// The shift signal that caused it, in the backend's words (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// Why a training was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The backend saw the data shift.
    DataShift,
    /// A periodic retrain.
    Scheduled,
    /// A person asked for it.
    Manual,
    /// A research experiment.
    Experiment,
}

/// The dataset: a version label and the S3 prefixes of its channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// The dataset's version label (recorded with the model).
    pub version: String,
    /// Channel name → `s3://bucket/prefix/`.
    pub channels: BTreeMap<String, String>,
    /// Channel name → a digest of its content, where the backend supplies one (e.g.
    /// `sha256:…` of the channel's file list), recorded for lineage.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<String, String>,
}

/// Compute resources for the training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// A SageMaker training instance type, e.g. `ml.g5.xlarge`.
    pub instance_type: String,
    /// Number of instances (1–20).
    #[serde(default = "default_instance_count")]
    pub instance_count: u32,
    /// EBS volume per instance in GB (1–16384).
    #[serde(default = "default_volume_gb")]
    pub volume_gb: u32,
    /// Maximum training time in seconds (60–2419200).
    pub max_runtime_s: u32,
    /// Use managed spot training.
    #[serde(default = "default_spot")]
    pub spot: bool,
    /// Spot only: the longest to wait for capacity plus training, ≥ `max_runtime_s`.
    /// Default: twice `max_runtime_s`, capped at SageMaker's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_s: Option<u32>,
    /// Instance types to fall back to when spot capacity is lost, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_instance_types: Vec<String>,
    /// Which rung of the ladder a waiting request may start on.
    #[serde(default, skip_serializing_if = "Prefer::is_default")]
    pub prefer: Prefer,
}

/// Which rung of its ladder a request may start on when its first choice is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    /// The first rung that has room now (the default): other instance types, then on demand.
    #[default]
    Available,
    /// Only the first rung (`instance_type`, spot as asked): wait for it rather than fall back.
    FirstChoice,
}

impl Prefer {
    fn is_default(&self) -> bool {
        *self == Self::Available
    }
}

fn default_instance_count() -> u32 {
    1
}
fn default_volume_gb() -> u32 {
    30
}
fn default_spot() -> bool {
    true
}

/// Research sweeps: experiment and trial labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// The experiment (sweep) id.
    pub id: String,
    /// This request's trial label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<String>,
}

/// Approval gate: the model is approved when its final `metric` is at least `min`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// A metric name from the image's metric definitions, e.g. `validation:accuracy`.
    pub metric: String,
    /// The lowest value that approves the model.
    pub min: f64,
}

/// Per-request overrides of the retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts allowed, first one included (1–10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Also retry failures of the training code itself.
    #[serde(default)]
    pub retry_user_failures: bool,
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
