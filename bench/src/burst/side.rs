//! One side of the burst: its dispatcher and watcher (shipped binaries behind the Runtime
//! API, fed by the event source mappings), SageMaker enforcing the quota, each job finished
//! `job` after it started, the reconcile every few seconds — and what happened, sampled.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::TrainingJobStatus;
use futures::future::join_all;
use serde_json::{Value, json};
use trainq_common::JobRecord;
use trainq_devstack::lambda::esm::Mapping;
use trainq_integration_tests::world::World;

use super::workload::Sent;
use crate::function::Instance;

/// Dispatcher and watcher instances of each side, each with its own poller.
const INSTANCES: usize = 3;

/// How one side is started.
pub(crate) struct SideConfig {
    /// `trainq (ledger)` or the baseline's label.
    pub(crate) label: String,
    /// The dispatcher's and the watcher's command lines.
    pub(crate) dispatcher: Vec<String>,
    /// The watcher's.
    pub(crate) watcher: Vec<String>,
    /// Extra environment of both functions.
    pub(crate) env: Vec<(String, String)>,
}

/// What one side did.
pub(crate) struct Observed {
    /// The side's label.
    pub(crate) label: String,
    /// Seconds since the start → instances running then (SageMaker's count).
    pub(crate) running: Vec<(f64, u32)>,
    /// The records at the end, by request.
    pub(crate) records: BTreeMap<uuid::Uuid, JobRecord>,
    /// The endpoint's counters at the end.
    pub(crate) stats: Value,
    /// When the run started (epoch ms), to place the records' times on the samples' axis.
    pub(crate) started_ms: i64,
    /// How long it ran.
    pub(crate) elapsed: Duration,
}

/// The burst's shape.
pub(crate) struct Shape {
    /// SageMaker's quota (instances of the one pool).
    pub(crate) quota: u32,
    /// How long each job trains.
    pub(crate) job: Duration,
    /// The sweep, sent at once.
    pub(crate) sweep: Vec<Sent>,
    /// The retrains, sent one every `job / 2` through the run.
    pub(crate) retrains: Vec<Sent>,
    /// The longest a side may take.
    pub(crate) deadline: Duration,
}

fn env(w: &World, side: &SideConfig) -> BTreeMap<String, String> {
    let url = w.endpoint.url();
    let mut env: BTreeMap<String, String> = w.lambda_env(&[]).into_iter().collect();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", url.clone()),
        ("AWS_ENDPOINT_URL_SAGEMAKER", url),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_DEFAULT_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "burst".into()),
        ("AWS_SECRET_ACCESS_KEY", "burst".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("RUST_LOG", "warn".into()),
    ] {
        env.insert(k.to_owned(), v);
    }
    env.extend(side.env.iter().cloned());
    env
}

/// Runs `shape` through `side` in a world of its own.
pub(crate) async fn run(side: &SideConfig, shape: &Shape) -> Result<Observed, String> {
    let w = World::new().await;
    w.set_faults(
        json!({"quotas": {"ml.g5.xlarge/spot": shape.quota, "ml.g5.xlarge/on-demand": 0}}),
    )
    .await;
    let env = env(&w, side);
    // As Lambda scales a backlog out: several dispatchers and watchers, each fed by its own
    // poller of the queue (the template's mappings allow 5 of each).
    let mut dispatchers = Vec::new();
    let mut watchers = Vec::new();
    for i in 0..INSTANCES {
        dispatchers
            .push(Instance::start(&format!("dispatcher-{i}"), &side.dispatcher, &env).await?);
        watchers.push(Instance::start(&format!("watcher-{i}"), &side.watcher, &env).await?);
    }
    let reconciler = Instance::start("reconcile", &side.watcher, &env).await?;
    let started = Instant::now();
    let started_ms = trainq_common::time_util::now_epoch_ms();
    w.send_all(shape.sweep.iter().map(|s| s.body.as_str()))
        .await;

    let requests = join_all(
        dispatchers
            .iter()
            .map(|d| feed(&w, &w.names.queue_url, &w.names.queue_arn, d)),
    );
    let events = join_all(
        watchers
            .iter()
            .map(|f| feed(&w, &w.names.events_queue_url, &w.names.events_queue_arn, f)),
    );
    let drive = drive(&w, shape, &reconciler, started);
    let running = tokio::select! {
        _ = requests => return Err("the requests mappings stopped".into()),
        _ = events => return Err("the events mappings stopped".into()),
        result = drive => result?,
    };
    let elapsed = started.elapsed();
    let mut records = BTreeMap::new();
    for s in shape.sweep.iter().chain(&shape.retrains) {
        if let Some(r) = w.record(s.id).await {
            records.insert(s.id, r);
        }
    }
    let stats = w.stats().await;
    w.retire_job_events().await;
    Ok(Observed {
        label: side.label.clone(),
        running,
        records,
        stats,
        started_ms,
        elapsed,
    })
}

/// The event source mapping of `queue` into `function`, until the run ends.
async fn feed(w: &World, queue_url: &str, queue_arn: &str, function: &Instance) {
    let mapping = Mapping {
        queue_url: queue_url.to_owned(),
        queue_arn: queue_arn.to_owned(),
        batch_size: 10,
    };
    mapping
        .run(&w.sqs, |event| async move {
            let payload = serde_json::to_value(&event).map_err(|e| e.to_string())?;
            let (answer, _) = function.invoke(&payload).await?;
            serde_json::from_value(answer).map_err(|e| format!("not a batch response: {e}"))
        })
        .await;
}

/// Sends the retrains through the run, finishes jobs as they come of age, reconciles every
/// few seconds, samples what runs; returns the samples once every request has ended (or
/// nothing moved for a minute, or the deadline passed).
async fn drive(
    w: &World,
    shape: &Shape,
    reconciler: &Instance,
    started: Instant,
) -> Result<Vec<(f64, u32)>, String> {
    let mut samples = Vec::new();
    let mut retrains = shape.retrains.iter();
    let mut next_retrain = started + shape.job / 2;
    let mut next_reconcile = started + Duration::from_secs(5);
    let mut finished = 0usize;
    let mut last_progress = Instant::now();
    let total = shape.sweep.len() + shape.retrains.len();
    loop {
        let now = Instant::now();
        if now >= next_retrain {
            if let Some(r) = retrains.next() {
                w.send(&r.body).await;
            }
            next_retrain = now + shape.job / 2;
        }
        if now >= next_reconcile {
            reconciler.invoke(&json!({"reconcile": true})).await?;
            next_reconcile = now + Duration::from_secs(5);
        }
        let (running, done) = finish_due(w, shape).await;
        samples.push((started.elapsed().as_secs_f64(), running));
        if done > 0 {
            finished += done;
            last_progress = Instant::now();
        }
        let all_sent = retrains.len() == 0;
        if all_sent && finished >= total && all_ended(w, shape).await {
            return Ok(samples);
        }
        if all_sent && last_progress.elapsed() > Duration::from_secs(60) {
            // What is left will not run (dead-lettered, stranded): the figures say so.
            return Ok(samples);
        }
        if started.elapsed() > shape.deadline {
            return Ok(samples);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether every request's record has ended (its model registered, or otherwise terminal).
async fn all_ended(w: &World, shape: &Shape) -> bool {
    for s in shape.sweep.iter().chain(&shape.retrains) {
        if !w.record(s.id).await.is_some_and(|r| r.state.is_terminal()) {
            return false;
        }
    }
    true
}

/// Completes every running job that has trained its length; returns (instances running, jobs
/// finished).
async fn finish_due(w: &World, shape: &Shape) -> (u32, usize) {
    let lengths: BTreeMap<uuid::Uuid, f64> = shape
        .sweep
        .iter()
        .chain(&shape.retrains)
        .map(|s| (s.id, s.length * shape.job.as_secs_f64()))
        .collect();
    // A listing that fails under load is tried again on the next tick.
    let jobs = w
        .list_jobs(Some(TrainingJobStatus::InProgress))
        .await
        .unwrap_or_default();
    let now = aws_sdk_sagemaker::primitives::DateTime::from(std::time::SystemTime::now());
    let mut due = Vec::new();
    for j in &jobs {
        let name = j.training_job_name().unwrap_or_default();
        let length = trainq_common::naming::parse_job_name(name)
            .and_then(|(id, _)| lengths.get(&id).copied())
            .unwrap_or(shape.job.as_secs_f64());
        let age = j
            .creation_time()
            .map_or(0.0, |c| now.as_secs_f64() - c.as_secs_f64());
        if age >= length {
            due.push((name.to_owned(), length.round() as u64));
        }
    }
    let running = jobs.len() as u32;
    for (name, secs) in &due {
        w.finish_job(
            name,
            json!({"status": "Completed", "billable_s": secs, "training_s": secs,
                   "metrics": {"validation:accuracy": 0.97, "train:loss": 0.2}}),
        )
        .await;
    }
    (running, due.len())
}
