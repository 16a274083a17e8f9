//! Model registration of a completed request: one package per completed job, in the model
//! package group of the request's own registry, approved or held by the policy's gate
//! (and the request's, which only tightens; see `trainq_common::approval`).
//!
//! Exactly one package, whatever the delivery pattern:
//! - the watcher that records `Completed` takes a registration lease in the same write, so
//!   duplicates of the event back off;
//! - before creating, the group is searched for a package that names the job (a holder that
//!   died after CreateModelPackage left one), and the create carries the job name as
//!   `ClientToken`;
//! - a holder that fails releases the lease so the redelivered event takes over; one that
//!   dies is covered by the lease lapsing (the next duplicate or the reconcile takes over).

use tracing::{info, warn};
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::approval::GateDecision;
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, ModelRegistry, RequestQueue, TrainingService, Write,
};
use trainq_common::registration::{completed_attempt, package_spec};
use trainq_common::state::JobState;
use trainq_common::time_util::now_epoch_s;
use trainq_common::{JobRecord, ServiceError};

use crate::{CONFLICT_ATTEMPTS, Watcher, notify};

/// How a registration ended.
enum Registration {
    /// The package exists (created now, or found from an earlier try).
    Registered {
        arn: String,
        group: String,
        decision: GateDecision,
        manifest_digest: Option<String>,
    },
    /// The model cannot be registered; the reason says why.
    Rejected(String),
}

/// Whether nobody holds the registration of this `Completed` record.
pub(crate) fn lease_lapsed(record: &JobRecord) -> bool {
    record
        .lease_until
        .is_none_or(|until| until <= now_epoch_s())
}

impl<S, T, A, Q, M, L> Watcher<S, T, A, Q, M, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    M: ModelRegistry,
    L: CapacityLedger,
{
    /// Takes the lapsed registration lease of a `Completed` record, then registers. A
    /// conflict means someone else moved the record: theirs to finish.
    pub(crate) async fn take_over_registration(
        &self,
        mut record: JobRecord,
    ) -> Result<(), ServiceError> {
        warn!("taking over the registration of a completed request nobody holds");
        record.lease_until = Some(now_epoch_s() + i64::from(self.config.registration_lease_s));
        record.touch();
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await? {
            Write::Written => self.register(record).await,
            Write::Conflict(_) => Ok(()),
        }
    }

    /// Registers the model of a `Completed` record whose registration lease this watcher
    /// holds (`record` is the version it wrote).
    pub(crate) async fn register(&self, record: JobRecord) -> Result<(), ServiceError> {
        match self.registration(&record).await {
            Ok(outcome) => {
                // Dying here leaves the lease held: the next holder waits for it to lapse.
                trainq_common::chaos::point("watcher: package created, before recording it")?;
                self.finish(record, outcome).await
            }
            Err(e) => {
                // Let the redelivered event take over at once instead of waiting out the lease.
                let mut released = record;
                released.lease_until = None;
                let expected = released.next_version();
                if let Err(write) = self.store.put_if_version(&released, expected).await {
                    warn!(error = %write, "could not release the registration lease");
                }
                Err(e)
            }
        }
    }

    /// Finds or creates the package. `Err` only for failures worth another try.
    async fn registration(&self, record: &JobRecord) -> Result<Registration, ServiceError> {
        let Some(kind) = record.registry else {
            return Ok(Registration::Rejected(
                "the record names no registry".into(),
            ));
        };
        let registry = self.config.registries.get(kind);
        let record = self.with_artifact(record).await?;
        let evidence = self.evidence(&record, registry).await?;
        let (spec, decision) = match package_spec(&record, registry, &evidence) {
            Ok(found) => found,
            Err(e) => return Ok(Registration::Rejected(e.to_string())),
        };
        self.models.ensure_group(&spec).await?;
        let arn = match self.models.find_package(&spec).await? {
            Some(arn) => {
                info!(%arn, "found the package an earlier try registered");
                arn
            }
            None => match self.models.create_package(&spec).await {
                Ok(arn) => arn,
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => return Ok(Registration::Rejected(e.to_string())),
            },
        };
        Ok(Registration::Registered {
            arn,
            group: spec.group,
            decision,
            manifest_digest: evidence.manifest_digest,
        })
    }

    /// The record with its completed attempt's artifact and metrics filled from
    /// DescribeTrainingJob when the completion event and its describe left them out. A
    /// describe that may succeed later is an error (try again), not a missing artifact.
    async fn with_artifact(&self, record: &JobRecord) -> Result<JobRecord, ServiceError> {
        let mut record = record.clone();
        let Some(attempt) = completed_attempt(&record) else {
            return Ok(record);
        };
        if attempt.model_artifact.is_some() {
            return Ok(record);
        }
        let name = attempt.job_name.clone();
        match self.training.describe_training_job(&name).await {
            Ok(d) => {
                if let Some(a) = record.attempts.iter_mut().find(|a| a.job_name == name) {
                    a.model_artifact = d.model_artifact;
                    a.final_metrics.extend(d.final_metrics);
                }
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => warn!(error = %e, "DescribeTrainingJob for the model artifact failed"),
        }
        Ok(record)
    }

    /// Writes `Registered` or `RegistrationRejected` (re-reading on conflict), then alerts.
    async fn finish(
        &self,
        mut record: JobRecord,
        outcome: Registration,
    ) -> Result<(), ServiceError> {
        for _ in 0..CONFLICT_ATTEMPTS {
            let before = record.state;
            match &outcome {
                Registration::Registered {
                    arn,
                    group,
                    decision,
                    manifest_digest,
                } => {
                    record.transition(JobState::Registered).ok();
                    record.model_package_arn = Some(arn.clone());
                    record.model_group = Some(group.clone());
                    record.model_approval = Some(decision.status.as_str().into());
                    record.gate_checks = decision.checks.clone();
                    record.compatibility = decision.compatibility.clone();
                    record.manifest_digest = manifest_digest.clone();
                    record.reason = decision.held.clone();
                }
                Registration::Rejected(why) => {
                    record.transition(JobState::RegistrationRejected).ok();
                    record.reason = Some(why.clone());
                }
            }
            record.lease_until = None;
            let mut staged = record.clone();
            staged.stage_alert(registration_alert(&record, &outcome));
            let expected = staged.next_version();
            match self.store.put_if_version(&staged, expected).await? {
                Write::Written => {
                    notify::state_metrics(before, &staged);
                    return self.deliver_alerts(&staged).await;
                }
                Write::Conflict(_) => match self.store.get(record.request_id).await? {
                    Some(current) if current.state == JobState::Completed => record = current,
                    // Someone else finished (or an operator moved it): nothing left to do.
                    _ => return Ok(()),
                },
            }
        }
        Err(ServiceError::ConditionFailed("record kept changing".into()))
    }
}

/// `Model Registered`, `Model Held By Gate` or `Model Registration Failed`.
fn registration_alert(record: &JobRecord, outcome: &Registration) -> Alert {
    match outcome {
        Registration::Registered { arn, decision, .. } => match &decision.held {
            Some(why) => Alert::about(
                if decision.incompatible() {
                    AlertKind::ModelIncompatible
                } else {
                    AlertKind::ModelHeldByGate
                },
                record,
                format!("{arn} is PendingManualApproval: {why}"),
            )
            .with_facts(decision.facts()),
            None => Alert::about(
                AlertKind::ModelRegistered,
                record,
                format!("{arn} registered as {}", decision.status.as_str()),
            ),
        },
        Registration::Rejected(why) => Alert::about(
            AlertKind::RegistrationFailed,
            record,
            format!("the model was not registered: {why}"),
        ),
    }
}
