//! Into the waiting room: a valid request is recorded `Queued` at its place (class, customer,
//! age, the pools of its ladder), then a round of admission runs. Waiting lives in the jobs
//! table, not in SQS visibility: the message is acknowledged once the request is queued, so it
//! never dead-letters for waiting, however long the wait.
//!
//! A redelivery finds the record and does what is left: nothing for a request already past
//! launching, a round for a waiting one, and for a launch whose dispatcher stopped mid-way (its
//! lease expired) the launch itself, with the same job name (`ResourceInUse` if it was created).

use aws_lambda_events::event::sqs::SqsMessage;
use tracing::warn;
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::launch::Rung;
use trainq_common::metrics::{self, Metric};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService, Write,
};
use trainq_common::request::{ValidRequest, request_digest};
use trainq_common::scheduling::Place;
use trainq_common::state::JobState;
use trainq_common::time_util::{now_epoch_ms, now_epoch_s, to_rfc3339};
use trainq_common::{Attempt, JobRecord, ServiceError};
use uuid::Uuid;

use crate::backoff::defer_delay_s;
use crate::ids::Found;
use crate::{Dispatcher, Outcome, receive_count, sender_of};

/// What a message's request needs after its claim.
enum Claimed {
    /// It waits in the waiting room (with its attempt's job name and its place): a round
    /// decides.
    Waiting(Uuid, String, Place),
    /// Its launch was abandoned mid-way: this delivery finishes it.
    Resume(Box<JobRecord>),
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// A valid request's message: into the waiting room (or on with an abandoned launch).
    /// `Ok` with the request id, its job name and its place when it waits for the batch's
    /// round.
    pub(crate) async fn enqueue(
        &self,
        valid: ValidRequest,
        message: &SqsMessage,
    ) -> Result<(Uuid, String, Place), Outcome> {
        match self.claim(&valid, message).await? {
            Claimed::Resume(record) => Err(self.resume(*record).await),
            Claimed::Waiting(id, job_name, place) => Ok((id, job_name, place)),
        }
    }

    /// Sends the wake-up that continues where a round stopped. If it cannot be sent, the
    /// scheduled reconcile sends one: nothing waits for longer than its period.
    pub(crate) async fn wake_next(&self, delay_s: u32) {
        let body = trainq_common::relaunch::WAKE_BODY;
        if let Err(e) = self.queue.send_delayed(body, delay_s).await {
            warn!(error = %e, "could not send a wake-up; the reconcile will");
        }
    }

    /// Hides the message for a growing delay: the round it ran met throttling.
    pub(crate) async fn delay(&self, message: &SqsMessage, cause: ServiceError) -> Outcome {
        let delay = defer_delay_s(
            receive_count(message),
            self.config.defer_base_s,
            self.config.defer_max_s,
        );
        if let Some(handle) = &message.receipt_handle
            && let Err(e) = self.queue.delay_redelivery(handle, delay).await
        {
            warn!(error = %e, "could not delay redelivery; the queue's visibility timeout applies");
        }
        Outcome::Deferred(cause)
    }

    /// Creates the record `Queued`, or moves an existing one on. `Err` carries the outcome
    /// when there is nothing more to do for this message.
    async fn claim(&self, valid: &ValidRequest, message: &SqsMessage) -> Result<Claimed, Outcome> {
        let mut record = JobRecord::new(valid.request_id, JobState::Received)
            .with_request(valid.request.clone());
        record.message_id = message.message_id.clone();
        record.sender = sender_of(message).map(str::to_owned);
        record.request_digest = Some(request_digest(&valid.request));
        record.enqueued_at = sent_at(message);
        let first = Rung::first(valid);
        record.attempts.push(Attempt::planned(
            valid.request_id,
            1,
            &first.instance_type,
            first.spot,
        ));
        let place = self.place_of(&record)?;
        if let Some(reason) = self.never_fits(&place) {
            return Err(self.refuse_for_good(record, reason, message).await);
        }
        record
            .enqueue(place)
            .map_err(|e| Outcome::Retry(ServiceError::Permanent(e.to_string())))?;
        let existing = match self.store.put_new(&record).await {
            Ok(Write::Written) => {
                let registry = valid.request.registry.as_str();
                metrics::emit(registry, &[(Metric::Received, 1.0)]);
                return waiting(&record);
            }
            Ok(Write::Conflict(Some(existing))) => *existing,
            Ok(Write::Conflict(None)) => {
                return Err(Outcome::Retry(ServiceError::Transient(
                    "record exists but could not be read".into(),
                )));
            }
            Err(e) => return Err(Outcome::Retry(e)),
        };
        match self.meet(record, existing, message).await? {
            Found::TakenOver(record) => waiting(&record),
            Found::Same(existing) => self.take_over(existing, valid).await,
        }
    }

    /// Why a queued record could never be admitted, if it could not: every pool it may start
    /// on (or the account) allows fewer instances than it needs. Such a request would wait
    /// forever; it fails now, saying which limit to raise.
    fn never_fits(&self, place: &Place) -> Option<String> {
        let scheduler = &self.config.scheduler;
        let needed = place.instance_count;
        let largest = place.pools.iter().map(|p| scheduler.limit(p)).max()?;
        let account = scheduler.account_limit.unwrap_or(u32::MAX);
        if needed <= largest && needed <= account {
            return None;
        }
        let pools: Vec<String> = place
            .pools
            .iter()
            .map(|p| format!("{p}={}", scheduler.limit(p)))
            .collect();
        Some(format!(
            "needs {needed} instances, more than any pool it may start on allows ({}{}): \
             raise TRAINQ_POOL_LIMITS or ask for fewer",
            pools.join(", "),
            scheduler
                .account_limit
                .map_or(String::new(), |a| format!("; account {a}"))
        ))
    }

    /// Records a request that can never run `Failed` with `reason` and an alert.
    async fn refuse_for_good(
        &self,
        mut record: JobRecord,
        reason: String,
        message: &SqsMessage,
    ) -> Outcome {
        if let Err(e) = record.transition(JobState::Failed) {
            return Outcome::Retry(ServiceError::Permanent(e.to_string()));
        }
        record.reason = Some(reason.clone());
        let alert = Alert::about(AlertKind::JobFailed, &record, reason.clone());
        record.stage_alert(alert);
        match self.store.put_new(&record).await {
            Ok(Write::Written) => {}
            Ok(Write::Conflict(Some(existing))) if existing.state == JobState::Rejected => {
                if let Err(outcome) = self.meet(record.clone(), *existing, message).await {
                    return outcome;
                }
            }
            // Already recorded (a redelivery): deliver what its first delivery could not.
            Ok(Write::Conflict(Some(existing))) => {
                if let Err(e) = self.deliver_alerts(&existing).await {
                    return Outcome::Retry(e);
                }
                return Outcome::Duplicate(existing.state);
            }
            Ok(Write::Conflict(None)) => {
                return Outcome::Retry(ServiceError::Transient("record unreadable".into()));
            }
            Err(e) => return Outcome::Retry(e),
        }
        if let Err(e) = self.deliver_alerts(&record).await {
            return Outcome::Retry(e);
        }
        Outcome::Failed(ServiceError::Permanent(reason))
    }

    /// The place of `record`'s planned attempt in the waiting room, computed now.
    fn place_of(&self, record: &JobRecord) -> Result<Place, Outcome> {
        let classes = &self.config.scheduler.classes;
        Place::of(record, classes, now_epoch_ms()).ok_or_else(|| {
            Outcome::Retry(ServiceError::Permanent(
                "record keeps no request or attempt to queue".into(),
            ))
        })
    }

    /// Moves `record` to `Queued` at its place (computed now).
    fn place(&self, record: &mut JobRecord) -> Result<(), Outcome> {
        let place = self.place_of(record)?;
        record
            .enqueue(place)
            .map_err(|e| Outcome::Retry(ServiceError::Permanent(e.to_string())))
    }

    async fn take_over(
        &self,
        mut record: JobRecord,
        valid: &ValidRequest,
    ) -> Result<Claimed, Outcome> {
        match record.state {
            JobState::Queued => return waiting(&record),
            JobState::Launching if record.lease_until.is_some_and(|u| u > now_epoch_s()) => {
                return Err(Outcome::Busy);
            }
            JobState::Launching => {
                warn!(
                    "taking over an expired launch lease (an earlier dispatcher stopped mid-launch)"
                );
                return Ok(Claimed::Resume(Box::new(record)));
            }
            // A new attempt planned by the watcher or an operator, or a request deferred by an
            // earlier version: into the waiting room.
            JobState::Received | JobState::Deferred | JobState::Retrying => {}
            other => return Err(Outcome::Duplicate(other)),
        }
        if record.attempts.is_empty() {
            let first = Rung::first(valid);
            record.attempts.push(Attempt::planned(
                record.request_id,
                1,
                &first.instance_type,
                first.spot,
            ));
        }
        self.place(&mut record)?;
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => waiting(&record),
            // Someone else moved the record between our read and write: they own it now.
            Ok(Write::Conflict(_)) => Err(Outcome::Busy),
            Err(e) => Err(Outcome::Retry(e)),
        }
    }
}

/// A `Queued` record as the batch's round needs it (it always has its place:
/// `JobRecord::enqueue` sets it).
fn waiting(record: &JobRecord) -> Result<Claimed, Outcome> {
    let job_name = record
        .current_attempt()
        .map(|a| a.job_name.clone())
        .unwrap_or_default();
    let place = record.waiting.clone().ok_or_else(|| {
        Outcome::Retry(ServiceError::Permanent(
            "a queued record without its place".into(),
        ))
    })?;
    Ok(Claimed::Waiting(record.request_id, job_name, place))
}

/// SQS `SentTimestamp` (epoch milliseconds) as RFC 3339.
fn sent_at(message: &SqsMessage) -> Option<String> {
    let ms: i64 = message.attributes.get("SentTimestamp")?.parse().ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(to_rfc3339(t))
}
