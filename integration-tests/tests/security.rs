//! Nobody crosses registries, and limits hold, over the wire: what a research request may
//! launch, read and write, which images and sizes are refused, and that a refusal launches
//! nothing. (Registration into research groups only: `watcher_registration.rs`; the IAM that
//! backs all this in AWS: `make check-template`.)

use serde_json::{Value, json};
use trainq_common::state::JobState;
use trainq_common::testing::{sample_request, sample_research_request};
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::world::World;

/// Sends `body`, runs the dispatcher, and returns the record and the creates it caused.
async fn dispatch(w: &World, body: &Value) -> (trainq_common::JobRecord, u64) {
    let before = w.stats().await["jobs_created"].as_u64().unwrap();
    let record = w.submit_and_drain(body).await;
    let after = w.stats().await["jobs_created"].as_u64().unwrap();
    (record, after - before)
}

/// Asserts the request was rejected naming `field` (or a field below it), and launched nothing.
async fn refused(w: &World, body: Value, field: &str) {
    let (record, created) = dispatch(w, &body).await;
    assert_eq!(record.state, JobState::Rejected, "{record:?}");
    let reason = record.reason.unwrap();
    assert!(reason.starts_with(&format!("`{field}")), "{reason}");
    assert_eq!(created, 0, "a refused request launches nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_research_request_never_reaches_production_images_buckets_or_roles() {
    let w = World::new().await;
    // Everything production a research request could name is refused.
    let mut image = fresh(sample_research_request());
    image["image"] = json!("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1.4.2");
    refused(&w, image, "image").await;
    let mut data = fresh(sample_research_request());
    data["dataset"]["channels"]["train"] = json!("s3://prod-data/acme/train/");
    refused(&w, data, "dataset.channels.train").await;
    let mut elsewhere = fresh(sample_research_request());
    elsewhere["dataset"]["channels"]["validation"] = json!("s3://someone-elses-bucket/val/");
    refused(&w, elsewhere, "dataset.channels.validation").await;

    // What it launches is research's alone: image host, role, output and checkpoint buckets.
    let (record, created) = dispatch(&w, &fresh(sample_research_request())).await;
    assert_eq!((record.state, created), (JobState::InProgress, 1));
    let job = w.describe_job(&record.attempts[0].job_name).await;
    let image = job
        .algorithm_specification()
        .unwrap()
        .training_image()
        .unwrap();
    assert!(
        image.starts_with("222222222222.dkr.ecr.eu-west-1.amazonaws.com/"),
        "{image}"
    );
    assert_eq!(
        job.role_arn(),
        Some("arn:aws:iam::222222222222:role/trainq-research")
    );
    let output = job.output_data_config().unwrap().s3_output_path().unwrap();
    let checkpoints = job.checkpoint_config().unwrap().s3_uri().unwrap();
    for uri in [output, checkpoints] {
        assert!(uri.starts_with("s3://research-models/"), "{uri}");
    }
    for channel in job.input_data_config() {
        let uri = channel
            .data_source()
            .unwrap()
            .s3_data_source()
            .unwrap()
            .s3_uri()
            .unwrap();
        assert!(uri.starts_with("s3://research-data/"), "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_outside_the_allow_lists_and_oversized_requests_are_refused() {
    let w = World::new().await;
    let with = |path: &str, value: Value| {
        let mut body = fresh(sample_request());
        trainq_common::testing::set_path(&mut body, path, value);
        body
    };
    refused(&w, with("image", json!("not-allowed:1.0")), "image").await;
    refused(&w, with("image", json!("exp-net:1.0")), "image").await; // research's, not production's
    refused(
        &w,
        with("image", json!("docker.io/library/python:3.12")),
        "image",
    )
    .await;
    refused(
        &w,
        with("image", json!("defect-classifier@sha256:zz")),
        "image",
    )
    .await;

    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
    refused(
        &w,
        with("hyperparameters", Value::Object(many)),
        "hyperparameters",
    )
    .await;
    let long_key = "k".repeat(257);
    refused(
        &w,
        with("hyperparameters", json!({long_key: "v"})),
        "hyperparameters",
    )
    .await;
    refused(
        &w,
        with("hyperparameters.lr", json!("9".repeat(2501))),
        "hyperparameters.lr",
    )
    .await;

    // An S3 URI longer than SageMaker allows: Rejected naming the channel, never launched.
    refused(
        &w,
        with(
            "dataset.channels.train",
            json!(format!("s3://prod-data/acme/{}/", "p".repeat(1010))),
        ),
        "dataset.channels.train",
    )
    .await;

    // Over 256 KiB: SQS refuses the message itself (the queue's MaximumMessageSize), as the
    // front door does for AWS; the dispatcher's own refusal of a body it cannot read is
    // tested with a hand-made event (dispatcher_guarantees: an_oversize_body_is_rejected_by_name).
    w.allow_contract_refusals();
    let mut huge = fresh(sample_request());
    huge["dataset"]["version"] = json!("v".repeat(300 * 1024));
    let before = w.stats().await["jobs_created"].clone();
    let refused = w
        .sqs
        .send_message()
        .queue_url(&w.names.queue_url)
        .message_body(huge.to_string())
        .send()
        .await
        .expect_err("SQS refuses a message over 256 KiB");
    assert_eq!(
        aws_sdk_sqs::error::ProvideErrorMetadata::code(&refused.into_service_error()),
        Some("InvalidParameterValue")
    );
    assert_eq!(
        w.drain(&w.dispatcher()).await,
        0,
        "nothing reached the queue"
    );
    assert_eq!(w.stats().await["jobs_created"], before, "nothing launched");
    w.wait_for_alerts("Training Request Rejected", 8).await;
}
