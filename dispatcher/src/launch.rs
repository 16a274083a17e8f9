//! The launch path of an admitted request: slot → claim → create → record.
//!
//! Exactly one training job per attempt, and never more instances than a pool's limit:
//! - the slot is taken in the capacity ledger first, held by the attempt's job name (a retried
//!   take changes nothing), so holders never exceed the limit;
//! - the claim is a conditional write `Queued → Launching` that also takes a launch lease, so a
//!   concurrent round that admitted the same request backs off without calling SageMaker;
//! - the job name is derived from (request id, attempt), so if a dispatcher dies after
//!   CreateTrainingJob and before recording it, the redelivery that takes over the expired
//!   lease gets `ResourceInUse` for the same name and records the attempt as launched.
//!
//! The slot is given back when SageMaker refuses the create (quota: the pool's limit is
//! lowered for a while; throttling; a permanent refusal) and when the claim is lost.

use tracing::{Span, warn};
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::launch::{Rung, plan};
use trainq_common::metrics::{self, Metric};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService, Write,
};
use trainq_common::scheduling::{Admission, LearnedLimit, Place, Pool};
use trainq_common::state::JobState;
use trainq_common::time_util::{now_epoch_ms, now_epoch_s, now_rfc3339};
use trainq_common::{JobRecord, ServiceError, cancel, chaos};

use crate::slots::Slots;
use crate::{Dispatcher, Outcome};

/// How long a limit learnt from a quota refusal holds before the configured one is tried again.
const LEARNED_LIMIT_MS: i64 = 10 * 60 * 1000;
/// How many times a launch waits for the next second of the call rate before giving up.
const RATE_WAITS: usize = 10;

/// What became of one admitted request.
#[derive(Debug)]
pub(crate) enum Launch {
    /// Created (or found created) and recorded, with its job name.
    Launched(String),
    /// Nothing done: someone else admitted it, the pool filled, or it moved on.
    Skipped,
    /// SageMaker refused for quota: the request is back in its place.
    QuotaRefused,
    /// SageMaker, the ledger or the table pushed back: stop the round (the request is back
    /// in its place, or its lapsing lease hands it to a redelivery or the reconcile).
    Throttled(ServiceError),
    /// SageMaker refused the job for good: the request is `Failed`.
    Failed(ServiceError),
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// Takes the slot for an admitted request, claims it and launches it.
    pub(crate) async fn launch_admitted(
        &self,
        admission: &Admission,
        place: &Place,
        limit: u32,
    ) -> Launch {
        let Ok(Some(mut record)) = self.store.get(admission.request_id).await else {
            return Launch::Skipped;
        };
        if record.state != JobState::Queued {
            return Launch::Skipped; // the index lags the table: someone moved it already
        }
        let Some(holder) = record.current_attempt().map(|a| a.job_name.clone()) else {
            return Launch::Skipped;
        };
        let pool = &admission.pool;
        let took = match self
            .take_slots(pool, &holder, &place.customer, place.instance_count, limit)
            .await
        {
            Ok(Slots::Held { fresh }) => fresh,
            Ok(Slots::Full) => return Launch::Skipped, // filled meanwhile: the next round
            Err(e) => return Launch::Throttled(e),
        };
        if let Some(attempt) = record.current_attempt_mut() {
            attempt.instance_type = pool.instance_type.clone();
            attempt.spot = pool.spot;
        }
        let waited_s = (now_epoch_ms() - place.enqueued_ms).max(0) / 1000;
        record.reason = Some(format!(
            "admitted on {pool} (rung {} of its ladder) after {waited_s} s in the waiting room",
            admission.rung + 1
        ));
        record.lease_until = Some(now_epoch_s() + i64::from(self.config.lease_s));
        if record.transition(JobState::Launching).is_err() {
            return Launch::Skipped;
        }
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => {}
            Ok(Write::Conflict(current)) => {
                self.give_back_lost(pool, &holder, took, current).await;
                return Launch::Skipped;
            }
            Err(e) => {
                if took {
                    self.release(pool, &holder).await;
                }
                return Launch::Throttled(e);
            }
        }
        self.create_and_record(record, pool, place).await
    }

    /// Finishes a launch whose dispatcher stopped mid-way (its lease expired): the slot is
    /// taken again (still held, normally) and the job created under the same name.
    pub(crate) async fn resume(&self, mut record: JobRecord) -> Outcome {
        let Some(attempt) = record.current_attempt().cloned() else {
            return Outcome::Retry(ServiceError::Permanent(
                "launching record has no attempt".into(),
            ));
        };
        let pool = Pool::of(&Rung {
            instance_type: attempt.instance_type.clone(),
            spot: attempt.spot,
        });
        let classes = &self.config.scheduler.classes;
        let Some(place) = Place::of(&record, classes, now_epoch_ms()) else {
            return Outcome::Retry(ServiceError::Permanent("record keeps no request".into()));
        };
        let books = match self.ledger.pools(std::slice::from_ref(&pool)).await {
            Ok(books) => books,
            Err(e) => return Outcome::Retry(e),
        };
        let limit = books
            .get(&pool)
            .cloned()
            .unwrap_or_default()
            .capacity(self.config.scheduler.limit(&pool), now_epoch_ms())
            .limit;
        let taken = self
            .take_slots(
                &pool,
                &attempt.job_name,
                &place.customer,
                place.instance_count,
                limit,
            )
            .await;
        record.touch();
        record.lease_until = Some(now_epoch_s() + i64::from(self.config.lease_s));
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => {}
            Ok(Write::Conflict(_)) => return Outcome::Busy,
            Err(e) => return Outcome::Retry(e),
        }
        match taken {
            Ok(Slots::Held { .. }) => {}
            // The pool filled while the launch was abandoned: back to the waiting room.
            Ok(Slots::Full) => {
                let reason = format!("{pool} filled while its launch was abandoned");
                self.requeue(record, &place, reason).await;
                return Outcome::Queued;
            }
            Err(e) => {
                self.requeue(record, &place, format!("capacity ledger: {e}"))
                    .await;
                return Outcome::Retry(e);
            }
        }
        match self.create_and_record(record, &pool, &place).await {
            Launch::Launched(job_name) => Outcome::Launched {
                job_name,
                already_existed: true,
            },
            Launch::Skipped | Launch::QuotaRefused => Outcome::Queued,
            Launch::Failed(e) => Outcome::Failed(e),
            Launch::Throttled(e) => Outcome::Retry(e),
        }
    }

    /// CreateTrainingJob for a claimed record (within the call rate), then its record.
    async fn create_and_record(&self, mut record: JobRecord, pool: &Pool, place: &Place) -> Launch {
        let Some(attempt) = record.current_attempt().cloned() else {
            return Launch::Skipped;
        };
        let Some(request) = record.request.clone() else {
            return Launch::Skipped;
        };
        let valid = trainq_common::request::ValidRequest {
            request_id: record.request_id,
            request,
        };
        let registry = self.config.registries.get(valid.request.registry);
        let rung = Rung {
            instance_type: attempt.instance_type.clone(),
            spot: attempt.spot,
        };
        let spec = plan(&valid, registry, attempt.number, &rung);
        Span::current().record("job_name", spec.job_name.as_str());
        if let Err(e) = self.call_slot().await {
            self.release(pool, &attempt.job_name).await;
            self.requeue(record, place, format!("CreateTrainingJob rate: {e}"))
                .await;
            return Launch::Throttled(e);
        }
        if chaos::point("dispatcher: claimed, before CreateTrainingJob").is_err() {
            return Launch::Skipped; // as if the dispatcher died: the lease lapses, a redelivery resumes
        }
        let created = self.training.create_training_job(&spec).await;
        if chaos::point("dispatcher: after CreateTrainingJob, before recording it").is_err() {
            return Launch::Skipped;
        }
        let registry_name = valid.request.registry.as_str();
        match created {
            Ok(arn) => {
                self.record_launch(record, Some(arn), place, registry_name)
                    .await
            }
            Err(ServiceError::AlreadyExists(_)) => {
                self.record_launch(record, None, place, registry_name).await
            }
            Err(e @ ServiceError::QuotaExceeded(_)) => {
                self.release(pool, &attempt.job_name).await;
                let limit = self.learn_limit(pool).await;
                let reason = format!("CreateTrainingJob refused on {pool}: {e}");
                let detail = format!(
                    "SageMaker refused a job on {pool} with {limit} instances held: its quota is \
                     below the configured limit; the pool is held at {limit} for {} min",
                    LEARNED_LIMIT_MS / 60_000
                );
                let mut record = record;
                if let Some(alert) = self
                    .begin_pressure(pool, &record, detail, now_epoch_ms())
                    .await
                {
                    record.stage_alert(alert);
                }
                self.requeue(record, place, reason).await;
                Launch::QuotaRefused
            }
            Err(e) if e.is_retryable() => {
                self.release(pool, &attempt.job_name).await;
                self.requeue(record, place, format!("CreateTrainingJob pushed back: {e}"))
                    .await;
                Launch::Throttled(e)
            }
            Err(e) => {
                self.release(pool, &attempt.job_name).await;
                self.fail(&mut record, e.clone()).await;
                Launch::Failed(e)
            }
        }
    }

    /// Waits for a CreateTrainingJob call within the account's rate (a second at most per try).
    async fn call_slot(&self) -> Result<(), ServiceError> {
        let rate = self.config.scheduler.create_rate_per_s;
        for _ in 0..RATE_WAITS {
            let now = now_epoch_ms();
            if self.ledger.call_slot(rate, now).await? {
                return Ok(());
            }
            let to_next_second = 1000 - now.rem_euclid(1000);
            tokio::time::sleep(std::time::Duration::from_millis(to_next_second as u64 + 1)).await;
        }
        Err(ServiceError::Throttled(format!(
            "more than {rate} launches per second are waiting"
        )))
    }

    async fn record_launch(
        &self,
        mut record: JobRecord,
        arn: Option<String>,
        place: &Place,
        registry: &str,
    ) -> Launch {
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
        if record.transition(JobState::InProgress).is_err() {
            return Launch::Skipped;
        }
        let expected = record.next_version();
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => {}
            // Cancelled while we created the job: nothing may run for it, so stop it (its
            // terminal event ends the record `Cancelled` and gives the slot back).
            Ok(Write::Conflict(Some(current))) if cancel::is_cancelled(&current) => {
                self.stop_cancelled(&job_name).await;
                return Launch::Skipped;
            }
            // The watcher saw the job's first event before we wrote: the record is past us.
            Ok(Write::Conflict(Some(current))) if current.state != JobState::Launching => {}
            // The job exists: when the lease lapses, a redelivery (`ResourceInUse`) or the
            // reconcile (DescribeTrainingJob) records it.
            Ok(Write::Conflict(_)) => return Launch::Skipped,
            Err(e) => {
                warn!(%job_name, error = %e, "created but not recorded; a redelivery or the reconcile records it");
                return Launch::Throttled(e);
            }
        }
        let waited_s = (now_epoch_ms() - place.enqueued_ms).max(0) as f64 / 1000.0;
        metrics::emit(
            registry,
            &[(Metric::Launched, 1.0), (Metric::EnqueueToLaunch, waited_s)],
        );
        Launch::Launched(job_name)
    }

    /// Stops the job this dispatcher created for a request cancelled meanwhile. If the call
    /// fails, the watcher stops it on its first event (a running attempt of a cancelled record).
    async fn stop_cancelled(&self, job_name: &str) {
        match self.training.stop_training_job(job_name).await {
            Ok(answer) => {
                warn!(%job_name, ?answer, "created a job for a cancelled request; stopped it")
            }
            Err(e) => {
                warn!(%job_name, error = %e, "could not stop the job of a cancelled request; the watcher stops it")
            }
        }
    }

    /// Back to the waiting room at the same place (same age), with the reason.
    pub(crate) async fn requeue(&self, mut record: JobRecord, place: &Place, reason: String) {
        if let (Some(attempt), Some(first)) = (record.current_attempt_mut(), place.pools.first()) {
            attempt.instance_type = first.instance_type.clone();
            attempt.spot = first.spot;
        }
        record.lease_until = None;
        record.defer_count += 1;
        record.reason = Some(reason);
        if record.enqueue(place.clone()).is_err() {
            return;
        }
        let expected = record.next_version();
        // If this write fails the lease lapses and a redelivery or the reconcile finds the
        // record `Launching`, takes it over and launches or requeues it.
        match self.store.put_if_version(&record, expected).await {
            Ok(Write::Written) => {
                let _ = self.deliver_alerts(&record).await;
            }
            Ok(Write::Conflict(_)) => {}
            Err(e) => warn!(error = %e, "could not put the request back in the waiting room"),
        }
    }

    /// A quota refusal: the pool holds at most what ran when SageMaker refused, for a while.
    /// Returns that limit.
    async fn learn_limit(&self, pool: &Pool) -> u32 {
        let used = match self.ledger.pools(std::slice::from_ref(pool)).await {
            Ok(books) => books.get(pool).map_or(0, |b| b.used),
            Err(_) => 0,
        };
        let learned = LearnedLimit {
            limit: used,
            until_ms: now_epoch_ms() + LEARNED_LIMIT_MS,
        };
        warn!(%pool, limit = used, "SageMaker's quota is below the configured limit; holding the pool at what runs");
        if let Err(e) = self.ledger.learn_limit(pool, learned).await {
            warn!(error = %e, "could not record the learnt limit");
        }
        used
    }

    /// The claim was lost to another round: give the slot back unless the winner uses it
    /// (same job, same pool: the same slot).
    async fn give_back_lost(
        &self,
        pool: &Pool,
        holder: &str,
        took: bool,
        current: Option<Box<JobRecord>>,
    ) {
        if !took {
            return;
        }
        let winner_uses_it = current.is_some_and(|r| {
            r.current_attempt().is_some_and(|a| {
                a.job_name == holder && a.instance_type == pool.instance_type && a.spot == pool.spot
            }) && matches!(r.state, JobState::Launching | JobState::InProgress)
        });
        if !winner_uses_it {
            self.release(pool, holder).await;
        }
    }

    /// SageMaker refused the job for a reason retrying cannot fix.
    async fn fail(&self, record: &mut JobRecord, cause: ServiceError) {
        record.lease_until = None;
        record.reason = Some(format!("CreateTrainingJob refused: {cause}"));
        if let Some(attempt) = record.current_attempt_mut() {
            attempt.failure_reason = Some(cause.to_string());
            attempt.status = Some("Failed".into());
        }
        if record.transition(JobState::Failed).is_err() {
            return;
        }
        let alert = Alert::about(
            AlertKind::JobFailed,
            record,
            record.reason.clone().unwrap_or_default(),
        );
        record.stage_alert(alert);
        let expected = record.next_version();
        match self.store.put_if_version(record, expected).await {
            Ok(Write::Written) => {}
            _ => {
                warn!("could not record the refusal; the lease lapses and a redelivery retries");
                return;
            }
        }
        if let Some(registry) = record.registry {
            metrics::emit(registry.as_str(), &[(Metric::Failed, 1.0)]);
        }
        // A refusal stays in the outbox: the reconcile delivers it.
        let _ = self.deliver_alerts(record).await;
    }
}
