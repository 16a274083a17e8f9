//! Unit tests of the watcher on the in-memory fakes: one file per concern, a shared world.

mod cancel;
mod capacity;
mod events;
mod reconcile;
mod register;
mod retries;

use serde_json::{Value, json};
use trainq_common::event::{DETAIL_TYPE, JobStateChange};
use trainq_common::fakes::{
    FakeModelRegistry, FakeTraining, MemoryJobStore, MemoryLedger, RecordingAlerts, RecordingQueue,
};
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::testing::{sample_env, sample_manifest};
use trainq_common::{Attempt, JobRecord};
use uuid::Uuid;

use crate::{Watcher, WatcherConfig};

/// The sample request's id.
const ID: Uuid = Uuid::from_u128(0x5b0c_0f4e_6a77_4c2a_9d55_0a6f_3c1b_2e10);

type FakeWatcher<'a> = Watcher<
    &'a MemoryJobStore,
    &'a FakeTraining,
    &'a RecordingAlerts,
    &'a RecordingQueue,
    &'a FakeModelRegistry,
    &'a MemoryLedger,
>;

#[derive(Default)]
struct World {
    store: MemoryJobStore,
    training: FakeTraining,
    alerts: RecordingAlerts,
    queue: RecordingQueue,
    models: FakeModelRegistry,
    ledger: MemoryLedger,
}

impl World {
    /// A record of the sample request in `state`, with attempt 1 planned.
    fn with_record(state: JobState) -> Self {
        with_request(state, |_| {})
    }

    fn watcher(&self) -> FakeWatcher<'_> {
        self.watcher_with(&[])
    }

    /// A watcher whose configuration has `overrides`.
    fn watcher_with(&self, overrides: &[(&str, &str)]) -> FakeWatcher<'_> {
        Watcher::new(
            &self.store,
            &self.training,
            &self.alerts,
            &self.queue,
            &self.models,
            &self.ledger,
            config(overrides),
        )
    }

    fn record(&self) -> JobRecord {
        self.store.record(ID).unwrap()
    }

    /// The launch messages sent to the requests queue (wake-ups left out).
    fn launch_messages(&self) -> Vec<String> {
        self.queue
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter(|b| !trainq_common::relaunch::is_wake(b))
            .cloned()
            .collect()
    }

    /// Wake-ups sent to the dispatcher.
    fn wakes(&self) -> usize {
        let sent = self.queue.sent.lock().unwrap();
        sent.iter()
            .filter(|b| trainq_common::relaunch::is_wake(b))
            .count()
    }

    /// Makes DescribeTrainingJob answer that attempt `n` completed at `at_ms` with billing,
    /// a model artifact and `metrics`.
    /// Attempt `n`'s job completes with `metrics`; its model carries the sample manifest.
    fn job_completed(&self, n: u32, at_ms: i64, metrics: &[(&str, f64)]) {
        self.job_completed_with(n, at_ms, metrics, Some(sample_manifest()));
    }

    /// As [`Self::job_completed`], with `manifest` in its model (`None`: without one).
    fn job_completed_with(
        &self,
        n: u32,
        at_ms: i64,
        metrics: &[(&str, f64)],
        manifest: Option<Value>,
    ) {
        let name = job_name(ID, n);
        let artifact = format!("s3://prod-models/output/{name}/output/model.tar.gz");
        if let Some(m) = manifest {
            self.models
                .manifests
                .lock()
                .unwrap()
                .insert(artifact.clone(), m.to_string().into_bytes());
        }
        let truth = JobStateChange {
            event_id: None,
            job_name: name.clone(),
            job_arn: None,
            status: "Completed".into(),
            secondary_status: Some("Completed".into()),
            failure_reason: None,
            transitions: Vec::new(),
            last_modified_ms: Some(at_ms),
            created_ms: None,
            billable_s: Some(120),
            training_s: Some(400),
            model_artifact: Some(artifact),
            final_metrics: metrics.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            tags: Default::default(),
        };
        self.training.described.lock().unwrap().insert(name, truth);
    }
}

/// A world whose record keeps the sample request, changed by `change`.
fn with_request(state: JobState, change: impl FnOnce(&mut Value)) -> World {
    let w = World::default();
    let mut body = trainq_common::testing::sample_request();
    change(&mut body);
    let request = trainq_common::request::parse(&body.to_string()).unwrap();
    let mut r = JobRecord::new(ID, state).with_request(request);
    r.attempts
        .push(Attempt::planned(ID, 1, "ml.g5.xlarge", true));
    w.store.insert(r);
    w
}

/// The watcher's configuration over the sample registries, with `overrides`.
fn config(overrides: &[(&str, &str)]) -> WatcherConfig {
    let mut env = sample_env();
    env.insert("TRAINQ_JOBS_TABLE", "jobs");
    env.insert("TRAINQ_ALERTS_BUS", "trainq-alerts");
    env.insert("TRAINQ_REQUESTS_QUEUE_URL", "http://queue");
    env.insert("TRAINQ_CAPACITY_TABLE", "capacity");
    let mut env: std::collections::BTreeMap<String, String> = env
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (k, v) in overrides {
        env.insert((*k).into(), (*v).into());
    }
    WatcherConfig::from_env(&trainq_common::config::Env::from_fn(|k| {
        env.get(k).cloned()
    }))
    .unwrap()
}

/// A state-change event of attempt 1 in AWS's shape.
fn event(status: &str, secondary: &str, at_ms: i64) -> Value {
    event_of(1, status, secondary, at_ms)
}

/// A state-change event of attempt `attempt`.
fn event_of(attempt: u32, status: &str, secondary: &str, at_ms: i64) -> Value {
    json!({
        "id": format!("ev-{at_ms}"), "detail-type": DETAIL_TYPE, "source": "aws.sagemaker",
        "detail": {
            "TrainingJobName": job_name(ID, attempt), "TrainingJobStatus": status,
            "SecondaryStatus": secondary, "LastModifiedTime": at_ms,
            "SecondaryStatusTransitions": [{"Status": secondary, "StartTime": at_ms}],
            "Tags": {}
        }
    })
}
