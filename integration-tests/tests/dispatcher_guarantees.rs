//! The dispatcher's guarantees over the wire: nothing doubled (duplicate and concurrent
//! deliveries, a crash mid-launch), nothing lost (throttling, quotas, transient faults defer;
//! malformed input is rejected, kept and announced).

use serde_json::{Value, json};
use trainq_common::naming::{self, request_id_for_message};
use trainq_common::ports::CapacityLedger;
use trainq_common::scheduling::Pool;
use trainq_common::state::JobState;
use trainq_common::testing::{request_id_of, sample_request, sample_research_request};
use trainq_integration_tests::crash::LoseLaunchWrites;
use trainq_integration_tests::esm;
use trainq_integration_tests::world::World;
use uuid::Uuid;

fn with_new_id(mut body: Value) -> Value {
    body["request_id"] = json!(Uuid::new_v4().to_string());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_in_one_batch_and_concurrently_launch_exactly_one_job() {
    let w = World::new().await;
    let body = sample_request();
    let id = request_id_of(&body);
    for _ in 0..6 {
        w.send(&body.to_string()).await;
    }
    // Two invocations at once, as Lambda runs concurrent batches from one queue.
    let (a, b) = (w.dispatcher(), w.dispatcher());
    let first = esm::receive(&w.sqs, &w.names.queue_url, 1).await;
    assert!(
        first.len() >= 2,
        "moto delivers several messages per receive"
    );
    let (left, right) = first.split_at(first.len() / 2);
    let (ea, eb) = (
        esm::to_event(left, &w.names.queue_arn),
        esm::to_event(right, &w.names.queue_arn),
    );
    let (ra, rb) = tokio::join!(a.handle_batch(&ea), b.handle_batch(&eb));
    esm::acknowledge(&w.sqs, &w.names.queue_url, left, &ra).await;
    esm::acknowledge(&w.sqs, &w.names.queue_url, right, &rb).await;
    w.drain(&a).await;

    let stats = w.stats().await;
    assert_eq!(
        stats["create_calls"],
        json!(1),
        "one CreateTrainingJob call in all: {stats}"
    );
    assert_eq!(stats["jobs_created"], json!(1));
    assert_eq!(w.training_jobs().await, [naming::job_name(id, 1)]);
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(
        esm::depth(&w.sqs, &w.names.queue_url).await,
        0,
        "every delivery acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_without_request_id_is_still_one_request() {
    let w = World::new().await;
    let mut body = sample_request();
    body.as_object_mut().unwrap().remove("request_id");
    let message_id = w.send(&body.to_string()).await;
    let d = w.dispatcher();
    // Deliver, "lose" the acknowledgement, deliver again after the visibility timeout.
    let first = esm::receive(&w.sqs, &w.names.queue_url, 1).await;
    d.handle_batch(&esm::to_event(&first, &w.names.queue_arn))
        .await;
    w.drain(&d).await;
    let id = request_id_for_message(&message_id);
    assert_eq!(w.record(id).await.unwrap().state, JobState::InProgress);
    assert_eq!(w.stats().await["create_calls"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_create_heals_on_redelivery() {
    let w = World::new().await;
    let body = sample_request();
    let id = request_id_of(&body);
    w.send(&body.to_string()).await;
    // A one-second lease so the redelivery (queue visibility timeout: 2 s) may take over.
    let config = w.dispatcher_config(&[("TRAINQ_LAUNCH_LEASE_S", "1")]);
    let d = w.dispatcher_with(LoseLaunchWrites::new(w.store(), 1), config);
    let invocations = w.drain(&d).await;

    assert!(invocations >= 2, "the first delivery failed and came back");
    let stats = w.stats().await;
    assert_eq!(stats["jobs_created"], json!(1), "{stats}");
    assert_eq!(
        stats["name_in_use"],
        json!(1),
        "the redelivery met ResourceInUse: {stats}"
    );
    assert_eq!(w.training_jobs().await.len(), 1);
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.attempts[0].job_name, naming::job_name(id, 1));
    assert!(record.attempts[0].launched_at.is_some());
}

/// Delivers the queue's messages once (no drain) and returns the batch response.
async fn deliver_once(w: &World) -> usize {
    let d = w.dispatcher();
    let messages = esm::receive(&w.sqs, &w.names.queue_url, 2).await;
    let response = d
        .handle_batch(&esm::to_event(&messages, &w.names.queue_arn))
        .await;
    esm::acknowledge(&w.sqs, &w.names.queue_url, &messages, &response).await;
    response.batch_item_failures.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_defers_and_the_request_launches_later() {
    let w = World::new().await;
    w.set_faults(json!({"throttle_rate": 1.0})).await;
    let body = sample_request();
    let id = request_id_of(&body);
    w.send(&body.to_string()).await;
    assert_eq!(
        deliver_once(&w).await,
        1,
        "the throttled message is returned to the queue"
    );

    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Queued, "back in its place");
    assert!(
        record
            .reason
            .as_deref()
            .unwrap()
            .contains("ThrottlingException"),
        "{:?}",
        record.reason
    );
    assert_eq!(record.defer_count, 1);
    assert_eq!(
        esm::depth(&w.sqs, &w.names.queue_url).await,
        1,
        "kept on the queue"
    );

    w.set_faults(json!({})).await;
    w.drain(&w.dispatcher()).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert!(
        record
            .reason
            .unwrap()
            .starts_with("admitted on ml.g5.xlarge/spot")
    );
    assert_eq!(w.stats().await["jobs_created"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_below_the_limit_is_learnt_alerted_once_and_the_ladder_moves_on() {
    let w = World::new().await;
    // SageMaker allows one g5 instance; trainq's configured limit is the default 10.
    w.set_faults(json!({"quotas": {"ml.g5.xlarge": 1}})).await;
    let first = sample_request();
    let second = with_new_id(sample_request());
    w.send(&first.to_string()).await;
    w.drain(&w.dispatcher()).await;
    w.send(&second.to_string()).await;
    assert_eq!(deliver_once(&w).await, 0, "waiting is not a redelivery");

    assert_eq!(
        w.record(request_id_of(&first)).await.unwrap().state,
        JobState::InProgress
    );
    let waiting = w.record(request_id_of(&second)).await.unwrap();
    assert_eq!(waiting.state, JobState::Queued);
    let reason = waiting.reason.unwrap();
    assert!(
        reason.contains("refused on ml.g5.xlarge/spot: quota exceeded: ResourceLimitExceeded"),
        "{reason}"
    );
    let alerts = w.wait_for_alerts("Training Capacity Pressure", 1).await;
    assert_eq!(alerts[0]["detail"]["request_id"], second["request_id"]);

    // The round woke the next one: g5 spot is held at what runs (1), so the request starts on
    // the next rung of its ladder without another refused create.
    w.drain(&w.dispatcher()).await;
    let launched = w.record(request_id_of(&second)).await.unwrap();
    assert_eq!(launched.state, JobState::InProgress);
    let attempt = launched.current_attempt().unwrap();
    assert_eq!(
        (attempt.instance_type.as_str(), attempt.spot),
        ("ml.g4dn.xlarge", true)
    );
    let stats = w.stats().await;
    assert_eq!(
        (
            stats["quota_refused"].clone(),
            stats["jobs_created"].clone()
        ),
        (json!(1), json!(2))
    );
    let books = w.ledger().all_pools().await.unwrap();
    let g5: Pool = "ml.g5.xlarge/spot".parse().unwrap();
    assert_eq!(books[&g5].learned.map(|l| l.limit), Some(1));
    assert_eq!(books[&g5].used, 1);
    let more = w.take_alerts().await;
    assert!(
        more.iter()
            .all(|a| a["detail-type"] != "Training Capacity Pressure"),
        "one alert per episode: {more:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_sagemaker_fault_defers_and_recovers() {
    let w = World::new().await;
    w.set_faults(json!({"internal_error_rate": 1.0})).await;
    let body = sample_request();
    w.send(&body.to_string()).await;
    assert_eq!(deliver_once(&w).await, 1);
    let record = w.record(request_id_of(&body)).await.unwrap();
    assert_eq!(record.state, JobState::Queued);
    assert!(record.reason.unwrap().contains("pushed back: transient:"));
    w.set_faults(json!({})).await;
    w.drain(&w.dispatcher()).await;
    assert_eq!(
        w.record(request_id_of(&body)).await.unwrap().state,
        JobState::InProgress
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_rejected_kept_announced_and_acknowledged() {
    let w = World::new().await;
    let mut wrong_type = with_new_id(sample_request());
    wrong_type["resources"]["max_runtime_s"] = json!("four hours");
    let mut future = with_new_id(sample_request());
    future["schema_version"] = json!(2);
    let mut image = with_new_id(sample_request());
    image["image"] = json!("unknown-repo:1");
    let mut bucket = with_new_id(sample_request());
    bucket["dataset"]["channels"]["train"] = json!("s3://someone-elses-bucket/x/");
    let mut research_prod_image = with_new_id(sample_research_request());
    research_prod_image["image"] =
        json!("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1");
    let mut research_prod_bucket = with_new_id(sample_research_request());
    research_prod_bucket["dataset"]["channels"]["train"] = json!("s3://prod-data/acme/train/");
    let mut big_hyperparameter = with_new_id(sample_request());
    big_hyperparameter["hyperparameters"]["notes"] = json!("x".repeat(3000));
    let cases: Vec<(String, &str, &str)> = vec![
        ("{not json".into(), "(body)", "not valid JSON"),
        (
            wrong_type.to_string(),
            "resources.max_runtime_s",
            "expected u32",
        ),
        (
            future.to_string(),
            "schema_version",
            "unsupported version 2",
        ),
        (
            image.to_string(),
            "image",
            "not in the production registry's allow-list",
        ),
        (
            bucket.to_string(),
            "dataset.channels.train",
            "not allowed for the production registry",
        ),
        (
            research_prod_image.to_string(),
            "image",
            "not a full image URI",
        ),
        (
            research_prod_bucket.to_string(),
            "dataset.channels.train",
            "belongs to the production registry",
        ),
        (
            big_hyperparameter.to_string(),
            "hyperparameters.notes",
            "at most 2500",
        ),
    ];
    let mut ids = Vec::new();
    for (body, _, _) in &cases {
        let message_id = w.send(body).await;
        let peeked = trainq_common::request::peek_request_id(body);
        ids.push(peeked.unwrap_or_else(|| request_id_for_message(&message_id)));
    }
    w.drain(&w.dispatcher()).await;

    for ((body, field, rule), id) in cases.iter().zip(&ids) {
        let record = w
            .record(*id)
            .await
            .unwrap_or_else(|| panic!("no record for {field}"));
        assert_eq!(record.state, JobState::Rejected, "{field}");
        let reason = record.reason.unwrap();
        assert!(
            reason.starts_with(&format!("`{field}`")) && reason.contains(rule),
            "{field}: {reason}"
        );
        assert_eq!(
            record.raw_body.as_deref(),
            Some(&body[..body.len().min(4096)])
        );
    }
    let alerts = w
        .wait_for_alerts("Training Request Rejected", cases.len())
        .await;
    for id in &ids {
        assert!(
            alerts
                .iter()
                .any(|a| a["detail"]["request_id"] == json!(id.to_string())),
            "alert for {id}"
        );
    }
    assert!(alerts.iter().all(|a| a["source"] == "trainq"));
    assert_eq!(
        w.stats().await["create_calls"],
        json!(0),
        "nothing launched"
    );
    assert_eq!(
        esm::depth(&w.sqs, &w.names.queue_url).await,
        0,
        "rejections are acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_rejected_by_name() {
    // SQS itself refuses bodies over 256 KiB, so an oversize body can only come from another
    // path into the handler; it is still recorded and announced, never dropped.
    let w = World::new().await;
    let body = format!(
        "{{\"schema_version\":1,\"pad\":\"{}\"}}",
        "x".repeat(300 * 1024)
    );
    let message = aws_sdk_sqs::types::Message::builder()
        .message_id("oversize-1")
        .receipt_handle("rh")
        .body(&body)
        .build();
    let response = w
        .dispatcher()
        .handle_batch(&esm::to_event(&[message], &w.names.queue_arn))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let record = w
        .record(request_id_for_message("oversize-1"))
        .await
        .unwrap();
    assert_eq!(record.state, JobState::Rejected);
    assert!(record.reason.unwrap().contains("limit is 262144"));
    assert_eq!(record.raw_body.unwrap().len(), 4096);
    w.wait_for_alerts("Training Request Rejected", 1).await;
}
