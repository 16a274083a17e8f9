//! The job record: one item per request in the jobs table, the single source of truth an
//! on-call engineer reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::registry::RegistryKind;
use crate::request::TrainingRequest;
use crate::scheduling::Place;
use crate::state::{self, ForbiddenTransition, JobState};
use crate::time_util::now_rfc3339;

/// How long a rejected request's record is kept before the table's TTL removes it.
pub const REJECTED_RETENTION_DAYS: i64 = 90;

/// How much of a rejected message's raw body is kept.
pub const RAW_BODY_KEEP_BYTES: usize = 4096;

/// A request and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The request's id (the table's key).
    pub request_id: Uuid,
    /// Where the request stands.
    pub state: JobState,
    /// Bumped by every write; writes are conditional on the version they read.
    pub version: u64,
    /// The request's registry (absent only for rejected bodies that did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryKind>,
    /// Customer slug, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Project slug, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `customer#project`: the key of the by-project index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_project: Option<String>,
    /// Experiment id of research sweeps: the key of the by-experiment index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    /// The validated request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<TrainingRequest>,
    /// Rejected requests only: the raw body, cut to [`RAW_BODY_KEEP_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    /// Why the record is in its state: the rejection, deferral or failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The SQS message id of the first delivery seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Who sent the request: SQS's `SenderId` of its message (an IAM user id, or a role id
    /// and session), which decided what the request may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// SHA-256 of the request as validated (its canonical JSON), or of the raw body of a
    /// rejected one: what tells a true duplicate from a different request reusing the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<String>,
    /// Messages refused under this request id, oldest first (at most [`MAX_REFUSALS`]): a
    /// rejection a valid request took over, a conflicting or malformed request reusing the id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    /// When the message was first sent to the queue (SQS `SentTimestamp`, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_at: Option<String>,
    /// Training attempts, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// While `Launching`: until when (epoch seconds) the dispatcher that claimed it holds
    /// the launch; a redelivery after that takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    /// How often the request was deferred by throttling or quota.
    #[serde(default)]
    pub defer_count: u32,
    /// While `Queued`: its place in the waiting room (what admission reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Place>,
    /// While `Queued`: the waiting-room index's partition key (the class rank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_class: Option<String>,
    /// While `Queued`: the waiting-room index's sort key (customer, age, id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_order: Option<String>,
    /// The registered model package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_package_arn: Option<String>,
    /// The model package group it was registered in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_group: Option<String>,
    /// What the approval gate checked (policy, request, champion), each with its figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate_checks: Vec<crate::approval::GateCheck>,
    /// The model's manifest against the one in service's, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<crate::approval::Compatibility>,
    /// `sha256:…` of the model's manifest, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// The package's approval status when registered (`Approved`, `PendingManualApproval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_approval: Option<String>,
    /// Spot savings of the whole request in percent: 1 − billable / training seconds over its
    /// spot attempts that reported both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_savings_pct: Option<f64>,
    /// Alerts written with the state change that caused them and not yet delivered (see
    /// [`crate::outbox`]), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<crate::outbox::PendingAlert>,
    /// `pending` while [`Self::outbox`] holds alerts: the key of the sparse `pending-alerts`
    /// index the reconcile reads to deliver what a crashed function left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts_pending: Option<String>,
    /// Who cancelled the request (`trainq jobs cancel`: the caller's AWS identity): the
    /// tombstone every part honours (see [`crate::cancel`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// When DynamoDB may delete the record (epoch seconds, the table's TTL attribute): set on
    /// rejected requests only, which are kept [`REJECTED_RETENTION_DAYS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// When the record was created (RFC 3339).
    pub created_at: String,
    /// When the record last changed (RFC 3339): the sort key of the by-state index.
    pub updated_at: String,
}

/// How many refusals a record keeps (the oldest are dropped): a record must stay far below
/// DynamoDB's 400 KB item limit whoever keeps sending under its id.
pub const MAX_REFUSALS: usize = 20;

/// A message refused under a record's request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// When it was refused (RFC 3339).
    pub at: String,
    /// Its SQS message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Its sender (`SenderId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The digest of what it asked for (see [`JobRecord::request_digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// One training job launched (or being launched) for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// The SageMaker training job name, derived from request id and number.
    pub job_name: String,
    /// The job's ARN once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_arn: Option<String>,
    /// Instance type of this attempt (its rung of the fallback ladder).
    pub instance_type: String,
    /// Whether this attempt uses managed spot.
    pub spot: bool,
    /// SageMaker's last known `TrainingJobStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When CreateTrainingJob succeeded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_at: Option<String>,
    /// When the job ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// SageMaker's failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Secondary statuses the job went through, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_history: Vec<SecondaryStatus>,
    /// `LastModifiedTime` (epoch ms) of the newest event applied: older events are stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_ms: Option<i64>,
    /// Seconds billed (spot: after savings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable_s: Option<u64>,
    /// Seconds of training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_s: Option<u64>,
    /// The model artifact (`model.tar.gz`) once the job completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact: Option<String>,
    /// Final metrics by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub final_metrics: std::collections::BTreeMap<String, f64>,
    /// This attempt's spot savings in percent (spot attempts with billing figures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_savings_pct: Option<f64>,
    /// Secondary statuses left out of [`Self::secondary_history`] to keep the record within
    /// DynamoDB's item limit (see [`crate::record_size`]): those between the first and the
    /// kept latest ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub elided_statuses: u32,
    /// Who started this attempt by hand (`trainq jobs retry`: the caller's AWS identity). Such
    /// an attempt starts a fresh retry budget and the ladder over (decision 40).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_by: Option<String>,
}

/// One secondary status of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondaryStatus {
    /// e.g. `Starting`, `Training`, `Interrupted`, `MaxWaitTimeExceeded`.
    pub status: String,
    /// Start, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// End, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// SageMaker's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Attempt {
    /// Whether the job got an instance and ran: a planned attempt, or a job refused for
    /// capacity, never did, and has no log or model to point at.
    pub fn started(&self) -> bool {
        const RUNNING: [&str; 6] = [
            "Downloading",
            "DownloadingTrainingImage",
            "Training",
            "Uploading",
            "Interrupted",
            "Restarting",
        ];
        self.training_s.is_some_and(|s| s > 0)
            || self
                .secondary_history
                .iter()
                .any(|s| RUNNING.contains(&s.status.as_str()))
    }

    /// A planned attempt: named, not yet launched.
    pub fn planned(request_id: Uuid, number: u32, instance_type: &str, spot: bool) -> Self {
        Self {
            number,
            job_name: crate::naming::job_name(request_id, number),
            job_arn: None,
            instance_type: instance_type.to_owned(),
            spot,
            status: None,
            launched_at: None,
            ended_at: None,
            failure_reason: None,
            secondary_history: Vec::new(),
            last_event_ms: None,
            billable_s: None,
            training_s: None,
            model_artifact: None,
            final_metrics: Default::default(),
            spot_savings_pct: None,
            elided_statuses: 0,
            retried_by: None,
        }
    }
}

impl JobRecord {
    /// A new record for `request_id` in `state`, version 1.
    pub fn new(request_id: Uuid, state: JobState) -> Self {
        let now = now_rfc3339();
        Self {
            request_id,
            state,
            version: 1,
            registry: None,
            customer: None,
            project: None,
            customer_project: None,
            experiment_id: None,
            request: None,
            raw_body: None,
            reason: None,
            message_id: None,
            sender: None,
            request_digest: None,
            refusals: Vec::new(),
            enqueued_at: None,
            attempts: Vec::new(),
            lease_until: None,
            defer_count: 0,
            waiting: None,
            queue_class: None,
            queue_order: None,
            model_package_arn: None,
            model_group: None,
            gate_checks: Vec::new(),
            compatibility: None,
            manifest_digest: None,
            model_approval: None,
            spot_savings_pct: None,
            outbox: Vec::new(),
            alerts_pending: None,
            cancelled_by: None,
            expires_at: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// Fills the fields the indexes and the on-call views read from the request.
    pub fn with_request(mut self, request: TrainingRequest) -> Self {
        self.registry = Some(request.registry);
        self.customer = Some(request.customer.clone());
        self.project = Some(request.project.clone());
        self.customer_project = Some(format!("{}#{}", request.customer, request.project));
        self.experiment_id = request.experiment.as_ref().map(|e| e.id.clone());
        self.request = Some(request);
        self
    }

    /// Notes a message refused under this record's id; the oldest notes go beyond
    /// [`MAX_REFUSALS`]. A redelivery of a message already noted is not noted twice (the
    /// answer is `false`).
    pub fn note_refusal(&mut self, refusal: Refusal) -> bool {
        let seen = refusal.message_id.is_some()
            && self
                .refusals
                .iter()
                .any(|r| r.message_id == refusal.message_id && r.reason == refusal.reason);
        if seen {
            return false;
        }
        self.refusals.push(refusal);
        let excess = self.refusals.len().saturating_sub(MAX_REFUSALS);
        self.refusals.drain(..excess);
        true
    }

    /// This record as a refusal: a rejected record taken over by a valid request keeps it.
    pub fn as_refusal(&self) -> Refusal {
        Refusal {
            at: self.updated_at.clone(),
            message_id: self.message_id.clone(),
            sender: self.sender.clone(),
            digest: self.request_digest.clone(),
            reason: self.reason.clone().unwrap_or_default(),
        }
    }

    /// Attempts spent from the current retry budget, the current one included: counted from
    /// the latest attempt an operator started (a fresh budget), else from the first.
    pub fn budget_spent(&self) -> u32 {
        let Some(current) = self.attempts.last() else {
            return 0;
        };
        let start = self
            .attempts
            .iter()
            .rev()
            .find(|a| a.retried_by.is_some())
            .map_or(1, |a| a.number);
        current.number.saturating_sub(start) + 1
    }

    /// Keeps a rejected body, cut on a character boundary to [`RAW_BODY_KEEP_BYTES`].
    pub fn keep_raw_body(&mut self, body: &str) {
        let mut end = body.len().min(RAW_BODY_KEEP_BYTES);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        self.raw_body = Some(body[..end].to_owned());
    }

    /// Moves to `to` if the state machine allows it, and stamps `updated_at`. The caller then
    /// writes the record conditionally on [`Self::version`] − 1 (see [`Self::next_version`]).
    pub fn transition(&mut self, to: JobState) -> Result<(), ForbiddenTransition> {
        state::check(self.state, to)?;
        if self.state == JobState::Queued {
            // Out of the waiting room: out of its index too.
            self.waiting = None;
            self.queue_class = None;
            self.queue_order = None;
        }
        self.state = to;
        self.touch();
        Ok(())
    }

    /// Moves to `Queued` at `place`: the record enters the waiting-room index.
    pub fn enqueue(&mut self, place: Place) -> Result<(), ForbiddenTransition> {
        self.transition(JobState::Queued)?;
        self.queue_class = Some(place.queue_class());
        self.queue_order = Some(place.queue_order(self.request_id));
        self.waiting = Some(place);
        Ok(())
    }

    /// Stamps `updated_at` for a change that keeps the state.
    pub fn touch(&mut self) {
        self.updated_at = now_rfc3339();
    }

    /// Bumps the version for the next write and returns the version the store must still
    /// hold for that write to succeed.
    pub fn next_version(&mut self) -> u64 {
        let expected = self.version;
        self.version += 1;
        expected
    }

    /// The latest attempt.
    pub fn current_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// The latest attempt, mutable.
    pub fn current_attempt_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_table_and_keep_the_state_on_refusal() {
        let mut r = JobRecord::new(Uuid::nil(), JobState::Received);
        r.transition(JobState::Launching).unwrap();
        assert!(r.transition(JobState::Registered).is_err());
        assert_eq!(r.state, JobState::Launching);
    }

    #[test]
    fn next_version_returns_the_version_read() {
        let mut r = JobRecord::new(Uuid::nil(), JobState::Received);
        assert_eq!(r.next_version(), 1);
        assert_eq!(r.version, 2);
    }

    #[test]
    fn raw_bodies_are_cut_on_a_char_boundary() {
        let mut r = JobRecord::new(Uuid::nil(), JobState::Rejected);
        r.keep_raw_body(&"é".repeat(RAW_BODY_KEEP_BYTES));
        let kept = r.raw_body.unwrap();
        assert!(kept.len() <= RAW_BODY_KEEP_BYTES && kept.len() >= RAW_BODY_KEEP_BYTES - 1);
    }

    #[test]
    fn with_request_fills_the_index_keys() {
        let body = crate::testing::sample_research_request().to_string();
        let req = crate::request::parse(&body).unwrap();
        let r = JobRecord::new(Uuid::nil(), JobState::Received).with_request(req);
        assert_eq!(r.customer_project.as_deref(), Some("acme#scratch-detect"));
        assert_eq!(r.experiment_id.as_deref(), Some("lr-sweep-7"));
        assert_eq!(r.registry, Some(RegistryKind::Research));
    }
}
