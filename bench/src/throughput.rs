//! Figure 6: requests from enqueue to launched through the local stack (the shipped dispatcher
//! behind a Runtime API, fed by the SQS event source mapping), next to the emulators' raw rate
//! for the same calls issued back to back, so the share of time in trainq's own code shows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use trainq_common::JobRecord;
use trainq_common::launch::{Rung, plan};
use trainq_common::ports::{JobStore, TrainingService};
use trainq_common::request::{parse, validate};
use trainq_common::state::JobState;
use trainq_devstack::lambda::esm::Mapping;
use trainq_infra::SageMakerTraining;
use trainq_integration_tests::esm::{acknowledge, receive};
use trainq_integration_tests::world::World;
use uuid::Uuid;

use crate::function::Instance;

/// What the throughput run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Throughput {
    /// Requests sent.
    pub(crate) requests: usize,
    /// Sending them (SendMessageBatch, 10 at a time).
    pub(crate) enqueue: Duration,
    /// First send → the last of them launched.
    pub(crate) pipeline: Duration,
}

fn bodies(n: usize) -> Vec<(Uuid, String)> {
    (0..n)
        .map(|i| {
            let mut body = trainq_common::testing::sample_request();
            let id = Uuid::new_v4();
            body["request_id"] = json!(id.to_string());
            body["hyperparameters"] = json!({"epochs": "3", "trial": i.to_string()});
            (id, body.to_string())
        })
        .collect()
}

async fn enqueue(w: &World, bodies: &[(Uuid, String)]) {
    w.send_all(bodies.iter().map(|(_, body)| body.as_str()))
        .await;
}

async fn jobs_created(w: &World) -> u64 {
    w.stats().await["jobs_created"].as_u64().unwrap_or(0)
}

/// Runs `n` requests through `dispatcher` (its command line) behind the Runtime API, fed by
/// the event source mapping.
pub(crate) async fn pipeline(
    w: &World,
    dispatcher: &[String],
    env: &BTreeMap<String, String>,
    n: usize,
) -> Result<Throughput, String> {
    let instance = Instance::start("dispatcher", dispatcher, env).await?;
    let before = jobs_created(w).await;
    let sent = bodies(n);
    let started = Instant::now();
    enqueue(w, &sent).await;
    let enqueued = started.elapsed();
    let mapping = Mapping {
        queue_url: w.names.queue_url.clone(),
        queue_arn: w.names.queue_arn.clone(),
        batch_size: 10,
    };
    let feed = mapping.run(&w.sqs, |event| {
        let instance = &instance;
        async move {
            let payload = serde_json::to_value(&event).map_err(|e| e.to_string())?;
            let (answer, _) = instance.invoke(&payload).await?;
            serde_json::from_value(answer).map_err(|e| format!("not a batch response: {e}"))
        }
    });
    let done = async {
        let deadline = started + Duration::from_secs(900);
        while jobs_created(w).await < before + n as u64 {
            if Instant::now() > deadline {
                return Err(format!("{n} requests not launched within 900 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    };
    tokio::select! {
        () = feed => return Err("the event source mapping stopped".into()),
        result = done => result?,
    }
    let pipeline = started.elapsed();
    instance.stop().await;
    Ok(Throughput {
        requests: n,
        enqueue: enqueued,
        pipeline,
    })
}

/// The calls a launch makes, issued straight to the emulators with inputs prepared
/// beforehand: per batch of ten, a receive, then for each request the claim, CreateTrainingJob
/// and the launch record, all ten at once, then a batch delete.
pub(crate) async fn raw_calls(w: &World, n: usize) -> Result<Duration, String> {
    let config = w.dispatcher_config(&[]);
    let store = w.store();
    let training = SageMakerTraining::new(w.sagemaker.clone());
    let sent = bodies(n);
    enqueue(w, &sent).await;
    let mut prepared = Vec::new();
    for (id, body) in &sent {
        let request = parse(body).map_err(|e| e.to_string())?;
        let valid = validate(request, &config.registries, *id).map_err(|e| e.to_string())?;
        let registry = config.registries.get(valid.request.registry);
        let spec = plan(&valid, registry, 1, &Rung::first(&valid));
        let claimed = JobRecord::new(*id, JobState::Launching).with_request(valid.request.clone());
        let mut launched = claimed.clone();
        launched.state = JobState::InProgress;
        launched.version = claimed.version + 1;
        prepared.push((claimed, launched, spec));
    }
    let started = Instant::now();
    let mut left = prepared.into_iter();
    loop {
        let messages = receive(&w.sqs, &w.names.queue_url, 0).await;
        if messages.is_empty() {
            break;
        }
        let batch: Vec<_> = left.by_ref().take(messages.len()).collect();
        let results = join_all(batch.iter().map(|(claimed, launched, spec)| async {
            store.put_new(claimed).await?;
            training.create_training_job(spec).await?;
            store.put_if_version(launched, claimed.version).await
        }))
        .await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(format!("a raw call failed: {e}"));
        }
        let none = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        acknowledge(&w.sqs, &w.names.queue_url, &messages, &none).await;
    }
    Ok(started.elapsed())
}
