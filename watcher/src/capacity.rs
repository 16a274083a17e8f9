//! The watcher's part in sharing the quota: when an attempt ends, its slot goes back to the
//! capacity ledger, its customer is charged the instance-seconds it held (the fair share's
//! usage), and the dispatcher is woken to admit whoever waits next. The reconcile repairs the
//! ledger against SageMaker both ways (see [`Watcher::repair_ledger`]).

use tracing::{info, warn};
use trainq_common::launch::Rung;
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, ModelRegistry, RequestQueue, Taken, TrainingService,
};
use trainq_common::relaunch::WAKE_BODY;

/// How long a rung doorbell silences further wake-ups: after it, a freed slot rings again
/// (the first wake-up may have been lost, or may still wait behind a deep queue).
const DOORBELL_STALE_MS: i64 = 60_000;
use trainq_common::metrics::{self, Metric};
use trainq_common::scheduling::Pool;
use trainq_common::state::JobState;
use trainq_common::time_util::{now_epoch_ms, now_epoch_s, rfc3339_to_epoch_ms};
use trainq_common::{Attempt, JobRecord, ServiceError};

use crate::Watcher;

/// The pool an attempt ran in.
pub(crate) fn pool_of(attempt: &Attempt) -> Pool {
    Pool::of(&Rung {
        instance_type: attempt.instance_type.clone(),
        spot: attempt.spot,
    })
}

/// Instance-seconds an ended attempt held its instances: its training seconds, or the time
/// from launch to end when SageMaker did not say.
fn instance_seconds(attempt: &Attempt, instance_count: u32) -> f64 {
    let held_s = attempt.training_s.map(|s| s as f64).or_else(|| {
        let launched = rfc3339_to_epoch_ms(attempt.launched_at.as_deref()?)?;
        let ended = rfc3339_to_epoch_ms(attempt.ended_at.as_deref()?)?;
        Some((ended - launched).max(0) as f64 / 1000.0)
    });
    held_s.unwrap_or(0.0) * f64::from(instance_count.max(1))
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
    /// Attempt `number` of `record` ended: give its slot back and wake the dispatcher.
    /// Idempotent (a redelivered ending releases nothing more); `charge` only on the write
    /// that recorded the ending, so usage is counted once.
    pub(crate) async fn attempt_ended(&self, record: &JobRecord, number: u32, charge: bool) {
        let Some(attempt) = record.attempts.iter().find(|a| a.number == number) else {
            return;
        };
        let mut pools = vec![pool_of(attempt)];
        if self.config.scheduler.account_limit.is_some() {
            pools.push(Pool::account());
        }
        let mut freed = false;
        for pool in pools {
            match self.ledger.release(&pool, &attempt.job_name).await {
                Ok(gave_back) => freed |= gave_back,
                Err(e) => {
                    warn!(error = %e, %pool, "could not give the slot back; the reconcile will");
                    freed = true; // it may have: wake anyway
                }
            }
        }
        if charge && let Some(request) = &record.request {
            let used = instance_seconds(attempt, request.resources.instance_count);
            let half_life = self.config.scheduler.fair_share.half_life_s;
            if let Err(e) = self
                .ledger
                .charge(&request.customer, used, now_epoch_ms(), half_life)
                .await
            {
                warn!(error = %e, "could not charge the customer's usage");
            }
        }
        // A duplicate ending frees nothing: waking the dispatcher again would only flood the
        // requests queue (a wake-up its first ending lost is sent by the next reconcile).
        if freed {
            self.ring_for_a_round().await;
        }
    }

    /// Wakes the dispatcher unless a wake-up is already on its way: the first slot freed
    /// since the last round began rings the doorbell and sends it; the rest of a flood of
    /// endings finds the doorbell rung (the round to come reads the whole ledger anyway). A
    /// ring older than [`DOORBELL_STALE_MS`] rings again, in case its wake-up was lost.
    async fn ring_for_a_round(&self) {
        match self
            .ledger
            .ring_doorbell(now_epoch_ms(), DOORBELL_STALE_MS)
            .await
        {
            Ok(false) => {}
            Ok(true) => self.wake_dispatcher().await,
            Err(e) => {
                warn!(error = %e, "could not ring the doorbell; waking the dispatcher anyway");
                self.wake_dispatcher().await;
            }
        }
    }

    /// Asks the dispatcher for a round of admission. A wake-up lost here is sent by the next
    /// reconcile.
    pub(crate) async fn wake_dispatcher(&self) {
        if let Err(e) = self.queue.send(WAKE_BODY).await {
            warn!(error = %e, "could not wake the dispatcher; the reconcile will");
        }
    }

    /// Makes the ledger equal to SageMaker's truth: holders whose job is not running (and not
    /// being launched) are released; running jobs the ledger misses are added (even past the
    /// limit: they run whatever it says, and counting them keeps admission honest); pools
    /// with room end their pressure episode. Returns (released, added).
    pub(crate) async fn repair_ledger(&self) -> Result<(usize, usize), ServiceError> {
        let mut released = 0;
        for (pool, mut book) in self.ledger.all_pools().await? {
            for (holder, holding) in book.holders.clone() {
                if !self.holds_rightly(&holder).await? {
                    info!(%pool, holder, "releasing a slot its job no longer holds");
                    self.ledger.release(&pool, &holder).await?;
                    book.used = book.used.saturating_sub(holding.count);
                    released += 1;
                }
            }
            let limit = self.config.scheduler.limit(&pool);
            let capacity = book.capacity(limit, now_epoch_ms());
            if !pool.is_account() {
                // The dashboard's utilisation against the quota, once per reconcile.
                metrics::emit_with(
                    &[("Pool", &pool.to_string())],
                    &[
                        (Metric::PoolInUse, f64::from(book.used)),
                        (Metric::PoolLimit, f64::from(capacity.limit)),
                    ],
                );
            }
            if book.pressure_since_ms.is_some() && capacity.free() > 0 {
                self.ledger.end_pressure(&pool).await?;
            }
        }
        let added = self.add_unrecorded_holders().await?;
        Ok((released, added))
    }

    /// Whether `holder` (a job name) really holds its slot: SageMaker runs it, or a
    /// dispatcher is launching it under a live lease.
    async fn holds_rightly(&self, holder: &str) -> Result<bool, ServiceError> {
        match self.training.describe_training_job(holder).await {
            Ok(job) => Ok(matches!(job.status.as_str(), "InProgress" | "Stopping")),
            Err(ServiceError::NotFound(_)) => {
                let Some((request_id, number)) = trainq_common::naming::parse_job_name(holder)
                else {
                    return Ok(false);
                };
                let launching = self.store.get(request_id).await?.is_some_and(|r| {
                    r.state == JobState::Launching
                        && r.lease_until.is_some_and(|u| u > now_epoch_s())
                        && r.current_attempt().is_some_and(|a| a.number == number)
                });
                Ok(launching)
            }
            Err(e) => Err(e),
        }
    }

    /// Running attempts the ledger does not know (a take lost to a crash, a ledger rebuilt):
    /// added to their pools.
    async fn add_unrecorded_holders(&self) -> Result<usize, ServiceError> {
        let far_future = "9999";
        let max = self.config.reconcile_max as usize;
        let running = self
            .next_page("ledger:in-progress", JobState::InProgress, far_future, max)
            .await?;
        let mut added = 0;
        for record in running {
            let (Some(attempt), Some(request)) = (record.current_attempt(), &record.request) else {
                continue;
            };
            let count = request.resources.instance_count;
            let mut pools = vec![pool_of(attempt)];
            if self.config.scheduler.account_limit.is_some() {
                pools.push(Pool::account());
            }
            for pool in pools {
                let taken = self
                    .ledger
                    .take(&pool, &attempt.job_name, &request.customer, count, u32::MAX)
                    .await?;
                if taken == Taken::Taken {
                    warn!(%pool, job_name = %attempt.job_name, "a running job the ledger missed is counted again");
                    added += 1;
                }
            }
        }
        Ok(added)
    }
}
