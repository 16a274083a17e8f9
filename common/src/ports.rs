//! The ports: narrow async traits the Lambdas' logic is written against. `trainq-infra`
//! implements them over the AWS SDK; [`crate::fakes`] implements them in memory for unit tests.

use std::collections::BTreeMap;
use std::future::Future;

use uuid::Uuid;

use crate::alert::Alert;
use crate::approval::Champion;
use crate::error::ServiceError;
use crate::event::JobStateChange;
use crate::launch::TrainingJobSpec;
use crate::record::JobRecord;
use crate::registration::{ChampionLookup, ModelPackageSpec};
use crate::scheduling::{LearnedLimit, Place, Pool, PoolBook, Usage};
use crate::state::JobState;

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// The record was written.
    Written,
    /// The condition failed; this is the record the store holds now (if any).
    Conflict(Option<Box<JobRecord>>),
}

/// The jobs table.
pub trait JobStore: Send + Sync {
    /// Writes `record` only if no record with its request id exists.
    fn put_new(
        &self,
        record: &JobRecord,
    ) -> impl Future<Output = Result<Write, ServiceError>> + Send;

    /// Writes `record` only if the stored record's version is `expected_version`.
    fn put_if_version(
        &self,
        record: &JobRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<Write, ServiceError>> + Send;

    /// Reads a record (strongly consistent).
    fn get(
        &self,
        request_id: Uuid,
    ) -> impl Future<Output = Result<Option<JobRecord>, ServiceError>> + Send;

    /// Up to `limit` records in `state` last written before `updated_before` (RFC 3339),
    /// oldest first, starting after `after` (the by-state index; eventually consistent, so
    /// callers re-read). The page's `next` says where the next page starts; `None` when this
    /// one reached the end.
    fn list_stale(
        &self,
        state: JobState,
        updated_before: &str,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> impl Future<Output = Result<StalePage, ServiceError>> + Send;

    /// The head of the waiting room: of every class rank below `ranks` and every customer, the
    /// `per_customer` oldest `Queued` requests with their places (the waiting-room index; eventually consistent, so
    /// an admission re-reads the record before it acts).
    fn waiting(
        &self,
        ranks: u32,
        per_customer: usize,
    ) -> impl Future<Output = Result<Vec<(Uuid, Place)>, ServiceError>> + Send;

    /// Up to `limit` requests whose record holds undelivered alerts and was last written
    /// before `updated_before` (the sparse `pending-alerts` index, keys only; callers re-read).
    fn pending_alerts(
        &self,
        updated_before: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, ServiceError>> + Send;
}

/// Where a listing of stale records stopped: its last record's shard, sort key and id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaleCursor {
    /// The shard of the store's state index the last record is in (a store that does not
    /// shard its index has only shard 0); a listing walks the shards in order.
    #[serde(default)]
    pub shard: u8,
    /// The last record's `updated_at`.
    pub updated_at: String,
    /// The last record's id.
    pub request_id: Uuid,
}

/// One page of stale records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StalePage {
    /// The records, oldest first.
    pub records: Vec<JobRecord>,
    /// Where the next page starts; `None` when this page reached the end.
    pub next: Option<StaleCursor>,
}

/// SageMaker training jobs.
pub trait TrainingService: Send + Sync {
    /// Creates a training job and returns its ARN. A reused name is
    /// [`ServiceError::AlreadyExists`]: that attempt was already launched.
    fn create_training_job(
        &self,
        spec: &TrainingJobSpec,
    ) -> impl Future<Output = Result<String, ServiceError>> + Send;

    /// The job as SageMaker sees it now, in the shape of a state-change event (the watcher
    /// fills terminal details from it; reconcile heals lost events with it).
    fn describe_training_job(
        &self,
        job_name: &str,
    ) -> impl Future<Output = Result<JobStateChange, ServiceError>> + Send;

    /// StopTrainingJob by name: stopping now, not running (ended or already stopping), or
    /// unknown to SageMaker (never created).
    fn stop_training_job(
        &self,
        job_name: &str,
    ) -> impl Future<Output = Result<crate::cancel::StopAnswer, ServiceError>> + Send;
}

/// The SageMaker Model Registry: package groups and versioned model packages.
pub trait ModelRegistry: Send + Sync {
    /// Creates `spec.group` unless it exists (a concurrent creation counts as existing).
    fn ensure_group(
        &self,
        spec: &ModelPackageSpec,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// The ARN of a package in `spec.group` already registered for `spec.job_name` (created
    /// at or after `spec.not_before_ms`), if there is one: this makes registration idempotent
    /// where the registry's own `ClientToken` is not honoured.
    fn find_package(
        &self,
        spec: &ModelPackageSpec,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send;

    /// Creates the versioned package; returns its ARN.
    fn create_package(
        &self,
        spec: &ModelPackageSpec,
    ) -> impl Future<Output = Result<String, ServiceError>> + Send;

    /// The model in service: in the first of `lookup.groups` that has one, its newest
    /// `Approved` package that is not `lookup.job_name`'s own (an earlier try of this
    /// registration may have created that one) and that [`ChampionLookup::admits`], with the
    /// metrics it was registered with. `None` when no group has one (or exists).
    fn champion(
        &self,
        lookup: &ChampionLookup,
    ) -> impl Future<Output = Result<Option<Champion>, ServiceError>> + Send;

    /// The bytes of `manifest.json` in the model artifact at `model_data_url` (a
    /// `model.tar.gz`); `None` when the artifact holds none (or does not exist). An artifact
    /// that cannot be read for good is `Invalid` (the reason says why).
    fn read_manifest(
        &self,
        model_data_url: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, ServiceError>> + Send;
}

/// Where alerts go.
pub trait AlertSink: Send + Sync {
    /// Publishes one alert.
    fn send(&self, alert: &Alert) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// The requests queue, for what the event source mapping does not do for us.
pub trait RequestQueue: Send + Sync {
    /// Hides a received message for `delay_s` seconds before it is delivered again.
    fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay_s: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Sends a request body (the watcher re-enqueues a request to launch its next attempt).
    fn send(&self, body: &str) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Sends a body that becomes visible after `delay_s` seconds (at most 900, SQS's limit).
    fn send_delayed(
        &self,
        body: &str,
        delay_s: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// What taking instances of a pool came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The holder now holds them.
    Taken,
    /// The holder held them already (a retried take changes nothing).
    AlreadyHeld,
    /// They would not fit: `used` of the limit are held.
    Full {
        /// Instances held now.
        used: u32,
    },
}

/// The capacity ledger: per pool, which holders (training jobs) hold how many instances, and
/// what the scheduler keeps beside them (learnt limits, pressure episodes, customers' decayed
/// usage, the CreateTrainingJob call rate). Holders never exceed the limit, under any
/// interleaving of takes and releases.
pub trait CapacityLedger: Send + Sync {
    /// `count` instances of `pool` for `holder` (running for `customer`), if the pool's
    /// holders stay within `limit`.
    fn take(
        &self,
        pool: &Pool,
        holder: &str,
        customer: &str,
        count: u32,
        limit: u32,
    ) -> impl Future<Output = Result<Taken, ServiceError>> + Send;

    /// Gives back what `holder` holds of `pool`; `false` when it held nothing (given back
    /// already: a duplicate ending).
    fn release(
        &self,
        pool: &Pool,
        holder: &str,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;

    /// The entries of `pools` (an empty entry for a pool never used).
    fn pools(
        &self,
        pools: &[Pool],
    ) -> impl Future<Output = Result<BTreeMap<Pool, PoolBook>, ServiceError>> + Send;

    /// Every pool that has an entry, with it (the reconcile's view).
    fn all_pools(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<Pool, PoolBook>, ServiceError>> + Send;

    /// Records a limit learnt from a quota refusal.
    fn learn_limit(
        &self,
        pool: &Pool,
        learned: LearnedLimit,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Marks `pool` under pressure since `now_ms`; `true` only for the caller that began the
    /// episode (it sends the one alert).
    fn begin_pressure(
        &self,
        pool: &Pool,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;

    /// Ends `pool`'s pressure episode.
    fn end_pressure(&self, pool: &Pool) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Rings the dispatcher's doorbell at `now_ms`: `true` for the caller that is to send the
    /// wake-up (nobody rang since the last round of admission began, or the ring is older than
    /// `stale_ms`, so its wake-up may be lost), `false` while a wake-up is on its way.
    fn ring_doorbell(
        &self,
        now_ms: i64,
        stale_ms: i64,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;

    /// A round of admission begins: whoever frees a slot from now on rings again.
    fn answer_doorbell(&self) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// A bookmark the reconcile keeps between runs (where its last look at a state stopped),
    /// kept beside the ledger in the capacity table; `None` when unset.
    fn bookmark(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send;

    /// Sets (or, with `None`, clears) a bookmark.
    fn set_bookmark(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// The decayed usage of `customers` (absent: none yet).
    fn usage(
        &self,
        customers: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Usage>, ServiceError>> + Send;

    /// Adds `instance_seconds` to `customer`'s usage at `now_ms`, decayed with `half_life_s`.
    fn charge(
        &self,
        customer: &str,
        instance_seconds: f64,
        now_ms: i64,
        half_life_s: f64,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// One CreateTrainingJob call within `per_second` across every caller: `true` if the call
    /// may go now, `false` if this second's calls are spent.
    fn call_slot(
        &self,
        per_second: u32,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;
}

// The ports are also implemented for references, so a caller can keep the adapter (a test
// inspecting a fake, a binary sharing one client) while the logic owns a handle to it.

impl<P: JobStore + ?Sized> JobStore for &P {
    fn put_new(
        &self,
        record: &JobRecord,
    ) -> impl Future<Output = Result<Write, ServiceError>> + Send {
        (**self).put_new(record)
    }
    fn put_if_version(
        &self,
        record: &JobRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<Write, ServiceError>> + Send {
        (**self).put_if_version(record, expected_version)
    }
    fn get(
        &self,
        request_id: Uuid,
    ) -> impl Future<Output = Result<Option<JobRecord>, ServiceError>> + Send {
        (**self).get(request_id)
    }
    fn list_stale(
        &self,
        state: JobState,
        updated_before: &str,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> impl Future<Output = Result<StalePage, ServiceError>> + Send {
        (**self).list_stale(state, updated_before, limit, after)
    }
    fn waiting(
        &self,
        ranks: u32,
        per_customer: usize,
    ) -> impl Future<Output = Result<Vec<(Uuid, Place)>, ServiceError>> + Send {
        (**self).waiting(ranks, per_customer)
    }
    fn pending_alerts(
        &self,
        updated_before: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, ServiceError>> + Send {
        (**self).pending_alerts(updated_before, limit)
    }
}

impl<P: ModelRegistry + ?Sized> ModelRegistry for &P {
    fn ensure_group(
        &self,
        spec: &ModelPackageSpec,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).ensure_group(spec)
    }
    fn find_package(
        &self,
        spec: &ModelPackageSpec,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send {
        (**self).find_package(spec)
    }
    fn create_package(
        &self,
        spec: &ModelPackageSpec,
    ) -> impl Future<Output = Result<String, ServiceError>> + Send {
        (**self).create_package(spec)
    }
    fn champion(
        &self,
        lookup: &ChampionLookup,
    ) -> impl Future<Output = Result<Option<Champion>, ServiceError>> + Send {
        (**self).champion(lookup)
    }
    fn read_manifest(
        &self,
        model_data_url: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, ServiceError>> + Send {
        (**self).read_manifest(model_data_url)
    }
}

impl<P: TrainingService + ?Sized> TrainingService for &P {
    fn create_training_job(
        &self,
        spec: &TrainingJobSpec,
    ) -> impl Future<Output = Result<String, ServiceError>> + Send {
        (**self).create_training_job(spec)
    }
    fn describe_training_job(
        &self,
        job_name: &str,
    ) -> impl Future<Output = Result<JobStateChange, ServiceError>> + Send {
        (**self).describe_training_job(job_name)
    }
    fn stop_training_job(
        &self,
        job_name: &str,
    ) -> impl Future<Output = Result<crate::cancel::StopAnswer, ServiceError>> + Send {
        (**self).stop_training_job(job_name)
    }
}

impl<P: AlertSink + ?Sized> AlertSink for &P {
    fn send(&self, alert: &Alert) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).send(alert)
    }
}

impl<P: RequestQueue + ?Sized> RequestQueue for &P {
    fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay_s: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).delay_redelivery(receipt_handle, delay_s)
    }
    fn send(&self, body: &str) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).send(body)
    }
    fn send_delayed(
        &self,
        body: &str,
        delay_s: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).send_delayed(body, delay_s)
    }
}

impl<P: CapacityLedger + ?Sized> CapacityLedger for &P {
    fn take(
        &self,
        pool: &Pool,
        holder: &str,
        customer: &str,
        count: u32,
        limit: u32,
    ) -> impl Future<Output = Result<Taken, ServiceError>> + Send {
        (**self).take(pool, holder, customer, count, limit)
    }
    fn release(
        &self,
        pool: &Pool,
        holder: &str,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send {
        (**self).release(pool, holder)
    }
    fn pools(
        &self,
        pools: &[Pool],
    ) -> impl Future<Output = Result<BTreeMap<Pool, PoolBook>, ServiceError>> + Send {
        (**self).pools(pools)
    }
    fn all_pools(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<Pool, PoolBook>, ServiceError>> + Send {
        (**self).all_pools()
    }
    fn learn_limit(
        &self,
        pool: &Pool,
        learned: LearnedLimit,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).learn_limit(pool, learned)
    }
    fn begin_pressure(
        &self,
        pool: &Pool,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send {
        (**self).begin_pressure(pool, now_ms)
    }
    fn end_pressure(&self, pool: &Pool) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).end_pressure(pool)
    }
    fn ring_doorbell(
        &self,
        now_ms: i64,
        stale_ms: i64,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send {
        (**self).ring_doorbell(now_ms, stale_ms)
    }
    fn answer_doorbell(&self) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).answer_doorbell()
    }
    fn bookmark(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send {
        (**self).bookmark(name)
    }
    fn set_bookmark(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).set_bookmark(name, value)
    }
    fn usage(
        &self,
        customers: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Usage>, ServiceError>> + Send {
        (**self).usage(customers)
    }
    fn charge(
        &self,
        customer: &str,
        instance_seconds: f64,
        now_ms: i64,
        half_life_s: f64,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        (**self).charge(customer, instance_seconds, now_ms, half_life_s)
    }
    fn call_slot(
        &self,
        per_second: u32,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send {
        (**self).call_slot(per_second, now_ms)
    }
}
