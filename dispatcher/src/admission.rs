//! A round of admission: the head of the waiting room against the pools' free capacity.
//!
//! Read the oldest waiting requests of every class and customer, the ledger's entries for
//! their pools and the customers' decayed usage; let the policy (`trainq_common::scheduling`)
//! choose who fits where; launch those, at most `admit_per_round` (a longer round hands over
//! to a wake-up so it stays within the function's timeout). Anyone may run a round at any time
//! and several may run at once: a slot is taken in the ledger with a conditional write and a
//! record claimed with another, so a request launches once and holders never exceed a limit.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{Instrument, info, info_span, warn};
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService, Write,
};
use trainq_common::scheduling::{
    Admission, Capacity, Place, Pool, PoolBook, Share, Waiting, admit,
};
use trainq_common::state::JobState;
use trainq_common::time_util::now_epoch_ms;
use trainq_common::{JobRecord, ServiceError, outbox};
use uuid::Uuid;

use crate::Dispatcher;
use crate::launch::Launch;

/// Why a round stopped before admitting everything that fits.
#[derive(Debug)]
pub(crate) enum Stop {
    /// SageMaker or the ledger pushed back: try again after a delay.
    Throttled(ServiceError),
    /// The waiting room or the ledger could not be read.
    Failed(ServiceError),
    /// `admit_per_round` were launched and more fit: a wake-up continues.
    MoreToAdmit,
}

/// What a round did.
#[derive(Debug, Default)]
pub(crate) struct Round {
    /// Requests launched, with their job names.
    pub(crate) launched: Vec<(Uuid, String)>,
    /// Requests SageMaker refused for good (now `Failed`).
    pub(crate) failed: Vec<(Uuid, ServiceError)>,
    /// Why it stopped early, if it did.
    pub(crate) stop: Option<Stop>,
}

impl Round {
    /// The job launched for `request_id` in this round, if one was.
    pub(crate) fn launched_job(&self, request_id: Uuid) -> Option<String> {
        self.launched
            .iter()
            .find(|(id, _)| *id == request_id)
            .map(|(_, job)| job.clone())
    }

    fn stopped(stop: Stop) -> Self {
        Self {
            stop: Some(stop),
            ..Self::default()
        }
    }
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// One round of admission.
    pub(crate) async fn round(&self) -> Round {
        // Before anything is read: a slot freed from here on rings again and wakes another
        // round, so nothing freed during this one is missed.
        if let Err(e) = self.ledger.answer_doorbell().await {
            warn!(error = %e, "could not answer the doorbell; endings ring again once it is stale");
        }
        let scheduler = &self.config.scheduler;
        let now = now_epoch_ms();
        let ranks = scheduler.classes.lowest() + 1;
        let per_customer = scheduler.admit_per_round as usize;
        let heads = match self.store.waiting(ranks, per_customer).await {
            Ok(heads) => heads,
            Err(e) => return Round::stopped(stop_for(e)),
        };
        let (expired, live): (Vec<_>, Vec<_>) = heads
            .into_iter()
            .partition(|(_, p)| p.expires_ms.is_some_and(|at| at <= now));
        for (id, place) in &expired {
            self.expire(*id, place).await;
        }
        if live.is_empty() {
            return Round::default();
        }
        let mut pools: BTreeSet<Pool> = live
            .iter()
            .flat_map(|(_, p)| p.pools.iter().cloned())
            .collect();
        if scheduler.account_limit.is_some() {
            pools.insert(Pool::account());
        }
        let pools: Vec<Pool> = pools.into_iter().collect();
        let books = match self.ledger.pools(&pools).await {
            Ok(books) => books,
            Err(e) => return Round::stopped(stop_for(e)),
        };
        let mut capacities: BTreeMap<Pool, Capacity> = books
            .iter()
            .map(|(p, b)| (p.clone(), b.capacity(scheduler.limit(p), now)))
            .collect();
        let mut shares = match self.shares(&live, &books).await {
            Ok(shares) => shares,
            Err(e) => return Round::stopped(stop_for(e)),
        };
        let waiting: Vec<Waiting> = live.iter().map(|(id, p)| p.waiting(*id)).collect();
        let limits = capacities.clone();
        let mut admissions = admit(
            &waiting,
            &mut capacities,
            &mut shares,
            &scheduler.fair_share,
            now,
        );
        if let Some(account) = limits.get(&Pool::account()) {
            within_account(&mut admissions, &live, account.free());
        }
        let places: BTreeMap<Uuid, &Place> = live.iter().map(|(id, p)| (*id, p)).collect();
        self.note_pressure(&live, &admissions, &books, now).await;
        self.launch_all(admissions, &places, &limits).await
    }

    /// Launches the admitted, in order, until one stops the round.
    async fn launch_all(
        &self,
        admissions: Vec<Admission>,
        places: &BTreeMap<Uuid, &Place>,
        limits: &BTreeMap<Pool, Capacity>,
    ) -> Round {
        let mut round = Round::default();
        let mut refused: BTreeSet<Pool> = BTreeSet::new();
        let cap = self.config.scheduler.admit_per_round as usize;
        let total = admissions.len();
        for (done, admission) in admissions.into_iter().enumerate() {
            if done >= cap {
                info!(
                    admitted = done,
                    fitting = total,
                    "round cut; a wake-up continues"
                );
                round.stop = Some(Stop::MoreToAdmit);
                break;
            }
            // A pool SageMaker refused in this round holds no more in it.
            if refused.contains(&admission.pool) {
                continue;
            }
            let (Some(place), Some(limit)) = (
                places.get(&admission.request_id),
                limits.get(&admission.pool).map(|c| c.limit),
            ) else {
                continue;
            };
            let span = info_span!(
                "request",
                request_id = %admission.request_id,
                job_name = tracing::field::Empty,
            );
            let launch = self
                .launch_admitted(&admission, place, limit)
                .instrument(span)
                .await;
            match launch {
                Launch::Launched(job) => round.launched.push((admission.request_id, job)),
                Launch::Skipped => {}
                Launch::Failed(e) => round.failed.push((admission.request_id, e)),
                Launch::QuotaRefused => {
                    refused.insert(admission.pool.clone());
                }
                Launch::Throttled(e) => {
                    round.stop = Some(Stop::Throttled(e));
                    break;
                }
            }
        }
        // A refused request is back in its place and its pool held lower: the next round
        // (a wake-up) offers it the next rung of its ladder.
        if !refused.is_empty() && round.stop.is_none() {
            round.stop = Some(Stop::MoreToAdmit);
        }
        round
    }

    /// Every candidate customer's standing: decayed usage, instances held now, weight.
    async fn shares(
        &self,
        live: &[(Uuid, Place)],
        books: &BTreeMap<Pool, PoolBook>,
    ) -> Result<BTreeMap<String, Share>, ServiceError> {
        let customers: Vec<String> = live
            .iter()
            .map(|(_, p)| p.customer.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let usage = self.ledger.usage(&customers).await?;
        let mut shares: BTreeMap<String, Share> = customers
            .iter()
            .map(|c| {
                let share = Share {
                    usage: usage.get(c).copied().unwrap_or_default(),
                    running: 0,
                    weight: self.config.scheduler.weight(c),
                };
                (c.clone(), share)
            })
            .collect();
        for holding in books.values().flat_map(|b| b.holders.values()) {
            if let Some(share) = shares.get_mut(&holding.customer) {
                share.running += holding.count;
            }
        }
        Ok(shares)
    }

    /// Requests left waiting mark their first pool under pressure; the first to do so in an
    /// episode sends the one `Training Capacity Pressure` alert for it.
    pub(crate) async fn note_pressure(
        &self,
        live: &[(Uuid, Place)],
        admissions: &[Admission],
        books: &BTreeMap<Pool, PoolBook>,
        now: i64,
    ) {
        let admitted: BTreeSet<Uuid> = admissions.iter().map(|a| a.request_id).collect();
        let mut waiting_for: BTreeMap<&Pool, Vec<Uuid>> = BTreeMap::new();
        for (id, place) in live.iter().filter(|(id, _)| !admitted.contains(id)) {
            if let Some(first) = place.pools.first() {
                waiting_for.entry(first).or_default().push(*id);
            }
        }
        for (pool, ids) in waiting_for {
            let book = books.get(pool).cloned().unwrap_or_default();
            if book.pressure_since_ms.is_some() {
                continue;
            }
            let limit = book.capacity(self.config.scheduler.limit(pool), now).limit;
            let detail = format!(
                "{pool} is full ({} of {limit} instances held); {} or more requests wait for it",
                book.used,
                ids.len()
            );
            let record = self.store.get(ids[0]).await.ok().flatten();
            let record = record.unwrap_or_else(|| JobRecord::new(ids[0], JobState::Queued));
            if let Some(alert) = self.begin_pressure(pool, &record, detail, now).await {
                // Kept in the outbox of the first request waiting for the pool.
                if let Err(e) =
                    outbox::stage_and_deliver(&self.store, &self.alerts, record, alert).await
                {
                    warn!(error = %e, "could not deliver the capacity pressure alert; it stays in the record's outbox");
                }
            }
        }
    }

    /// Begins `pool`'s pressure episode; whoever begins it gets the one alert about it (to
    /// stage in a record's outbox).
    pub(crate) async fn begin_pressure(
        &self,
        pool: &Pool,
        record: &JobRecord,
        detail: String,
        now: i64,
    ) -> Option<Alert> {
        match self.ledger.begin_pressure(pool, now).await {
            Ok(true) => Some(Alert::about(AlertKind::CapacityPressure, record, detail)),
            Ok(false) => None,
            Err(e) => {
                warn!(error = %e, %pool, "could not mark the pool under pressure");
                None
            }
        }
    }

    /// Ends a request that waited past its `max_queue_s`: `Expired`, with an alert.
    async fn expire(&self, request_id: Uuid, place: &Place) {
        let Ok(Some(mut record)) = self.store.get(request_id).await else {
            return;
        };
        if record.state != JobState::Queued {
            return;
        }
        let waited_s = (now_epoch_ms() - place.enqueued_ms).max(0) / 1000;
        let allowed_s = place
            .expires_ms
            .map_or(0, |at| (at - place.enqueued_ms) / 1000);
        record.reason = Some(format!(
            "waited {waited_s} s for capacity in {}, longer than its max_queue_s ({allowed_s} s)",
            place
                .pools
                .iter()
                .map(Pool::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ));
        if record.transition(JobState::Expired).is_err() {
            return;
        }
        let alert = Alert::about(
            AlertKind::RequestExpired,
            &record,
            record.reason.clone().unwrap_or_default(),
        );
        record.stage_alert(alert);
        let expected = record.next_version();
        if !matches!(
            self.store.put_if_version(&record, expected).await,
            Ok(Write::Written)
        ) {
            return; // moved on meanwhile (launched, cancelled): nothing expired
        }
        let _ = self.deliver_alerts(&record).await;
    }
}

/// Keeps the admissions that fit the account's free instances, in order, up to the first
/// that does not (nothing after it slips past it, as within a pool).
fn within_account(admissions: &mut Vec<Admission>, live: &[(Uuid, Place)], mut free: u32) {
    let count = |id: Uuid| {
        live.iter()
            .find(|(i, _)| *i == id)
            .map_or(1, |(_, p)| p.instance_count)
    };
    let fitting = admissions
        .iter()
        .take_while(|a| {
            let n = count(a.request_id);
            let fits = n <= free;
            free = free.saturating_sub(n);
            fits
        })
        .count();
    admissions.truncate(fitting);
}

fn stop_for(e: ServiceError) -> Stop {
    if e.is_retryable() {
        Stop::Throttled(e)
    } else {
        Stop::Failed(e)
    }
}
