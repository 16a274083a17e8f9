//! The stack file: where a deployed (or local) trainq stack's resources are. `trainq-devstack`
//! writes one for the local stack (`.devstack/stack.json`); a deployment writes one from the
//! CloudFormation outputs. The `trainq` command line and the tests read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A trainq stack's resources and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// AWS region of the stack.
    pub region: String,
    /// The requests queue (SQS URL).
    pub requests_queue_url: String,
    /// Its dead-letter queue.
    pub requests_dlq_url: String,
    /// The watcher's queue of SageMaker state-change events.
    pub job_events_queue_url: String,
    /// The jobs table.
    pub jobs_table: String,
    /// The capacity ledger's table (absent in stack files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_table: Option<String>,
    /// The alerts bus.
    pub alerts_bus: String,
    /// The queue every alert is copied to.
    pub alerts_queue_url: String,
    /// The registries' configuration, as the functions get it (`TRAINQ_PRODUCTION_*`,
    /// `TRAINQ_RESEARCH_*`): `trainq submit` validates requests with it before sending.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registries: BTreeMap<String, String>,
    /// The scheduler's configuration, as the functions get it (`TRAINQ_POOL_LIMITS`,
    /// `TRAINQ_PRIORITY_CLASSES`, `TRAINQ_CUSTOMER_WEIGHTS`): `trainq status` and `trainq queue`
    /// show pools against their limits and waiting requests in their classes with it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scheduler: BTreeMap<String, String>,
    /// Account quotas of training instances by instance type, for `trainq status`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quotas: BTreeMap<String, u32>,
    /// Service endpoints that replace AWS's (`default`, `sagemaker`, …); empty for AWS.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, String>,
    /// The local stack only: its control URL and state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devstack: Option<DevstackInfo>,
}

/// What only a local stack has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevstackInfo {
    /// The local SageMaker endpoint (its control API: faults, stats, interrupt).
    pub sagemaker_url: String,
    /// Where the devstack keeps its state, logs and job directories.
    pub state_dir: String,
    /// The supervising process.
    pub pid: u32,
}

/// The variables of the scheduler's configuration a stack file keeps.
pub const SCHEDULER_VARIABLES: [&str; 3] = [
    "TRAINQ_POOL_LIMITS",
    "TRAINQ_PRIORITY_CLASSES",
    "TRAINQ_CUSTOMER_WEIGHTS",
];

impl StackConfig {
    /// Both registries, from [`Self::registries`]; the error names the variable.
    pub fn load_registries(&self) -> Result<crate::Registries, crate::config::ConfigError> {
        crate::config::Env::from_fn(|k| self.registries.get(k).cloned()).registries()
    }
}
