//! Worst-case requests: valid requests at every limit of trainq's own validation go through the
//! whole pipeline (SQS → dispatcher → CreateTrainingJob → state-change events → watcher →
//! CreateModelPackage, alerts) under AWS's contract, and reach `Registered`. The world fails
//! the test if any call on the way was one AWS would refuse.

use serde_json::{Map, Value, json};
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::testing::sample_request;
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::world::World;

/// What an SQS message may hold (the queue's MaximumMessageSize).
const MAX_MESSAGE: usize = 262_144;

/// What trainq keeps of a request (so its record keeps room for its history).
const MAX_BODY: usize = trainq_common::request::MAX_REQUEST_BYTES;

/// The longest names, most channels, fallbacks and attempts, the longest spot runtime.
fn longest_everything() -> Value {
    let mut body = fresh(sample_request());
    body["customer"] = json!("c".repeat(32));
    body["project"] = json!(format!("p-{}", "q".repeat(30)));
    body["reason"] = json!("experiment");
    body["dataset"]["version"] = json!(format!("2026-11-20_{}", "v".repeat(117)));
    let channels: Map<String, Value> = (0..20)
        .map(|i| {
            let name = format!("ch{i:02}-{}", "n".repeat(59));
            // Under the customer's prefix, as long as SageMaker allows (1,019 of 1,024).
            let uri = format!("s3://prod-data/{}/{}/{i}/", "c".repeat(32), "d".repeat(967));
            (name, json!(uri))
        })
        .collect();
    body["dataset"]["channels"] = Value::Object(channels);
    body["experiment"] = json!({
        "id": format!("sweep-{}", "x".repeat(58)),
        "trial": format!("lr=0.001, bs=32/{}", "t".repeat(112)),
    });
    body["resources"] = json!({
        "instance_type": "ml.g5.xlarge", "instance_count": 20, "volume_gb": 16384,
        "max_runtime_s": 2_415_600, "max_wait_s": 2_419_200, "spot": true,
        "fallback_instance_types": ["ml.g4dn.xlarge", "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.m6i.large"],
    });
    body["retry"] = json!({"max_attempts": 10, "retry_user_failures": true});
    body
}

/// The most hyperparameters, with the longest keys, and values with unicode (as long as a
/// request may be in all).
fn most_hyperparameters() -> Value {
    let mut body = fresh(sample_request());
    let hp: Map<String, Value> = (0..100)
        .map(|i| {
            let key = format!("{i:03}{}", "k".repeat(253));
            (key, json!(format!("ünïcödé 東京 😀 {}", "v".repeat(950))))
        })
        .collect();
    body["hyperparameters"] = Value::Object(hp);
    body
}

/// Values at SageMaker's longest (2,500 UTF-16 units: 1,250 emoji are 2,500 units), and the
/// rest of the body filled to just under the largest request trainq keeps.
fn largest_body() -> Value {
    filled(MAX_BODY)
}

/// A request filled with hyperparameters to about `size` bytes.
fn filled(size_goal: usize) -> Value {
    let mut body = fresh(sample_request());
    let mut hp = Map::new();
    hp.insert("emoji".into(), json!("😀".repeat(1_250)));
    hp.insert("accents".into(), json!("é".repeat(2_500)));
    let mut i = 0;
    loop {
        let size = serde_json::to_string(&body).unwrap().len()
            + serde_json::to_string(&Value::Object(hp.clone()))
                .unwrap()
                .len();
        let room = size_goal.saturating_sub(size + 64);
        // Keys at their longest too, so the body fills up within 100 entries.
        let key = format!("fill{i:03}{}", "k".repeat(249));
        if room < key.len() + 16 {
            break;
        }
        let value_len = room.saturating_sub(key.len() + 8).min(2_500);
        hp.insert(key, json!("z".repeat(value_len)));
        i += 1;
    }
    body["hyperparameters"] = Value::Object(hp);
    assert!(body.to_string().len() <= size_goal);
    assert!(body["hyperparameters"].as_object().unwrap().len() <= 100);
    assert!(
        body.to_string().len() > size_goal - 1024,
        "{}",
        body.to_string().len()
    );
    body
}

/// Sends `body`, completes its first attempt with `accuracy`, and checks it ends `Registered`.
async fn through_the_pipeline(w: &World, body: &Value, accuracy: f64) {
    let id = w.launch(body).await;
    let record = w.record(id).await.expect("a record");
    assert_eq!(record.state, JobState::InProgress, "{:?}", record.reason);
    w.finish_job(
        &job_name(id, 1),
        json!({"status": "Completed", "billable_s": 1, "training_s": 2,
               "metrics": {"validation:accuracy": accuracy, "train:loss": 0.25}}),
    )
    .await;
    w.drain_events().await;
    let record = w.record(id).await.expect("a record");
    assert_eq!(record.state, JobState::Registered, "{:?}", record.reason);
    assert!(record.model_package_arn.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_at_every_limit_reach_registered_within_awss_contract() {
    let w = World::new().await;
    // Approved, held by the gate (its reason has backticks and `≥`), and plain.
    through_the_pipeline(&w, &longest_everything(), 0.99).await;
    through_the_pipeline(&w, &most_hyperparameters(), 0.5).await;
    through_the_pipeline(&w, &largest_body(), 0.97).await;
    w.wait_for_alerts("Model Held By Gate", 1).await;
    // A message as large as SQS takes is more than a record keeps: rejected, saying so.
    let id = w.launch(&filled(MAX_MESSAGE)).await;
    let record = w.record(id).await.expect("a record");
    assert_eq!(record.state, JobState::Rejected);
    let reason = record.reason.unwrap();
    assert!(
        reason.starts_with("`(body)`") && reason.contains("at most 131072"),
        "{reason}"
    );
    let contract = w.endpoint.contract_stats();
    assert!(contract.checked > 20, "{contract:?}");
    assert_eq!(contract.refused, 0, "{:#?}", contract.recent);
}
