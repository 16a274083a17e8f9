//! Figures 1–4 for one side (trainq or the Python peer): each function's cold start and first
//! invocation, a batch of 1 and of 10 with a fixed delay on every AWS call, the AWS calls per
//! request or event, and peak memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;
use serde_json::{Value, json};
use trainq_integration_tests::esm::{acknowledge, receive, to_event};
use trainq_integration_tests::world::World;
use uuid::Uuid;

use crate::function::Instance;
use crate::proxy::Proxy;

/// How to start one side's functions.
pub(crate) struct Side {
    /// `trainq` or `Python peer`.
    pub(crate) label: &'static str,
    /// The dispatcher's command line.
    pub(crate) dispatcher: Vec<String>,
    /// The watcher's command line.
    pub(crate) watcher: Vec<String>,
}

/// What one function did.
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionFigures {
    /// Process start → ready for the first invocation.
    pub(crate) init: Duration,
    /// The first invocation (one request or event), no added delay.
    pub(crate) first: Duration,
    /// A warm invocation with one item, with the added delay (median).
    pub(crate) one: Duration,
    /// A warm invocation with ten items, with the added delay (median).
    pub(crate) ten: Duration,
    /// AWS calls of the batch of ten, by operation.
    pub(crate) calls: BTreeMap<String, u64>,
    /// AWS calls of a batch of ten `Completed` events (watcher only), by operation.
    pub(crate) completed_calls: BTreeMap<String, u64>,
    /// A batch of ten `Completed` events, with the added delay (median; watcher only).
    pub(crate) completed_ten: Duration,
    /// Peak resident memory after the batches, bytes.
    pub(crate) peak_rss: Option<u64>,
}

/// Both functions of one side.
#[derive(Debug, Clone, Default)]
pub(crate) struct SideFigures {
    /// The dispatcher.
    pub(crate) dispatcher: FunctionFigures,
    /// The watcher.
    pub(crate) watcher: FunctionFigures,
}

/// The proxies between the functions and the emulators.
pub(crate) struct Wire {
    /// In front of moto (DynamoDB, SQS, EventBridge).
    pub(crate) moto: Proxy,
    /// In front of the local SageMaker endpoint.
    pub(crate) sagemaker: Proxy,
}

impl Wire {
    fn set_delay(&self, delay: Duration) {
        self.moto.set_delay(delay);
        self.sagemaker.set_delay(delay);
    }

    fn take_calls(&self) -> BTreeMap<String, u64> {
        let mut calls = self.moto.take_calls();
        for (op, n) in self.sagemaker.take_calls() {
            *calls.entry(op).or_default() += n;
        }
        calls
    }
}

/// The functions' environment: the world's configuration, AWS at `moto` and SageMaker at
/// `sagemaker` (the proxies, or the emulators themselves).
pub(crate) fn function_env(w: &World, moto: &str, sagemaker: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = w.lambda_env(&[]).into_iter().collect();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.to_owned()),
        ("AWS_ENDPOINT_URL_SAGEMAKER", sagemaker.to_owned()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_DEFAULT_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("RUST_LOG", "warn".into()),
    ] {
        env.insert(k.to_owned(), v);
    }
    env
}

/// An SQS event of `bodies`, as the event source mapping would deliver it.
fn requests_event(w: &World, bodies: &[Value]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|body| {
            json!({
                "messageId": Uuid::new_v4().to_string(),
                "receiptHandle": "bench",
                "body": body.to_string(),
                "attributes": {"ApproximateReceiveCount": "1",
                               "SentTimestamp": trainq_common::time_util::now_epoch_ms().to_string()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": w.names.queue_arn,
                "awsRegion": "eu-west-1"
            })
        })
        .collect();
    json!({"Records": records})
}

/// `n` fresh production requests.
fn requests(n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| {
            let mut body = trainq_common::testing::sample_request();
            body["request_id"] = json!(Uuid::new_v4().to_string());
            body
        })
        .collect()
}

/// Whether an invocation's answer reports no failed item.
fn all_succeeded(answer: &Value) -> Result<(), String> {
    match answer["batchItemFailures"].as_array() {
        Some(failed) if failed.is_empty() => Ok(()),
        _ => Err(format!("an invocation reported failures: {answer}")),
    }
}

/// Warm batches measured per function and size; the figures are their medians.
const REPEATS: usize = 5;

/// Cold starts measured per function; the figures are their medians.
const COLD_STARTS: usize = 3;

/// Invokes and checks that no item failed; returns the duration.
async fn invoke_ok(instance: &Instance, payload: &Value) -> Result<Duration, String> {
    let (answer, took) = instance.invoke(payload).await?;
    all_succeeded(&answer)?;
    Ok(took)
}

fn median(mut durations: Vec<Duration>) -> Duration {
    durations.sort();
    durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or_default()
}

/// Cold-starts `command` once per payload, invoking each instance once with its payload;
/// returns the last instance (warm now) and the medians of init and first invocation.
async fn cold_starts(
    name: &str,
    command: &[String],
    env: &BTreeMap<String, String>,
    payloads: &[Value],
) -> Result<(Instance, Duration, Duration), String> {
    let (mut inits, mut firsts) = (Vec::new(), Vec::new());
    let mut last = None;
    for payload in payloads {
        if let Some(previous) = last.take() {
            Instance::stop(previous).await;
        }
        let instance = Instance::start(name, command, env).await?;
        inits.push(instance.init);
        firsts.push(invoke_ok(&instance, payload).await?);
        last = Some(instance);
    }
    let instance = last.ok_or("no cold start")?;
    Ok((instance, median(inits), median(firsts)))
}

/// Alternates batches of one and of ten (with the delay on); returns the median of each and
/// the calls of one batch of ten.
async fn batches(
    instance: &Instance,
    wire: &Wire,
    ones: &[Value],
    tens: &[Value],
) -> Result<(Duration, Duration, BTreeMap<String, u64>), String> {
    let (mut one, mut ten, mut calls) = (Vec::new(), Vec::new(), None);
    for (a, b) in ones.iter().zip(tens) {
        one.push(invoke_ok(instance, a).await?);
        wire.take_calls();
        ten.push(invoke_ok(instance, b).await?);
        let counted = wire.take_calls();
        calls.get_or_insert(counted);
    }
    Ok((median(one), median(ten), calls.unwrap_or_default()))
}

/// Runs the dispatcher and the watcher of `side` through their measurements.
pub(crate) async fn measure(
    w: &World,
    wire: &Wire,
    side: &Side,
    delay: Duration,
) -> Result<SideFigures, String> {
    let env = function_env(w, &wire.moto.url(), &wire.sagemaker.url());
    let mut figures = SideFigures::default();
    let jobs = COLD_STARTS + REPEATS * 11;

    // The dispatcher: one cold invocation, then batches of 1 and 10, each a new request.
    wire.set_delay(Duration::ZERO);
    let cold: Vec<Value> = (0..COLD_STARTS)
        .map(|_| requests_event(w, &requests(1)))
        .collect();
    let d = &mut figures.dispatcher;
    let dispatcher;
    (dispatcher, d.init, d.first) =
        cold_starts("dispatcher", &side.dispatcher, &env, &cold).await?;
    wire.set_delay(delay);
    let ones: Vec<Value> = (0..REPEATS)
        .map(|_| requests_event(w, &requests(1)))
        .collect();
    let tens: Vec<Value> = (0..REPEATS)
        .map(|_| requests_event(w, &requests(10)))
        .collect();
    (d.one, d.ten, d.calls) = batches(&dispatcher, wire, &ones, &tens).await?;
    d.peak_rss = dispatcher.peak_rss();
    dispatcher.stop().await;

    // The watcher: the InProgress events of those jobs, then their Completed events.
    wire.set_delay(Duration::ZERO);
    let progress = events(w, "InProgress", jobs).await?;
    let arn = &w.names.events_queue_arn;
    let cold = (0..COLD_STARTS)
        .map(|i| event_of(&progress[i..=i], arn))
        .collect::<Result<Vec<_>, _>>()?;
    let wf = &mut figures.watcher;
    let watcher;
    (watcher, wf.init, wf.first) = cold_starts("watcher", &side.watcher, &env, &cold).await?;
    wire.set_delay(delay);
    let warm = &progress[COLD_STARTS..];
    let ones = (0..REPEATS)
        .map(|r| event_of(&warm[r..=r], arn))
        .collect::<Result<Vec<_>, _>>()?;
    let tens = warm[REPEATS..]
        .chunks(10)
        .map(|chunk| event_of(chunk, arn))
        .collect::<Result<Vec<_>, _>>()?;
    (wf.one, wf.ten, wf.calls) = batches(&watcher, wire, &ones, &tens).await?;

    wire.set_delay(Duration::ZERO);
    for (name, _) in &warm[REPEATS..] {
        w.finish_job(
            name,
            json!({"status": "Completed", "billable_s": 30, "training_s": 100,
                   "metrics": {"validation:accuracy": 0.97}}),
        )
        .await;
    }
    let completed = events(w, "Completed", REPEATS * 10).await?;
    wire.set_delay(delay);
    let mut took = Vec::new();
    for (i, chunk) in completed.chunks(10).enumerate() {
        wire.take_calls();
        took.push(invoke_ok(&watcher, &event_of(chunk, arn)?).await?);
        if i == 0 {
            wf.completed_calls = wire.take_calls();
        }
    }
    wf.completed_ten = median(took);
    wf.peak_rss = watcher.peak_rss();
    watcher.stop().await;
    wire.set_delay(Duration::ZERO);
    Ok(figures)
}

/// The SQS event of some collected state-change messages.
fn event_of(messages: &[(String, Message)], queue_arn: &str) -> Result<Value, String> {
    let messages: Vec<Message> = messages.iter().map(|(_, m)| m.clone()).collect();
    serde_json::to_value(to_event(&messages, queue_arn)).map_err(|e| e.to_string())
}

/// Takes `n` state-change events with `status` (one per job, in the order they came) off the
/// events queue, waiting at most 30 s; other events are dropped.
async fn events(w: &World, status: &str, n: usize) -> Result<Vec<(String, Message)>, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found: Vec<(String, Message)> = Vec::new();
    while found.len() < n {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {n} {status} events arrived within 30 s",
                found.len()
            ));
        }
        let messages = receive(&w.sqs, &w.names.events_queue_url, 1).await;
        for m in &messages {
            let event: Value = serde_json::from_str(m.body().unwrap_or_default())
                .map_err(|e| format!("an event that is not JSON: {e}"))?;
            let detail = &event["detail"];
            let name = detail["TrainingJobName"].as_str().unwrap_or_default();
            if detail["TrainingJobStatus"] == status && !found.iter().any(|(n, _)| n == name) {
                found.push((name.to_owned(), m.clone()));
            }
        }
        let none = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        acknowledge(&w.sqs, &w.names.events_queue_url, &messages, &none).await;
    }
    found.truncate(n);
    Ok(found)
}
