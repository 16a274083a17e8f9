//! Alerts: events on the custom bus `trainq-alerts` with `source: trainq`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::registry::RegistryKind;

/// The `source` of every alert event.
pub const ALERT_SOURCE: &str = "trainq";

/// The kinds of alert, each an EventBridge `detail-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A malformed or disallowed request was rejected.
    RequestRejected,
    /// A training job failed and will not be retried.
    JobFailed,
    /// System failures used up the retry budget.
    RetriesExhausted,
    /// Throttling, quotas or lost spot capacity are pushing requests back.
    CapacityPressure,
    /// A model package was registered.
    ModelRegistered,
    /// A model was registered but held for manual approval by its gate.
    ModelHeldByGate,
    /// The registry refused a completed job's model (the record ends `RegistrationRejected`).
    RegistrationFailed,
    /// A request waited longer than its `max_queue_s` for capacity (the record ends `Expired`).
    RequestExpired,
    /// A message reused a request id with different content; it was refused and the request
    /// that owns the id goes on unchanged.
    ConflictingRequest,
    /// A model's manifest shows a breaking change against the model in service; it was
    /// registered for a person to decide (never approved automatically).
    ModelIncompatible,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 10] = [
        Self::RequestRejected,
        Self::JobFailed,
        Self::RetriesExhausted,
        Self::CapacityPressure,
        Self::ModelRegistered,
        Self::ModelHeldByGate,
        Self::RegistrationFailed,
        Self::RequestExpired,
        Self::ConflictingRequest,
        Self::ModelIncompatible,
    ];

    /// The kind whose detail type is `name`.
    pub fn from_detail_type(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.detail_type() == name)
    }

    /// The anchor of this kind's section in `docs/runbook.md` (its heading is the
    /// detail-type): `training-retries-exhausted`.
    pub fn runbook_anchor(self) -> String {
        self.detail_type().to_lowercase().replace(' ', "-")
    }

    /// The EventBridge `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::RequestRejected => "Training Request Rejected",
            Self::JobFailed => "Training Job Failed",
            Self::RetriesExhausted => "Training Retries Exhausted",
            Self::CapacityPressure => "Training Capacity Pressure",
            Self::ModelRegistered => "Model Registered",
            Self::ModelHeldByGate => "Model Held By Gate",
            Self::RegistrationFailed => "Model Registration Failed",
            Self::RequestExpired => "Training Request Expired",
            Self::ConflictingRequest => "Conflicting Request",
            Self::ModelIncompatible => "Model Incompatible",
        }
    }
}

/// Where the runbook is when the stack does not say (`TRAINQ_RUNBOOK_URL`): its place in
/// this repository.
pub const DEFAULT_RUNBOOK: &str = "docs/runbook.md";

/// The `detail` of an alert event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDetail {
    /// The alert's own id: the same at every delivery of this alert (the outbox delivers at
    /// least once), so consumers de-duplicate by it. Absent only on alerts sent outside the
    /// outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<Uuid>,
    /// The request.
    pub request_id: Uuid,
    /// Customer slug, when known.
    pub customer: Option<String>,
    /// Project slug, when known.
    pub project: Option<String>,
    /// Registry, when known.
    pub registry: Option<RegistryKind>,
    /// The job concerned, when there is one.
    pub job_name: Option<String>,
    /// What happened, in words.
    pub reason: String,
    /// The command that shows the request: `trainq jobs show <request id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What to do: this kind's section of the runbook (added when the alert is sent, from the
    /// stack's runbook address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// The same as fields a person or a rule can act on (e.g. `sender`, `existing_digest`,
    /// `refused_digest`); absent when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}

/// One alert to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Which alert.
    pub kind: AlertKind,
    /// Its detail.
    pub detail: AlertDetail,
}

impl Alert {
    /// An alert about the request in `record`.
    pub fn about(kind: AlertKind, record: &crate::JobRecord, reason: impl Into<String>) -> Self {
        Self {
            kind,
            detail: AlertDetail {
                alert_id: None,
                request_id: record.request_id,
                customer: record.customer.clone(),
                project: record.project.clone(),
                registry: record.registry,
                job_name: record.current_attempt().map(|a| a.job_name.clone()),
                reason: reason.into(),
                command: Some(format!("trainq jobs show {}", record.request_id)),
                runbook: None,
                facts: BTreeMap::new(),
            },
        }
    }

    /// The alert with `facts` added.
    pub fn with_facts<K: Into<String>, V: Into<String>>(
        mut self,
        facts: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.detail
            .facts
            .extend(facts.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }
}

#[cfg(test)]
mod runbook_tests {
    use super::*;

    #[test]
    fn every_alert_has_a_runbook_section_under_its_detail_type() {
        let runbook = include_str!("../../docs/runbook.md");
        for kind in AlertKind::ALL {
            let heading = format!("\n### {}\n", kind.detail_type());
            assert!(
                runbook.contains(&heading),
                "docs/runbook.md lacks `{heading}`"
            );
        }
        assert_eq!(
            AlertKind::RetriesExhausted.runbook_anchor(),
            "training-retries-exhausted"
        );
    }
}
