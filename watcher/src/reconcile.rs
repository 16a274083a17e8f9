//! The scheduled reconcile: records left in a non-terminal state longer than
//! `TRAINQ_RECONCILE_AFTER_S` are checked against SageMaker and moved by the same code the
//! events go through, so a lost event (or a crashed follow-up) cannot strand a request.
//!
//! | state | what the reconcile does |
//! |---|---|
//! | `Launching` (lease lapsed), `InProgress` | DescribeTrainingJob of the current attempt → applied like an event; a launch that never reached SageMaker is re-enqueued |
//! | `Retrying` | the launch message is sent again (the dispatcher de-duplicates) |
//! | `Completed` (lease lapsed) | the model is registered |
//! | `Cancelling` | the current attempt's job is stopped if it runs, and its DescribeTrainingJob applied like an event (an ended job ends the record `Cancelled`); a job SageMaker never created ends it `Cancelled` once no launch lease can create one |
//!
//! `Deferred` records wait for their own message on the requests queue, and `Interrupted`
//! ones (a record that kept no request) need a person: neither is touched.
//!
//! Then the capacity ledger is made equal to SageMaker's truth (slots held by jobs that no
//! longer run are released, running jobs the ledger misses are counted), pools with room end
//! their pressure episode, and the dispatcher is woken if anyone waits: a lost wake-up or a
//! crashed function cannot strand a `Queued` request longer than one reconcile period.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use tracing::{Instrument, error, info, info_span, warn};
use trainq_common::metrics::{self, Metric, NO_REGISTRY};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, ModelRegistry, RequestQueue, StaleCursor, TrainingService,
};
use trainq_common::state::JobState;
use trainq_common::time_util::{now_epoch_s, to_rfc3339};
use trainq_common::tracking::Effect;
use trainq_common::{JobRecord, ServiceError, cancel, outbox};

use crate::register::lease_lapsed;
use crate::{WatchOutcome, Watcher};

/// The states a record can be stranded in by a lost event, in the order they are checked.
const STRANDABLE: [JobState; 5] = [
    JobState::Launching,
    JobState::InProgress,
    JobState::Retrying,
    JobState::Completed,
    JobState::Cancelling,
];

/// Records checked at once (each costs a DescribeTrainingJob or a registration).
const CONCURRENCY: usize = 8;

/// What one reconcile run did; also the scheduled invocation's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Stale records looked at.
    pub checked: usize,
    /// Records moved, re-enqueued or registered.
    pub healed: usize,
    /// Ledger slots released because their job no longer runs.
    pub slots_released: usize,
    /// Running jobs the ledger missed, counted again.
    pub slots_added: usize,
    /// Whether the dispatcher was woken for waiting requests.
    pub woke_dispatcher: bool,
    /// Alerts delivered from outboxes a function left (it died, or the sink refused).
    pub alerts_delivered: usize,
    /// Records that could not be checked (an error, a job SageMaker does not know).
    pub unresolved: usize,
}

/// What checking one record came to.
enum Check {
    Healed,
    Unchanged,
    Unresolved,
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
    /// One reconcile run over every strandable state.
    pub async fn reconcile(&self) -> ReconcileReport {
        let cutoff = now_epoch_s() - i64::from(self.config.reconcile_after_s);
        let cutoff = time::OffsetDateTime::from_unix_timestamp(cutoff)
            .map(to_rfc3339)
            .unwrap_or_default();
        let mut report = ReconcileReport::default();
        let mut healed_by_registry: BTreeMap<&'static str, usize> = BTreeMap::new();
        for state in STRANDABLE {
            let max = self.config.reconcile_max as usize;
            let records = match self
                .next_page(&format!("reconcile:{state}"), state, &cutoff, max)
                .await
            {
                Ok(records) => records,
                Err(e) => {
                    error!(error = %e, %state, "could not list stale records");
                    report.unresolved += 1;
                    continue;
                }
            };
            let checks: Vec<(Option<&'static str>, Check)> = stream::iter(records)
                .map(|r| async move {
                    let registry = r.registry.map(|k| k.as_str());
                    let span =
                        info_span!("reconcile", request_id = %r.request_id, state = %r.state);
                    (registry, self.check(r).instrument(span).await)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (registry, check) in checks {
                report.checked += 1;
                match check {
                    Check::Healed => {
                        report.healed += 1;
                        *healed_by_registry
                            .entry(registry.unwrap_or(NO_REGISTRY))
                            .or_default() += 1;
                    }
                    Check::Unchanged => {}
                    Check::Unresolved => report.unresolved += 1,
                }
            }
        }
        for (registry, n) in healed_by_registry {
            metrics::emit(registry, &[(Metric::Reconciled, n as f64)]);
        }
        match self.deliver_left_alerts().await {
            Ok(n) => report.alerts_delivered = n,
            Err(e) => {
                error!(error = %e, "could not deliver the alerts left in outboxes");
                report.unresolved += 1;
            }
        }
        match self.repair_ledger().await {
            Ok((released, added)) => {
                report.slots_released = released;
                report.slots_added = added;
            }
            Err(e) => {
                error!(error = %e, "could not repair the capacity ledger");
                report.unresolved += 1;
            }
        }
        let ranks = self.config.scheduler.classes.lowest() + 1;
        match self.store.waiting(ranks, 1).await {
            Ok(waiting) if !waiting.is_empty() => {
                self.wake_dispatcher().await;
                report.woke_dispatcher = true;
            }
            Ok(_) => {}
            Err(e) => {
                error!(error = %e, "could not look at the waiting room");
                report.unresolved += 1;
            }
        }
        info!(?report, "reconcile finished");
        report
    }

    /// The next page of `state`'s stale records, oldest first, from where the last run's page
    /// (bookmarked as `mark`) ended; after the last page, the next run starts over. So every
    /// stale record is reached within ⌈stale / max⌉ runs, however many healthy long-running
    /// records are older than it (the oldest `max` alone would hide the rest for ever).
    pub(crate) async fn next_page(
        &self,
        mark: &str,
        state: JobState,
        cutoff: &str,
        max: usize,
    ) -> Result<Vec<JobRecord>, ServiceError> {
        let after = match self.ledger.bookmark(mark).await {
            Ok(at) => at.and_then(|at| serde_json::from_str::<StaleCursor>(&at).ok()),
            Err(e) => {
                warn!(error = %e, %mark, "could not read the reconcile's bookmark; starting over");
                None
            }
        };
        let page = self
            .store
            .list_stale(state, cutoff, max, after.as_ref())
            .await?;
        let next = page
            .next
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok());
        if let Err(e) = self.ledger.set_bookmark(mark, next.as_deref()).await {
            warn!(error = %e, %mark, "could not keep the reconcile's bookmark");
        }
        Ok(page.records)
    }

    /// Delivers the alerts records have kept undelivered for a while (their writer died, or
    /// the sink refused every try): the outbox's last resort.
    async fn deliver_left_alerts(&self) -> Result<usize, ServiceError> {
        let after = i64::from(self.config.reconcile_alerts_after_s);
        let cutoff = time::OffsetDateTime::from_unix_timestamp(now_epoch_s() - after)
            .map(to_rfc3339)
            .unwrap_or_default();
        let ids = self
            .store
            .pending_alerts(&cutoff, self.config.reconcile_max as usize)
            .await?;
        let mut delivered = 0;
        for id in ids {
            let Some(record) = self.store.get(id).await? else {
                continue;
            };
            delivered += outbox::deliver(&self.store, &self.alerts, &record).await?;
        }
        Ok(delivered)
    }

    /// Checks one stale record against SageMaker and heals it.
    async fn check(&self, record: JobRecord) -> Check {
        let result = match record.state {
            JobState::Launching if !lease_lapsed(&record) => Ok(Check::Unchanged),
            JobState::Launching | JobState::InProgress | JobState::Cancelling => {
                self.check_job(&record).await
            }
            JobState::Retrying => self.enqueue_launch(&record).await.map(|()| Check::Healed),
            JobState::Completed if lease_lapsed(&record) => self
                .take_over_registration(record)
                .await
                .map(|()| Check::Healed),
            _ => Ok(Check::Unchanged),
        };
        result.unwrap_or_else(|e| {
            error!(error = %e, "could not reconcile the record");
            Check::Unresolved
        })
    }

    /// Asks SageMaker about the current attempt and applies the answer like an event.
    async fn check_job(&self, record: &JobRecord) -> Result<Check, ServiceError> {
        let Some(attempt) = record.current_attempt() else {
            error!("a launched record without an attempt");
            return Ok(Check::Unresolved);
        };
        match self.training.describe_training_job(&attempt.job_name).await {
            Ok(truth) if record.state == JobState::Cancelling && truth.status == "InProgress" => {
                // The cancel's stop did not reach it: again (its terminal event ends the record).
                self.training.stop_training_job(&attempt.job_name).await?;
                Ok(Check::Healed)
            }
            Ok(truth) => {
                let outcome = self
                    .record(record.request_id, attempt.number, truth, true)
                    .await;
                Ok(match outcome {
                    WatchOutcome::Applied(Effect::Moved { .. } | Effect::AttemptUpdated) => {
                        Check::Healed
                    }
                    WatchOutcome::Applied(_) => Check::Unchanged,
                    _ => Check::Unresolved,
                })
            }
            // The launch never reached SageMaker and its message is gone: launch it again.
            Err(ServiceError::NotFound(_)) if record.state == JobState::Launching => {
                self.enqueue_launch(record).await.map(|()| Check::Healed)
            }
            Err(ServiceError::NotFound(_)) if record.state == JobState::Cancelling => {
                self.confirm_never_created(record.clone()).await
            }
            Err(ServiceError::NotFound(_)) => {
                error!(job_name = %attempt.job_name, "SageMaker does not know a running attempt's job");
                Ok(Check::Unresolved)
            }
            Err(e) => Err(e),
        }
    }

    /// A cancelled request whose job SageMaker never created ends `Cancelled`, once no
    /// dispatcher's launch lease can still create it.
    async fn confirm_never_created(&self, mut record: JobRecord) -> Result<Check, ServiceError> {
        if !cancel::confirm_never_created(&mut record, now_epoch_s()) {
            return Ok(Check::Unchanged);
        }
        let expected = record.next_version();
        Ok(match self.store.put_if_version(&record, expected).await? {
            trainq_common::ports::Write::Written => Check::Healed,
            // Moved meanwhile (an event): the next run looks again if it must.
            trainq_common::ports::Write::Conflict(_) => Check::Unchanged,
        })
    }
}
