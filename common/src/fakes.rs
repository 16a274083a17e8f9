//! In-memory implementations of the ports, for unit tests of the Lambdas' logic only; the
//! integration suite runs the same logic against moto and the local SageMaker endpoint.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use uuid::Uuid;

use crate::alert::Alert;
use crate::approval::Champion;
use crate::error::ServiceError;
use crate::event::JobStateChange;
use crate::launch::TrainingJobSpec;
use crate::ports::{
    AlertSink, CapacityLedger, JobStore, ModelRegistry, RequestQueue, StaleCursor, StalePage,
    Taken, TrainingService, Write,
};
use crate::record::JobRecord;
use crate::registration::{
    ApprovalStatus, ChampionLookup, ModelPackageSpec, describes_job, metrics_of,
};
use crate::scheduling::{Holding, LearnedLimit, Place, Pool, PoolBook, Usage};
use crate::state::JobState;

/// A job store with the same conditional-write semantics as the DynamoDB adapter.
#[derive(Default)]
pub struct MemoryJobStore {
    records: Mutex<BTreeMap<Uuid, JobRecord>>,
    /// What the next writes do, in order: `None` succeeds as usual, `Some(e)` fails with `e`
    /// without writing. Once empty, every write succeeds.
    pub write_script: Mutex<VecDeque<Option<ServiceError>>>,
}

impl MemoryJobStore {
    /// A copy of the stored record.
    pub fn record(&self, id: Uuid) -> Option<JobRecord> {
        self.records.lock().unwrap().get(&id).cloned()
    }

    /// All stored records.
    pub fn all(&self) -> Vec<JobRecord> {
        self.records.lock().unwrap().values().cloned().collect()
    }

    /// Stores `record` as is (test setup).
    pub fn insert(&self, record: JobRecord) {
        self.records
            .lock()
            .unwrap()
            .insert(record.request_id, record);
    }

    fn fault(&self) -> Result<(), ServiceError> {
        match self.write_script.lock().unwrap().pop_front().flatten() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The record as a store keeps it: within its size budget, as the DynamoDB adapter writes it.
fn fitted(record: &JobRecord) -> JobRecord {
    let mut kept = record.clone();
    kept.fit();
    kept
}

impl JobStore for MemoryJobStore {
    async fn put_new(&self, record: &JobRecord) -> Result<Write, ServiceError> {
        self.fault()?;
        let mut records = self.records.lock().unwrap();
        if let Some(existing) = records.get(&record.request_id) {
            return Ok(Write::Conflict(Some(Box::new(existing.clone()))));
        }
        records.insert(record.request_id, fitted(record));
        Ok(Write::Written)
    }

    async fn put_if_version(
        &self,
        record: &JobRecord,
        expected: u64,
    ) -> Result<Write, ServiceError> {
        self.fault()?;
        let mut records = self.records.lock().unwrap();
        match records.get(&record.request_id) {
            Some(current) if current.version == expected => {
                records.insert(record.request_id, fitted(record));
                Ok(Write::Written)
            }
            current => Ok(Write::Conflict(current.cloned().map(Box::new))),
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<JobRecord>, ServiceError> {
        Ok(self.record(id))
    }

    async fn list_stale(
        &self,
        state: JobState,
        updated_before: &str,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> Result<StalePage, ServiceError> {
        let key = |r: &JobRecord| (r.updated_at.clone(), r.request_id);
        let mut found: Vec<JobRecord> = self
            .all()
            .into_iter()
            .filter(|r| r.state == state && r.updated_at.as_str() < updated_before)
            .filter(|r| after.is_none_or(|c| key(r) > (c.updated_at.clone(), c.request_id)))
            .collect();
        found.sort_by_key(key);
        let more = found.len() > limit;
        found.truncate(limit);
        let next = more.then(|| found.last()).flatten().map(|r| StaleCursor {
            shard: 0,
            updated_at: r.updated_at.clone(),
            request_id: r.request_id,
        });
        Ok(StalePage {
            records: found,
            next,
        })
    }

    async fn pending_alerts(
        &self,
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Uuid>, ServiceError> {
        let mut found: Vec<JobRecord> = self
            .all()
            .into_iter()
            .filter(|r| r.alerts_pending.is_some() && r.updated_at.as_str() < updated_before)
            .collect();
        found.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|r| r.request_id)
            .collect())
    }

    async fn waiting(
        &self,
        ranks: u32,
        per_customer: usize,
    ) -> Result<Vec<(Uuid, Place)>, ServiceError> {
        let mut queued: Vec<(String, String, Uuid, Place)> = self
            .all()
            .into_iter()
            .filter_map(|r| {
                Some((
                    r.queue_class.clone()?,
                    r.queue_order.clone()?,
                    r.request_id,
                    r.waiting?,
                ))
            })
            .collect();
        queued.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        Ok(queued
            .into_iter()
            .filter(|(class, _, _, _)| class.parse::<u32>().is_ok_and(|rank| rank < ranks))
            .filter(|(class, _, _, place)| {
                let n = seen
                    .entry((class.clone(), place.customer.clone()))
                    .or_default();
                *n += 1;
                *n <= per_customer
            })
            .map(|(_, _, id, place)| (id, place))
            .collect())
    }
}

/// A model registry in memory: groups, packages in creation order, call counts, faults.
#[derive(Default)]
pub struct FakeModelRegistry {
    /// Groups by name.
    pub groups: Mutex<BTreeMap<String, ModelPackageSpec>>,
    /// Packages as `(arn, spec)`, in creation order.
    pub packages: Mutex<Vec<(String, ModelPackageSpec)>>,
    /// Errors to return from the next creates (of packages), in order.
    pub faults: Mutex<VecDeque<ServiceError>>,
    /// `manifest.json` in each model artifact, by the artifact's S3 URI.
    pub manifests: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl FakeModelRegistry {
    /// The packages of `group`.
    pub fn packages_in(&self, group: &str) -> Vec<ModelPackageSpec> {
        let packages = self.packages.lock().unwrap();
        packages
            .iter()
            .filter(|(_, s)| s.group == group)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Puts an `Approved` package of an earlier job in `group` (the model in service) with
    /// final `metrics`; returns its ARN.
    pub fn put_champion(&self, group: &str, metrics: &[(&str, f64)]) -> String {
        self.put_champion_with(
            group,
            metrics,
            "s3://models/tq-earlier-1/output/model.tar.gz",
        )
    }

    /// As [`Self::put_champion`], its model at `model_data_url`.
    pub fn put_champion_with(
        &self,
        group: &str,
        metrics: &[(&str, f64)],
        model_data_url: &str,
    ) -> String {
        let spec = ModelPackageSpec {
            group: group.to_owned(),
            group_description: String::new(),
            group_tags: Vec::new(),
            description: "tq-earlier-1: trained by trainq".to_owned(),
            job_name: "tq-earlier-1".to_owned(),
            client_token: String::new(),
            image_uri: String::new(),
            model_data_url: model_data_url.to_owned(),
            approval: ApprovalStatus::Approved,
            metadata: metrics
                .iter()
                .map(|(k, v)| {
                    (
                        format!("{}{k}", crate::registration::METRIC_KEY_PREFIX),
                        v.to_string(),
                    )
                })
                .collect(),
            not_before_ms: 0,
        };
        self.groups
            .lock()
            .unwrap()
            .insert(group.to_owned(), spec.clone());
        let mut packages = self.packages.lock().unwrap();
        let arn = format!(
            "arn:aws:sagemaker:eu-west-1:000000000000:model-package/{group}/{}",
            packages.len() + 1
        );
        packages.push((arn.clone(), spec));
        arn
    }
}

impl ModelRegistry for FakeModelRegistry {
    async fn ensure_group(&self, spec: &ModelPackageSpec) -> Result<(), ServiceError> {
        self.groups
            .lock()
            .unwrap()
            .entry(spec.group.clone())
            .or_insert_with(|| spec.clone());
        Ok(())
    }

    async fn find_package(&self, spec: &ModelPackageSpec) -> Result<Option<String>, ServiceError> {
        let packages = self.packages.lock().unwrap();
        Ok(packages
            .iter()
            .find(|(_, s)| s.group == spec.group && describes_job(&s.description, &spec.job_name))
            .map(|(arn, _)| arn.clone()))
    }

    async fn create_package(&self, spec: &ModelPackageSpec) -> Result<String, ServiceError> {
        if let Some(e) = self.faults.lock().unwrap().pop_front() {
            return Err(e);
        }
        if !self.groups.lock().unwrap().contains_key(&spec.group) {
            return Err(ServiceError::Invalid(format!(
                "model package group `{}` does not exist",
                spec.group
            )));
        }
        let mut packages = self.packages.lock().unwrap();
        let version = packages
            .iter()
            .filter(|(_, s)| s.group == spec.group)
            .count()
            + 1;
        let arn = format!(
            "arn:aws:sagemaker:eu-west-1:000000000000:model-package/{}/{version}",
            spec.group
        );
        packages.push((arn.clone(), spec.clone()));
        Ok(arn)
    }

    async fn champion(&self, lookup: &ChampionLookup) -> Result<Option<Champion>, ServiceError> {
        let packages = self.packages.lock().unwrap();
        let found = lookup.groups.iter().find_map(|group| {
            packages.iter().rev().find(|(_, s)| {
                s.group == *group
                    && s.approval == ApprovalStatus::Approved
                    && !describes_job(&s.description, &lookup.job_name)
                    && lookup.admits(
                        s.metadata.get("trainq:customer").map(String::as_str),
                        s.metadata.get("trainq:project").map(String::as_str),
                    )
            })
        });
        Ok(found.map(|(arn, s)| Champion {
            package_arn: arn.clone(),
            metrics: metrics_of(&s.metadata),
            model_data_url: Some(s.model_data_url.clone()).filter(|u| !u.is_empty()),
        }))
    }

    async fn read_manifest(&self, model_data_url: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.manifests.lock().unwrap().get(model_data_url).cloned())
    }
}

/// A training service that remembers job names like SageMaker does (a reused name is
/// `AlreadyExists`) and can be scripted to fail.
#[derive(Default)]
pub struct FakeTraining {
    /// Created jobs by name.
    pub jobs: Mutex<BTreeMap<String, TrainingJobSpec>>,
    /// Number of create calls, failed ones included.
    pub create_calls: Mutex<u32>,
    /// Errors to return from the next creates, in order.
    pub faults: Mutex<VecDeque<ServiceError>>,
    /// What DescribeTrainingJob answers, by job name (set by tests).
    pub described: Mutex<BTreeMap<String, JobStateChange>>,
    /// Jobs StopTrainingJob was called for, in order.
    pub stopped: Mutex<Vec<String>>,
    /// Runs once, right after the next successful create: what another party does while the
    /// caller still thinks the job is new (e.g. an operator cancels the request).
    #[allow(clippy::type_complexity)]
    pub after_create: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl TrainingService for FakeTraining {
    async fn create_training_job(&self, spec: &TrainingJobSpec) -> Result<String, ServiceError> {
        *self.create_calls.lock().unwrap() += 1;
        if let Some(e) = self.faults.lock().unwrap().pop_front() {
            return Err(e);
        }
        let mut jobs = self.jobs.lock().unwrap();
        if jobs.contains_key(&spec.job_name) {
            return Err(ServiceError::AlreadyExists(spec.job_name.clone()));
        }
        jobs.insert(spec.job_name.clone(), spec.clone());
        drop(jobs);
        if let Some(hook) = self.after_create.lock().unwrap().take() {
            hook();
        }
        Ok(format!(
            "arn:aws:sagemaker:eu-west-1:000000000000:training-job/{}",
            spec.job_name
        ))
    }

    async fn describe_training_job(&self, job_name: &str) -> Result<JobStateChange, ServiceError> {
        self.described
            .lock()
            .unwrap()
            .get(job_name)
            .cloned()
            .ok_or_else(|| ServiceError::NotFound(job_name.to_owned()))
    }

    async fn stop_training_job(
        &self,
        job_name: &str,
    ) -> Result<crate::cancel::StopAnswer, ServiceError> {
        use crate::cancel::StopAnswer;
        self.stopped.lock().unwrap().push(job_name.to_owned());
        let ended = self
            .described
            .lock()
            .unwrap()
            .get(job_name)
            .is_some_and(|d| d.status != "InProgress");
        Ok(if ended {
            StopAnswer::NotRunning
        } else if self.jobs.lock().unwrap().contains_key(job_name) {
            StopAnswer::Stopping
        } else {
            StopAnswer::NotFound
        })
    }
}

/// An alert sink that keeps what it is sent.
#[derive(Default)]
pub struct RecordingAlerts {
    /// Alerts sent, in order.
    pub sent: Mutex<Vec<Alert>>,
    /// Errors to return from the next sends, in order.
    pub faults: Mutex<VecDeque<ServiceError>>,
}

impl RecordingAlerts {
    /// The kinds of the alerts sent, in order.
    pub fn kinds(&self) -> Vec<crate::alert::AlertKind> {
        self.sent.lock().unwrap().iter().map(|a| a.kind).collect()
    }
}

impl AlertSink for RecordingAlerts {
    async fn send(&self, alert: &Alert) -> Result<(), ServiceError> {
        if let Some(e) = self.faults.lock().unwrap().pop_front() {
            return Err(e);
        }
        self.sent.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

/// A queue that records visibility changes.
#[derive(Default)]
pub struct RecordingQueue {
    /// `(receipt handle, delay)` pairs, in order.
    pub delays: Mutex<Vec<(String, u32)>>,
    /// Bodies sent, in order.
    pub sent: Mutex<Vec<String>>,
}

impl RequestQueue for RecordingQueue {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay_s: u32,
    ) -> Result<(), ServiceError> {
        self.delays
            .lock()
            .unwrap()
            .push((receipt_handle.to_owned(), delay_s));
        Ok(())
    }

    async fn send(&self, body: &str) -> Result<(), ServiceError> {
        self.sent.lock().unwrap().push(body.to_owned());
        Ok(())
    }

    async fn send_delayed(&self, body: &str, _delay_s: u32) -> Result<(), ServiceError> {
        self.send(body).await
    }
}

/// A capacity ledger with the DynamoDB adapter's semantics: takes within the limit, idempotent
/// per holder; learnt limits, pressure episodes, usage and the call rate kept alike.
#[derive(Default)]
pub struct MemoryLedger {
    books: Mutex<BTreeMap<Pool, PoolBook>>,
    usage: Mutex<BTreeMap<String, Usage>>,
    calls: Mutex<(i64, u32)>,
    bookmarks: Mutex<BTreeMap<String, String>>,
    /// When the doorbell was rung, until a round answers it.
    doorbell: Mutex<Option<i64>>,
}

impl CapacityLedger for MemoryLedger {
    async fn take(
        &self,
        pool: &Pool,
        holder: &str,
        customer: &str,
        count: u32,
        limit: u32,
    ) -> Result<Taken, ServiceError> {
        let mut books = self.books.lock().unwrap();
        let book = books.entry(pool.clone()).or_default();
        if book.holders.contains_key(holder) {
            return Ok(Taken::AlreadyHeld);
        }
        if count == 0 || book.used + count > limit {
            return Ok(Taken::Full { used: book.used });
        }
        book.used += count;
        book.holders.insert(
            holder.to_owned(),
            Holding {
                count,
                customer: customer.to_owned(),
            },
        );
        Ok(Taken::Taken)
    }

    async fn release(&self, pool: &Pool, holder: &str) -> Result<bool, ServiceError> {
        if let Some(book) = self.books.lock().unwrap().get_mut(pool)
            && let Some(held) = book.holders.remove(holder)
        {
            book.used -= held.count;
            return Ok(true);
        }
        Ok(false)
    }

    async fn pools(&self, pools: &[Pool]) -> Result<BTreeMap<Pool, PoolBook>, ServiceError> {
        let books = self.books.lock().unwrap();
        Ok(pools
            .iter()
            .map(|p| (p.clone(), books.get(p).cloned().unwrap_or_default()))
            .collect())
    }

    async fn all_pools(&self) -> Result<BTreeMap<Pool, PoolBook>, ServiceError> {
        Ok(self.books.lock().unwrap().clone())
    }

    async fn learn_limit(&self, pool: &Pool, learned: LearnedLimit) -> Result<(), ServiceError> {
        self.books
            .lock()
            .unwrap()
            .entry(pool.clone())
            .or_default()
            .learned = Some(learned);
        Ok(())
    }

    async fn begin_pressure(&self, pool: &Pool, now_ms: i64) -> Result<bool, ServiceError> {
        let mut books = self.books.lock().unwrap();
        let book = books.entry(pool.clone()).or_default();
        let first = book.pressure_since_ms.is_none();
        book.pressure_since_ms.get_or_insert(now_ms);
        Ok(first)
    }

    async fn end_pressure(&self, pool: &Pool) -> Result<(), ServiceError> {
        if let Some(book) = self.books.lock().unwrap().get_mut(pool) {
            book.pressure_since_ms = None;
        }
        Ok(())
    }

    async fn ring_doorbell(&self, now_ms: i64, stale_ms: i64) -> Result<bool, ServiceError> {
        let mut rung = self.doorbell.lock().unwrap();
        if rung.is_some_and(|at| at >= now_ms - stale_ms) {
            return Ok(false);
        }
        *rung = Some(now_ms);
        Ok(true)
    }

    async fn answer_doorbell(&self) -> Result<(), ServiceError> {
        *self.doorbell.lock().unwrap() = None;
        Ok(())
    }

    async fn bookmark(&self, name: &str) -> Result<Option<String>, ServiceError> {
        Ok(self.bookmarks.lock().unwrap().get(name).cloned())
    }

    async fn set_bookmark(&self, name: &str, value: Option<&str>) -> Result<(), ServiceError> {
        let mut marks = self.bookmarks.lock().unwrap();
        match value {
            Some(v) => marks.insert(name.to_owned(), v.to_owned()),
            None => marks.remove(name),
        };
        Ok(())
    }

    async fn usage(&self, customers: &[String]) -> Result<BTreeMap<String, Usage>, ServiceError> {
        let usage = self.usage.lock().unwrap();
        Ok(customers
            .iter()
            .filter_map(|c| Some((c.clone(), *usage.get(c)?)))
            .collect())
    }

    async fn charge(
        &self,
        customer: &str,
        instance_seconds: f64,
        now_ms: i64,
        half_life_s: f64,
    ) -> Result<(), ServiceError> {
        let mut usage = self.usage.lock().unwrap();
        let entry = usage.entry(customer.to_owned()).or_default();
        *entry = entry.add(instance_seconds, now_ms, half_life_s);
        Ok(())
    }

    async fn call_slot(&self, per_second: u32, now_ms: i64) -> Result<bool, ServiceError> {
        let mut calls = self.calls.lock().unwrap();
        let second = now_ms.div_euclid(1000);
        if calls.0 != second {
            *calls = (second, 0);
        }
        if calls.1 >= per_second {
            return Ok(false);
        }
        calls.1 += 1;
        Ok(true)
    }
}
