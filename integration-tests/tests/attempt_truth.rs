//! What `trainq jobs show` says about an attempt is what SageMaker said: an attempt refused
//! for capacity never ran, so it has no billing, no model and no log, its times are in order,
//! and its reason is SageMaker's own.

use serde_json::json;
use trainq_integration_tests::cli_stack::{Stack, stderr, stdout};

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_refused_for_capacity_shows_no_billing_model_or_log() {
    let s = Stack::start(TRAINER, |_| {}).await;
    s.upload_data().await;
    // No g5 capacity: attempt 1 (g5 spot) fails with CapacityError; attempt 2 runs on g4dn.
    s.set_faults(&json!({"capacity_errors": ["ml.g5.xlarge"]}))
        .await;
    let mut body = trainq_common::testing::sample_request();
    body["dataset"]["channels"] = json!({
        "train": "s3://trainq-prod-data/acme/cli/train/",
        "validation": "s3://trainq-prod-data/acme/cli/val/"});
    body.as_object_mut().unwrap().remove("approval");
    let file = s.write("capacity.json", &body);
    let out = s.trainq(&["submit", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let record = s.wait_state(&id, "Registered").await;
    let refused = &record["attempts"][0];
    assert_eq!(refused["status"], "Failed", "{record}");
    assert!(
        refused["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("CapacityError"),
        "{refused}"
    );
    for never in ["billable_s", "training_s", "model_artifact"] {
        assert!(refused[never].is_null(), "{never}: {refused}");
    }
    let (launched, ended) = (
        refused["launched_at"].as_str().unwrap(),
        refused["ended_at"].as_str().unwrap(),
    );
    assert!(launched <= ended, "launched {launched}, ended {ended}");
    let text = stdout(&s.trainq(&["jobs", "show", &id]));
    // Each attempt's section starts a line `attempt N …` (an earlier one names the next).
    let first = text
        .split("\nattempt 2 ")
        .next()
        .unwrap()
        .split("\nattempt 1 ")
        .nth(1)
        .unwrap();
    assert!(
        !first.contains("log:"),
        "no log for a job that never ran: {first}"
    );
    assert!(!first.contains("billable"), "{first}");
    let second = text.split("\nattempt 2 ").nth(1).unwrap();
    assert!(second.contains("log:"), "{second}");
    s.devstack.stop().await;
}
