//! The watcher Lambda's logic: "SageMaker Training Job State Change" events (delivered by an
//! EventBridge rule to an SQS queue) keep the job records true.
//!
//! Per event: parse (both AWS shapes) → is it a trainq job (name `tq-<id>-<attempt>`)? → read
//! the record → apply the event ([`trainq_common::tracking::apply`]: never backwards) → on a
//! terminal status, fill billing, metrics and artifact from DescribeTrainingJob → write with a
//! version condition (re-read and re-apply on conflict) → alert on failure.
//!
//! Still to come with the rest of the watcher issue: retries of system failures down the
//! fallback ladder, model registration, EMF metrics and the reconcile schedule.

pub mod config;
mod outcome;
mod retry;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use serde_json::Value;
use tracing::{Instrument, info_span, warn};
use trainq_common::ServiceError;
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::event::{JobStateChange, parse_event};
use trainq_common::failure::Ending;
use trainq_common::metrics::{self, Metric, spot_savings_percent};
use trainq_common::naming::parse_job_name;
use trainq_common::ports::{AlertSink, JobStore, RequestQueue, TrainingService, Write};
use trainq_common::state::JobState;
use trainq_common::tracking::{Effect, apply};
use trainq_infra::lambda::batch_response;

pub use config::WatcherConfig;
pub use outcome::WatchOutcome;

/// How often a write that lost to a concurrent writer is re-read and re-applied.
const CONFLICT_ATTEMPTS: usize = 5;

/// The watcher: its ports, built once per cold start.
pub struct Watcher<S, T, A, Q> {
    store: S,
    training: T,
    alerts: A,
    queue: Q,
}

impl<S: JobStore, T: TrainingService, A: AlertSink, Q: RequestQueue> Watcher<S, T, A, Q> {
    /// A watcher over the given ports; `queue` is the requests queue (retries go through it).
    pub fn new(store: S, training: T, alerts: A, queue: Q) -> Self {
        Self {
            store,
            training,
            alerts,
            queue,
        }
    }

    /// Handles an SQS batch of EventBridge events; the response names the ones to redeliver.
    pub async fn handle_batch(&self, event: &SqsEvent) -> SqsBatchResponse {
        let outcomes = join_all(event.records.iter().map(|m| self.handle_message(m))).await;
        batch_response(
            event
                .records
                .iter()
                .zip(outcomes.iter().map(|o| o.redeliver())),
        )
    }

    async fn handle_message(&self, message: &SqsMessage) -> WatchOutcome {
        let body = message.body.as_deref().unwrap_or_default();
        match serde_json::from_str::<Value>(body) {
            Ok(event) => self.handle_event(&event).await,
            Err(e) => {
                let outcome = WatchOutcome::Unreadable(format!("`(body)`: not valid JSON: {e}"));
                outcome.log();
                outcome
            }
        }
    }

    /// Handles one EventBridge event; never panics, whatever it holds.
    pub async fn handle_event(&self, event: &Value) -> WatchOutcome {
        let change = match parse_event(event) {
            Ok(c) => c,
            Err(e) => {
                let outcome = WatchOutcome::Unreadable(e.to_string());
                outcome.log();
                return outcome;
            }
        };
        let Some((request_id, attempt)) = parse_job_name(&change.job_name) else {
            let outcome = WatchOutcome::NotOurs(change.job_name.clone());
            outcome.log();
            return outcome;
        };
        let span = info_span!("request", request_id = %request_id, job_name = %change.job_name);
        async {
            let outcome = self.record(request_id, attempt, change).await;
            outcome.log();
            outcome
        }
        .instrument(span)
        .await
    }

    /// Fills what a terminal event may lack (billing, metrics, artifact, reason) from
    /// DescribeTrainingJob, when SageMaker agrees on the status.
    async fn with_details(&self, mut change: JobStateChange) -> JobStateChange {
        match self.training.describe_training_job(&change.job_name).await {
            Ok(d) if d.status == change.status => {
                change.billable_s = change.billable_s.or(d.billable_s);
                change.training_s = change.training_s.or(d.training_s);
                change.model_artifact = change.model_artifact.or(d.model_artifact);
                change.failure_reason = change.failure_reason.or(d.failure_reason);
                if change.final_metrics.is_empty() {
                    change.final_metrics = d.final_metrics;
                }
                if change.transitions.len() < d.transitions.len() {
                    change.transitions = d.transitions;
                }
            }
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "DescribeTrainingJob failed; recording what the event says")
            }
        }
        change
    }

    async fn record(
        &self,
        request_id: uuid::Uuid,
        attempt: u32,
        mut change: JobStateChange,
    ) -> WatchOutcome {
        let mut described = false;
        for _ in 0..CONFLICT_ATTEMPTS {
            let mut record = match self.store.get(request_id).await {
                Ok(Some(r)) => r,
                Ok(None) => return WatchOutcome::NoRecord,
                Err(e) => return WatchOutcome::Retry(e),
            };
            // Describe once, and only for news: a duplicate of a terminal event the record
            // already holds costs no SageMaker call.
            if !described && is_terminal(&change.status) && !attempt_ended(&record, attempt) {
                change = self.with_details(change).await;
                described = true;
            }
            let effect = apply(&mut record, &change, attempt);
            if matches!(effect, Effect::Stale | Effect::UnknownAttempt) {
                // A retry whose launch message was not sent (the event came back): send it now.
                if record.state == JobState::Retrying
                    && let Err(e) = self.enqueue_launch(&record).await
                {
                    return WatchOutcome::Retry(e);
                }
                return WatchOutcome::Applied(effect);
            }
            let step = match &effect {
                Effect::Moved {
                    to: JobState::Interrupted,
                    ending: Some(Ending::System(failure)),
                } => retry::plan_retry(&mut record, *failure).map(|step| (step, *failure)),
                _ => None,
            };
            let expected = record.next_version();
            match self.store.put_if_version(&record, expected).await {
                Ok(Write::Written) => {
                    emit_metrics(&effect, &record);
                    if let Effect::Moved {
                        to: JobState::Failed,
                        ..
                    } = &effect
                    {
                        let reason = record
                            .reason
                            .clone()
                            .unwrap_or_else(|| "training failed".into());
                        self.alert(AlertKind::JobFailed, &record, reason).await;
                    }
                    if let Some((step, failure)) = step
                        && let Err(e) = self.after_system_failure(&record, step, failure).await
                    {
                        return WatchOutcome::Retry(e);
                    }
                    return WatchOutcome::Applied(effect);
                }
                // Someone wrote in between (the dispatcher, another event): read again.
                Ok(Write::Conflict(_)) => continue,
                Err(e) => return WatchOutcome::Retry(e),
            }
        }
        WatchOutcome::Retry(ServiceError::ConditionFailed("record kept changing".into()))
    }
}

impl<S: JobStore, T: TrainingService, A: AlertSink, Q: RequestQueue> Watcher<S, T, A, Q> {
    /// Re-enqueues the request so the dispatcher launches its planned attempt, or alerts that
    /// the retries are exhausted.
    async fn after_system_failure(
        &self,
        record: &trainq_common::JobRecord,
        step: retry::RetryStep,
        failure: trainq_common::failure::SystemFailure,
    ) -> Result<(), ServiceError> {
        let registry = record.registry.map_or("unknown", |r| r.as_str());
        match step {
            retry::RetryStep::Planned { .. } => {
                metrics::emit(registry, &[(Metric::Retried, 1.0)]);
                if failure.moves_down_the_ladder() {
                    let reason = record.reason.clone().unwrap_or_default();
                    self.alert(AlertKind::CapacityPressure, record, reason)
                        .await;
                }
                self.enqueue_launch(record).await
            }
            retry::RetryStep::Exhausted => {
                metrics::emit(registry, &[(Metric::Failed, 1.0)]);
                let reason = record.reason.clone().unwrap_or_default();
                self.alert(AlertKind::RetriesExhausted, record, reason)
                    .await;
                Ok(())
            }
        }
    }

    async fn enqueue_launch(&self, record: &trainq_common::JobRecord) -> Result<(), ServiceError> {
        let body = retry::launch_message(record)
            .ok_or_else(|| ServiceError::Permanent("record keeps no request to retry".into()))?;
        self.queue.send(&body).await
    }

    /// Alerts are best effort here: the record already says what happened.
    async fn alert(&self, kind: AlertKind, record: &trainq_common::JobRecord, reason: String) {
        if let Err(e) = self.alerts.send(&Alert::about(kind, record, reason)).await {
            warn!(error = %e, alert = kind.detail_type(), "could not send an alert");
        }
    }
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "Completed" | "Failed" | "Stopped")
}

/// Whether the record already knows attempt `number` ended.
fn attempt_ended(record: &trainq_common::JobRecord, number: u32) -> bool {
    record
        .attempts
        .iter()
        .find(|a| a.number == number)
        .and_then(|a| a.status.as_deref())
        .is_some_and(is_terminal)
}

/// `Completed` (with the request's spot savings) and `Failed` as EMF lines.
fn emit_metrics(effect: &Effect, record: &trainq_common::JobRecord) {
    let registry = record.registry.map_or("unknown", |r| r.as_str());
    match effect {
        Effect::Moved {
            to: JobState::Completed,
            ..
        } => {
            let mut values = vec![(Metric::Completed, 1.0)];
            if let Some(savings) = spot_savings_percent(&record.attempts) {
                values.push((Metric::SpotSavings, savings));
            }
            metrics::emit(registry, &values);
        }
        Effect::Moved {
            to: JobState::Failed,
            ..
        } => metrics::emit(registry, &[(Metric::Failed, 1.0)]),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
