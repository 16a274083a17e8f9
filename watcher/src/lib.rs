//! The watcher Lambda's logic: "SageMaker Training Job State Change" events (delivered by an
//! EventBridge rule to an SQS queue) keep the job records true; a scheduled reconcile heals
//! records whose events were lost.
//!
//! Per event: parse (both AWS shapes) → is it a trainq job (name `tq-<id>-<attempt>`)? → read
//! the record → apply the event ([`trainq_common::tracking::apply`]: never backwards) → on a
//! terminal status, fill billing, metrics and artifact from DescribeTrainingJob → plan a retry
//! of a system failure ([`retry`]) → write with a version condition (re-read and re-apply on
//! conflict) → alerts and metrics → re-enqueue a retry, or register a completed model
//! ([`register`]).

mod capacity;
pub mod config;
mod evidence;
mod invocation;
mod notify;
mod outcome;
mod reconcile;
mod register;
mod retry;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use serde_json::Value;
use tracing::{Instrument, info, info_span, warn};
use trainq_common::event::{JobStateChange, parse_event_noting};
use trainq_common::metrics::{self, Metric};
use trainq_common::naming::parse_job_name;
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, ModelRegistry, RequestQueue, TrainingService, Write,
};
use trainq_common::state::JobState;
use trainq_common::time_util::now_epoch_s;
use trainq_common::tracking::{Effect, apply};
use trainq_common::{JobRecord, ServiceError, cancel, outbox};
use trainq_infra::lambda::batch_response;

pub use config::WatcherConfig;
pub use invocation::{Invocation, UnknownInvocation};
pub use outcome::WatchOutcome;
pub use reconcile::ReconcileReport;

use crate::retry::{Cause, RetryStep};

/// How often a write that lost to a concurrent writer is re-read and re-applied.
const CONFLICT_ATTEMPTS: usize = 5;

/// The watcher: its ports and configuration, built once per cold start.
pub struct Watcher<S, T, A, Q, M, L> {
    store: S,
    training: T,
    alerts: A,
    queue: Q,
    models: M,
    ledger: L,
    config: WatcherConfig,
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
    /// A watcher over the given ports; `queue` is the requests queue (retries and wake-ups go
    /// through it), `models` the Model Registry, `ledger` the capacity ledger.
    pub fn new(
        store: S,
        training: T,
        alerts: A,
        queue: Q,
        models: M,
        ledger: L,
        config: WatcherConfig,
    ) -> Self {
        Self {
            store,
            training,
            alerts,
            queue,
            models,
            ledger,
            config,
        }
    }

    /// Handles an SQS batch of EventBridge events; the response names the ones to redeliver.
    pub async fn handle_batch(&self, event: &SqsEvent) -> SqsBatchResponse {
        let outcomes = join_all(event.records.iter().map(|m| self.handle_message(m))).await;
        let ignored = outcomes.iter().filter(|o| o.ignored()).count();
        if ignored > 0 {
            metrics::emit(
                metrics::NO_REGISTRY,
                &[(Metric::IgnoredEvents, ignored as f64)],
            );
        }
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
        let change = match parse_event_noting(event) {
            Ok((c, left_out)) => {
                for note in left_out {
                    // AWS may change an optional field's shape; the event still counts.
                    tracing::warn!(job_name = %c.job_name, field = %note.field, rule = %note.rule,
                        "an optional event field could not be read and was left out");
                }
                c
            }
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
            let outcome = self.record(request_id, attempt, change, false).await;
            outcome.log();
            outcome
        }
        .instrument(span)
        .await
    }

    /// Checks a terminal event against DescribeTrainingJob and fills what it may lack
    /// (billing, metrics, artifact, reason, creation time). SageMaker's answer is the truth: a
    /// different terminal status replaces the event's; a job Describe still reports running is
    /// `Err` (the event is not applied yet: Describe can lag the event, and an event can be
    /// wrong). When Describe cannot be asked, the event is taken as it is.
    async fn confirmed(&self, mut change: JobStateChange) -> Result<JobStateChange, String> {
        match self.training.describe_training_job(&change.job_name).await {
            Ok(d) if !is_terminal(&d.status) => Err(format!(
                "the event says `{}`, DescribeTrainingJob still says `{}`",
                change.status, d.status
            )),
            Ok(d) if d.status != change.status => {
                warn!(event = %change.status, truth = %d.status, "the event contradicts DescribeTrainingJob; recording SageMaker's answer");
                Ok(d)
            }
            Ok(d) => {
                change.billable_s = change.billable_s.or(d.billable_s);
                change.training_s = change.training_s.or(d.training_s);
                change.model_artifact = change.model_artifact.or(d.model_artifact);
                change.failure_reason = change.failure_reason.or(d.failure_reason);
                change.created_ms = change.created_ms.or(d.created_ms);
                if change.final_metrics.is_empty() {
                    change.final_metrics = d.final_metrics;
                }
                if change.transitions.len() < d.transitions.len() {
                    change.transitions = d.transitions;
                }
                Ok(change)
            }
            Err(e) => {
                warn!(error = %e, "DescribeTrainingJob failed; recording what the event says");
                Ok(change)
            }
        }
    }

    /// Applies `change` (about attempt `attempt`) to the request's record and follows up.
    /// `described`: the change already comes from DescribeTrainingJob (reconcile).
    async fn record(
        &self,
        request_id: uuid::Uuid,
        attempt: u32,
        mut change: JobStateChange,
        mut described: bool,
    ) -> WatchOutcome {
        for _ in 0..CONFLICT_ATTEMPTS {
            let mut record = match self.store.get(request_id).await {
                Ok(Some(r)) => r,
                Ok(None) => return WatchOutcome::NoRecord,
                Err(e) => return WatchOutcome::Retry(e),
            };
            // Describe once, and only for news: a duplicate of a terminal event the record
            // already holds costs no SageMaker call.
            if !described && is_terminal(&change.status) && !attempt_ended(&record, attempt) {
                change = match self.confirmed(change).await {
                    Ok(truth) => truth,
                    Err(why) => return WatchOutcome::Unconfirmed(why),
                };
                described = true;
            }
            let before = record.state;
            let ended_before = attempt_ended(&record, attempt);
            let effect = apply(&mut record, &change, attempt);
            if matches!(effect, Effect::Stale | Effect::UnknownAttempt) {
                if is_terminal(&change.status) && ended_before {
                    // A duplicate ending: its slot may not have been given back yet.
                    self.attempt_ended(&record, attempt, false).await;
                }
                return match self.follow_up(record, &change, attempt).await {
                    Ok(()) => WatchOutcome::Applied(effect),
                    Err(e) => WatchOutcome::Retry(e),
                };
            }
            let retry = Cause::of(&effect)
                .and_then(|cause| Some((cause, retry::plan_retry(&mut record, cause)?)));
            if record.state == JobState::Completed && before != JobState::Completed {
                // Whoever records the completion registers the model: the lease keeps
                // duplicates of the event (same batch or another invocation) off it.
                record.lease_until =
                    Some(now_epoch_s() + i64::from(self.config.registration_lease_s));
            }
            // The alerts this change causes go into the record with it (the outbox): both or
            // neither are written, and they are delivered below, or by whoever comes next.
            for alert in notify::alerts_for(before, &record, retry.as_ref()) {
                record.stage_alert(alert);
            }
            let expected = record.next_version();
            match self.store.put_if_version(&record, expected).await {
                Ok(Write::Written) => {
                    if let Err(e) =
                        trainq_common::chaos::point("watcher: event recorded, before its follow-up")
                    {
                        return WatchOutcome::Retry(e);
                    }
                    self.stop_if_cancelled(&record, &change, attempt).await;
                    let outbox = (!record.outbox.is_empty()).then(|| record.clone());
                    // An attempt that ended now, or one that had ended before while its request
                    // lagged (caught up now; a re-claim may have taken its slot again): the
                    // slot goes back either way, the usage is charged once.
                    let ended = attempt_ended(&record, attempt).then(|| record.clone());
                    let followed = match (ended, retry.is_some()) {
                        // The slot goes back while the model registers (a registration's
                        // calls would keep it idle), not before: the registration starts at
                        // once, as the lease it took expects.
                        (Some(ended), false) => {
                            let release = self.attempt_ended(&ended, attempt, !ended_before);
                            futures::join!(self.after_write(before, record, retry), release).0
                        }
                        // A retry's launch message first, so the older retry is in line when
                        // its own slot is offered.
                        (Some(ended), true) => {
                            let followed = self.after_write(before, record, retry).await;
                            self.attempt_ended(&ended, attempt, !ended_before).await;
                            followed
                        }
                        (None, _) => self.after_write(before, record, retry).await,
                    };
                    let delivered = match &outbox {
                        Some(r) => self.deliver_alerts(r).await,
                        None => Ok(()),
                    };
                    return match followed.and(delivered) {
                        Ok(()) => WatchOutcome::Applied(effect),
                        Err(e) => WatchOutcome::Retry(e),
                    };
                }
                // Someone wrote in between (the dispatcher, another event): read again.
                Ok(Write::Conflict(_)) => continue,
                Err(e) => return WatchOutcome::Retry(e),
            }
        }
        WatchOutcome::Retry(ServiceError::ConditionFailed("record kept changing".into()))
    }

    /// What a written change leads to: metrics and alerts for the new state, the launch
    /// message of a planned retry, the registration of a completed model.
    async fn after_write(
        &self,
        before: JobState,
        record: JobRecord,
        retry: Option<(Cause, RetryStep)>,
    ) -> Result<(), ServiceError> {
        notify::state_metrics(before, &record);
        if let Some((cause, RetryStep::Planned { .. })) = &retry {
            notify::retry_metric(&record, cause);
        }
        match retry {
            Some((_, RetryStep::Planned { .. })) => self.enqueue_launch(&record).await,
            None if record.state == JobState::Completed && before != JobState::Completed => {
                self.register(record).await
            }
            _ => Ok(()),
        }
    }

    /// A stale event is also a chance to finish what a crashed predecessor left: send a
    /// planned retry's launch message again (the dispatcher de-duplicates), or take over a
    /// registration nobody holds. Only the ending that planned the retry (a redelivery of it)
    /// sends the message again; a late event of some other kind is just late.
    async fn follow_up(
        &self,
        record: JobRecord,
        change: &JobStateChange,
        attempt: u32,
    ) -> Result<(), ServiceError> {
        self.stop_if_cancelled(&record, change, attempt).await;
        // Alerts a predecessor wrote but did not deliver (it died, or the sink refused).
        if !record.outbox.is_empty() {
            self.deliver_alerts(&record).await?;
        }
        let planned_by_this = is_terminal(&change.status)
            && record.current_attempt().map(|a| a.number) == Some(attempt + 1);
        match record.state {
            JobState::Retrying if planned_by_this => self.enqueue_launch(&record).await,
            JobState::Completed if register::lease_lapsed(&record) => {
                self.take_over_registration(record).await
            }
            _ => Ok(()),
        }
    }

    /// A cancelled request's job still runs (created by a launch the cancel raced, or the
    /// cancel's own stop failed): stop it. Its terminal event then ends the record `Cancelled`.
    async fn stop_if_cancelled(&self, record: &JobRecord, change: &JobStateChange, attempt: u32) {
        if !cancel::is_cancelled(record)
            || change.status != "InProgress"
            || attempt_ended(record, attempt)
        {
            return;
        }
        match self.training.stop_training_job(&change.job_name).await {
            Ok(answer) => info!(?answer, "stopped a running job of a cancelled request"),
            // The next event (or the reconcile) tries again.
            Err(e) => warn!(error = %e, "could not stop a running job of a cancelled request"),
        }
    }

    async fn enqueue_launch(&self, record: &JobRecord) -> Result<(), ServiceError> {
        let body = retry::launch_message(record)
            .ok_or_else(|| ServiceError::Permanent("record keeps no request to retry".into()))?;
        self.queue.send(&body).await
    }

    /// Delivers what `record`'s outbox holds (see `trainq_common::outbox`); `Err` when the
    /// sink refused: the event comes back and delivers it then.
    async fn deliver_alerts(&self, record: &JobRecord) -> Result<(), ServiceError> {
        match outbox::deliver(&self.store, &self.alerts, record).await {
            Ok(_) => Ok(()),
            Err(e) => {
                warn!(error = %e, "could not deliver an alert; it stays in the record's outbox");
                Err(e)
            }
        }
    }
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "Completed" | "Failed" | "Stopped")
}

/// Whether the record already knows attempt `number` ended.
fn attempt_ended(record: &JobRecord, number: u32) -> bool {
    record
        .attempts
        .iter()
        .find(|a| a.number == number)
        .and_then(|a| a.status.as_deref())
        .is_some_and(is_terminal)
}

#[cfg(test)]
mod tests;
