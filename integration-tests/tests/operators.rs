//! Operators' commands as a person runs them (`trainq jobs cancel`, `retry`) against the local
//! stack, at the moments that break naive versions: a cancel racing a launch, a retry after
//! the budget is spent; signed by the caller's AWS identity and stamped by AWS's clock.

use std::time::Duration;

use serde_json::{Value, json};
use trainq_integration_tests::cli_stack::{FLAGS, Stack, stderr, stdout};
use trainq_integration_tests::poll;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

/// The devstack key's principal, as STS names it (devstack.json: `devstack` → an IAM user).
const ON_CALL: &str = "arn:aws:iam::123456789012:user/devstack";

fn show(s: &Stack, id: &str) -> Value {
    serde_json::from_slice(&s.trainq(&["jobs", "show", id, "--json"]).stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_a_launch_stops_the_job_the_launch_created() {
    let s = Stack::start(TRAINER, |_| {}).await;
    s.upload_data().await;
    // CreateTrainingJob takes 4 s: the cancel lands while the dispatcher is creating the job
    // (the record is `Launching`, its attempt has no ARN yet).
    s.set_faults(&json!({"create_delay_ms": 4000})).await;
    let out = s.trainq(
        &[
            &["submit"][..],
            FLAGS,
            &["--hp", "epochs=500", "--hp", "epoch_delay_ms=200"],
        ]
        .concat(),
    );
    let id = stdout(&out).trim().to_owned();
    s.wait_state(&id, "Launching").await;
    let cancelled = s.trainq(&["jobs", "cancel", &id]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    assert!(
        stdout(&cancelled).contains("Cancelling"),
        "SageMaker has not confirmed anything yet: {}",
        stdout(&cancelled)
    );
    // The dispatcher creates the job, finds the request cancelled and stops it; the watcher
    // ends the record when SageMaker says it stopped.
    let record = s.wait_state(&id, "Cancelled").await;
    let job = record["attempts"][0]["job_name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.job_status(&job).await, "Stopped", "nothing trains on");
    assert_eq!(record["attempts"][0]["status"], "Stopped");
    assert_eq!(record["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(record["cancelled_by"], ON_CALL);
    s.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_of_a_running_and_a_queued_request_end_cancelled_with_nothing_running() {
    // The pools hold one: the second waits in the waiting room.
    let (s, running, queued) = Stack::running_and_queued(TRAINER).await;
    let out = s.trainq(&["jobs", "cancel", &queued, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["state"], "Cancelled", "nothing ran: {answer}");
    assert_eq!(answer["stopped_jobs"], json!([]), "{answer}");
    let out = s.trainq(&["jobs", "cancel", &running, "--wait", "--timeout", "90s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Cancelled"), "{}", stdout(&out));
    let record = show(&s, &running);
    let job = record["attempts"][0]["job_name"].as_str().unwrap();
    assert_eq!(s.job_status(job).await, "Stopped");
    // The cancelled queued request never launches, even once the pool frees.
    let record = show(&s, &queued);
    assert_eq!(record["state"], "Cancelled");
    assert!(record["attempts"][0]["job_arn"].is_null(), "{record}");
    s.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retry_starts_a_fresh_budget_and_names_the_caller() {
    let s = Stack::start(TRAINER, |_| {}).await;
    s.upload_data().await;
    // No capacity for g5 anywhere: every attempt fails with CapacityError. Budget: 2.
    s.set_faults(&json!({"capacity_errors": ["ml.g5.xlarge"]}))
        .await;
    let mut body = trainq_common::testing::sample_request();
    body["dataset"]["channels"] = json!({
        "train": "s3://trainq-prod-data/acme/cli/train/",
        "validation": "s3://trainq-prod-data/acme/cli/val/"});
    body["dataset"]["digests"] = json!({});
    body["resources"]["fallback_instance_types"] = json!([]);
    body["retry"] = json!({"max_attempts": 2});
    body.as_object_mut().unwrap().remove("approval");
    let file = s.write("budget-2.json", &body);
    let out = s.trainq(&["submit", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let record = s.wait_state(&id, "Failed").await;
    assert_eq!(record["attempts"].as_array().unwrap().len(), 2);

    // AWS's clock is an hour ahead of this laptop's: the operator's write follows AWS's.
    s.set_faults(&json!({"capacity_errors": ["ml.g5.xlarge"], "clock_offset_s": 3600}))
        .await;
    let before = trainq_common::time_util::now_rfc3339();
    let retried = s.trainq(&["jobs", "retry", &id, "--json"]);
    assert!(retried.status.success(), "{}", stderr(&retried));
    let answer: Value = serde_json::from_slice(&retried.stdout).unwrap();
    assert_eq!(answer["retried_by"], ON_CALL);
    // The CLI's write (Retrying, attempt 3) was stamped an hour ahead.
    let hour_ahead = trainq_common::time_util::to_rfc3339(
        time::OffsetDateTime::now_utc() + time::Duration::minutes(55),
    );
    let stamped = answer["updated_at"].as_str().unwrap();
    assert!(
        stamped > hour_ahead.as_str(),
        "stamped by AWS's clock, not the laptop's ({before}): {stamped}"
    );
    // A fresh budget of 2: attempt 3 fails and is retried once more, as attempt 4.
    let record = poll::until(
        "the fresh budget spent",
        Duration::from_secs(90),
        || async {
            let r = show(&s, &id);
            (r["state"] == "Failed" && r["attempts"].as_array()?.len() == 4).then_some(r)
        },
    )
    .await;
    assert_eq!(record["attempts"][2]["retried_by"], ON_CALL);
    assert!(record["attempts"][3]["retried_by"].is_null());
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("retries exhausted after 2 attempts (since the operator's retry"),
        "{reason}"
    );
    assert!(
        reason.contains("the last was lost to CapacityError: Unable to provision"),
        "SageMaker's words, not trainq's name for them: {reason}"
    );
    let text = stdout(&s.trainq(&["jobs", "show", &id]));
    assert!(text.contains(&format!("retried by {ON_CALL}")), "{text}");
    s.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looking_at_the_dead_letter_queue_leaves_it_as_it_was() {
    let s = Stack::start(TRAINER, |_| {}).await;
    let dlq = s.devstack.stack().requests_dlq_url.clone();
    // More than one receive's worth (10): a look must page through all of them.
    for _ in 0..12 {
        let mut body = trainq_common::testing::sample_request();
        body["request_id"] = json!(uuid::Uuid::new_v4().to_string());
        s.send_as("devstack", &dlq, &body).await;
    }
    let listed = |s: &Stack| -> usize {
        let out = s.trainq(&["dlq", "list", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().unwrap().len()
    };
    assert_eq!(listed(&s), 12);
    // Right after the look, every message is still there for everyone.
    let status: Value = serde_json::from_slice(&s.trainq(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["dead_letter_queue"]["visible"], 12, "{status}");
    let dry: Value =
        serde_json::from_slice(&s.trainq(&["dlq", "redrive", "--dry-run", "--json"]).stdout)
            .unwrap();
    let looked = dry["messages"].as_array().unwrap().len() + dry["kept"].as_array().unwrap().len();
    assert_eq!(looked, 12, "{dry}");
    assert_eq!(listed(&s), 12, "a dry run hides nothing");
    s.devstack.stop().await;
}
