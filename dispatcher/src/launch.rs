//! The launch path of a valid request: claim → create → record.
//!
//! Exactly one training job per attempt, whatever the delivery pattern:
//! - the claim is a conditional write that also takes a launch lease, so a concurrent
//!   duplicate (same batch or another invocation) sees `Launching` with a live lease and
//!   backs off without calling SageMaker;
//! - the job name is derived from (request id, attempt), so if a dispatcher dies after
//!   CreateTrainingJob and before recording it, the redelivery that takes over the expired
//!   lease gets `ResourceInUse` for the same name and records the attempt as launched.

use aws_lambda_events::event::sqs::SqsMessage;
use tracing::{Span, warn};
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::launch::{Rung, plan};
use trainq_common::metrics::{self, Metric};
use trainq_common::ports::{AlertSink, JobStore, RequestQueue, TrainingService, Write};
use trainq_common::request::ValidRequest;
use trainq_common::state::JobState;
use trainq_common::time_util::{now_epoch_ms, now_epoch_s, now_rfc3339, to_rfc3339};
use trainq_common::{Attempt, JobRecord, ServiceError, chaos};

use crate::backoff::defer_delay_s;
use crate::{Dispatcher, Outcome, receive_count};

impl<S, T, A, Q> Dispatcher<S, T, A, Q>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
{
    pub(crate) async fn launch(&self, valid: ValidRequest, message: &SqsMessage) -> Outcome {
        let mut record = match self.claim(&valid, message).await {
            Ok(record) => record,
            Err(outcome) => return outcome,
        };
        // A claimed record always carries its planned attempt (see `claim` and `take_over`).
        let Some(attempt) = record.current_attempt().cloned() else {
            return Outcome::Retry(ServiceError::Permanent(
                "claimed record has no attempt".into(),
            ));
        };
        let registry = self.config.registries.get(valid.request.registry);
        let rung = Rung {
            instance_type: attempt.instance_type.clone(),
            spot: attempt.spot,
        };
        let spec = plan(&valid, registry, attempt.number, &rung);
        Span::current().record("job_name", spec.job_name.as_str());
        if let Err(e) = chaos::point("dispatcher: claimed, before CreateTrainingJob") {
            return Outcome::Retry(e);
        }

        let created = self.training.create_training_job(&spec).await;
        if let Err(e) = chaos::point("dispatcher: after CreateTrainingJob, before recording it") {
            return Outcome::Retry(e);
        }
        let outcome = match created {
            Ok(arn) => self.record_launch(record, Some(arn), false).await,
            Err(ServiceError::AlreadyExists(_)) => self.record_launch(record, None, true).await,
            Err(e) if e.is_retryable() => self.defer(&mut record, e, message).await,
            Err(e) => self.fail(&mut record, e).await,
        };
        emit_metrics(&outcome, valid.request.registry.as_str(), message);
        outcome
    }

    /// Creates the record in `Launching` with a lease, or takes over an existing one whose
    /// launch is unfinished and unleased. `Err` carries the outcome when there is nothing to launch.
    async fn claim(
        &self,
        valid: &ValidRequest,
        message: &SqsMessage,
    ) -> Result<JobRecord, Outcome> {
        let now = now_epoch_s();
        let mut record = JobRecord::new(valid.request_id, JobState::Launching)
            .with_request(valid.request.clone());
        record.message_id = message.message_id.clone();
        record.enqueued_at = sent_at(message);
        record.lease_until = Some(now + i64::from(self.config.lease_s));
        record
            .attempts
            .push(planned_attempt(valid, 1, Rung::first(valid)));

        let existing = match self.store.put_new(&record).await {
            Ok(Write::Written) => return Ok(record),
            Ok(Write::Conflict(Some(existing))) => *existing,
            Ok(Write::Conflict(None)) => {
                return Err(Outcome::Retry(ServiceError::Transient(
                    "record exists but could not be read".into(),
                )));
            }
            Err(e) => return Err(Outcome::Retry(e)),
        };
        self.take_over(existing, valid, now).await
    }

    async fn take_over(
        &self,
        mut record: JobRecord,
        valid: &ValidRequest,
        now: i64,
    ) -> Result<JobRecord, Outcome> {
        match record.state {
            JobState::Launching if record.lease_until.is_some_and(|until| until > now) => {
                return Err(Outcome::Busy);
            }
            JobState::Launching => {
                warn!(
                    "taking over an expired launch lease (an earlier dispatcher stopped mid-launch)"
                );
                record.touch();
            }
            // Deferred by back-pressure, or a new attempt planned by the watcher.
            JobState::Received | JobState::Deferred | JobState::Retrying => {
                record
                    .transition(JobState::Launching)
                    .map_err(|e| Outcome::Retry(ServiceError::Permanent(e.to_string())))?;
            }
            other => return Err(Outcome::Duplicate(other)),
        }
        if record.attempts.is_empty() {
            record
                .attempts
                .push(planned_attempt(valid, 1, Rung::first(valid)));
        }
        record.lease_until = Some(now + i64::from(self.config.lease_s));
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => Ok(record),
            // Someone else moved the record between our read and write: they own it now.
            Ok(Write::Conflict(_)) => Err(Outcome::Busy),
            Err(e) => Err(Outcome::Retry(e)),
        }
    }

    async fn record_launch(
        &self,
        mut record: JobRecord,
        arn: Option<String>,
        already_existed: bool,
    ) -> Outcome {
        let now = now_rfc3339();
        if let Some(attempt) = record.current_attempt_mut() {
            attempt.job_arn = arn.or_else(|| attempt.job_arn.take());
            // Never over what SageMaker already said about the job (an event may be first).
            attempt.status.get_or_insert_with(|| "InProgress".into());
            attempt.launched_at.get_or_insert(now);
        }
        let job_name = record
            .current_attempt()
            .map(|a| a.job_name.clone())
            .unwrap_or_default();
        record.lease_until = None;
        record.reason = None;
        if let Err(e) = record.transition(JobState::InProgress) {
            return Outcome::Retry(ServiceError::Permanent(e.to_string()));
        }
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => Outcome::Launched {
                job_name,
                already_existed,
            },
            // The watcher saw the job's first event before we wrote: the record is past us.
            Ok(Write::Conflict(Some(current))) if current.state != JobState::Launching => {
                Outcome::Launched {
                    job_name,
                    already_existed,
                }
            }
            Ok(Write::Conflict(_)) => Outcome::Retry(ServiceError::ConditionFailed(
                "record changed while launching".into(),
            )),
            // The job exists; the redelivery will find it (`ResourceInUse`) and record it.
            Err(e) => Outcome::Retry(e),
        }
    }

    /// Back-pressure: record `Deferred` with the reason and hide the message for a growing delay.
    async fn defer(
        &self,
        record: &mut JobRecord,
        cause: ServiceError,
        message: &SqsMessage,
    ) -> Outcome {
        let delay = defer_delay_s(
            receive_count(message),
            self.config.defer_base_s,
            self.config.defer_max_s,
        );
        record.lease_until = None;
        record.defer_count += 1;
        record.reason = Some(format!("{cause}; next try in about {delay} s"));
        if let Err(e) = record.transition(JobState::Deferred) {
            return Outcome::Retry(ServiceError::Permanent(e.to_string()));
        }
        let expected = record.next_version();
        // If this write fails, the lease still lapses by itself and the redelivery defers or
        // launches again; the message is kept either way.
        match self.store.put_if_version(record, expected).await {
            Ok(Write::Written) => {}
            Ok(Write::Conflict(_)) => warn!("record changed while deferring; keeping the message"),
            Err(e) => warn!(error = %e, "could not record the deferral"),
        }
        if let Some(handle) = &message.receipt_handle
            && let Err(e) = self.queue.delay_redelivery(handle, delay).await
        {
            warn!(error = %e, "could not delay redelivery; the queue's visibility timeout applies");
        }
        if matches!(cause, ServiceError::QuotaExceeded(_)) && record.defer_count == 1 {
            let alert = Alert::about(AlertKind::CapacityPressure, record, cause.to_string());
            if let Err(e) = self.alerts.send(&alert).await {
                warn!(error = %e, "could not send the capacity pressure alert");
            }
        }
        Outcome::Deferred(cause)
    }

    /// SageMaker refused the job for a reason retrying cannot fix.
    async fn fail(&self, record: &mut JobRecord, cause: ServiceError) -> Outcome {
        record.lease_until = None;
        record.reason = Some(format!("CreateTrainingJob refused: {cause}"));
        if let Some(attempt) = record.current_attempt_mut() {
            attempt.failure_reason = Some(cause.to_string());
            attempt.status = Some("Failed".into());
        }
        if let Err(e) = record.transition(JobState::Failed) {
            return Outcome::Retry(ServiceError::Permanent(e.to_string()));
        }
        let expected = record.next_version();
        match self.store.put_if_version(record, expected).await {
            Ok(Write::Written) => {}
            Ok(Write::Conflict(_)) => {
                return Outcome::Retry(ServiceError::ConditionFailed(
                    "record changed while failing".into(),
                ));
            }
            Err(e) => return Outcome::Retry(e),
        }
        let alert = Alert::about(
            AlertKind::JobFailed,
            record,
            record.reason.clone().unwrap_or_default(),
        );
        if let Err(e) = self.alerts.send(&alert).await {
            warn!(error = %e, "could not send the job failed alert");
        }
        Outcome::Failed(cause)
    }
}

fn planned_attempt(valid: &ValidRequest, number: u32, rung: Rung) -> Attempt {
    Attempt::planned(valid.request_id, number, &rung.instance_type, rung.spot)
}

/// `Launched` and the time from enqueue to launch; `Failed` for a refused job.
fn emit_metrics(outcome: &Outcome, registry: &str, message: &SqsMessage) {
    match outcome {
        Outcome::Launched { .. } => {
            let mut values = vec![(Metric::Launched, 1.0)];
            let sent = message
                .attributes
                .get("SentTimestamp")
                .and_then(|t| t.parse::<i64>().ok());
            if let Some(sent) = sent {
                let waited_ms = (now_epoch_ms() - sent).max(0);
                values.push((Metric::EnqueueToLaunch, waited_ms as f64 / 1000.0));
            }
            metrics::emit(registry, &values);
        }
        Outcome::Failed(_) => metrics::emit(registry, &[(Metric::Failed, 1.0)]),
        _ => {}
    }
}

/// SQS `SentTimestamp` (epoch milliseconds) as RFC 3339.
fn sent_at(message: &SqsMessage) -> Option<String> {
    let ms: i64 = message.attributes.get("SentTimestamp")?.parse().ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(to_rfc3339(t))
}
