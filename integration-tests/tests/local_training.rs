//! End to end with real training: the local endpoint runs the defect trainer under the
//! SageMaker container contract (data from moto's S3, checkpoints synced, metrics from the log,
//! `model.tar.gz` uploaded), and the dispatcher and watcher carry the request to a registered
//! model, through spot interruptions and lost capacity.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::testing::sample_request;
use trainq_common::{JobRecord, RegistryKind};
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::world::World;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");
const PATIENCE: Duration = Duration::from_secs(90);

/// A world that runs jobs, with the sample channels filled and the model bucket present.
async fn world() -> (World, PathBuf) {
    let work = std::env::temp_dir().join(format!("trainq-jobs-{}", uuid::Uuid::new_v4()));
    let w = World::running(TRAINER, &work).await;
    w.upload_dataset("s3://prod-data/acme/train/", 1, 300).await;
    w.upload_dataset("s3://prod-data/acme/val/", 2, 100).await;
    w.ensure_bucket("prod-models").await;
    (w, work)
}

/// A request that trains for a few seconds (so faults land mid-run).
fn request(epochs: u32, delay_ms: u32) -> Value {
    let mut body = fresh(sample_request());
    body["hyperparameters"] = json!({"epochs": epochs.to_string(), "lr": "0.05",
        "epoch_delay_ms": delay_ms.to_string()});
    body["approval"] = json!({"metric": "validation:accuracy", "min": 0.8});
    body
}

/// Runs the pipeline until the request is registered or failed.
async fn settle(w: &World, id: uuid::Uuid) -> JobRecord {
    w.run_until(id, &[JobState::Registered, JobState::Failed], PATIENCE)
        .await
}

fn log(work: &std::path::Path, job: &str) -> String {
    std::fs::read_to_string(work.join(job).join("training.log")).unwrap_or_default()
}

fn statuses(record: &JobRecord, attempt: usize) -> Vec<String> {
    record.attempts[attempt]
        .secondary_history
        .iter()
        .map(|s| s.status.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_training_run_ends_in_a_registered_model_with_its_metrics() {
    let (w, work) = world().await;
    let id = w.launch(&request(4, 500)).await;
    let record = settle(&w, id).await;
    assert_eq!(record.state, JobState::Registered, "{record:?}");
    let a = &record.attempts[0];
    let accuracy = a.final_metrics["validation:accuracy"];
    assert!(accuracy >= 0.8, "accuracy {accuracy}");
    assert!(a.final_metrics.contains_key("train:loss"));
    assert_eq!(
        statuses(&record, 0),
        [
            "Starting",
            "Downloading",
            "Training",
            "Uploading",
            "Completed"
        ]
    );
    let (billable, training) = (a.billable_s.unwrap(), a.training_s.unwrap());
    assert!(
        training >= 2 && billable < training,
        "{billable} / {training}"
    );
    assert!(record.spot_savings_pct.unwrap() > 0.0);
    assert_eq!(record.model_approval.as_deref(), Some("Approved"));
    // The trainer's manifest follows trainq's schema: read from its model.tar.gz and judged.
    assert_eq!(
        record.compatibility,
        Some(trainq_common::approval::Compatibility::FirstModel)
    );
    assert!(
        record
            .manifest_digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    );

    // The model is in S3 where the package points, and the package carries the metrics.
    let artifact = a.model_artifact.clone().unwrap();
    let key = artifact.strip_prefix("s3://prod-models/").unwrap();
    let object = w
        .s3()
        .get_object()
        .bucket("prod-models")
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip stream");
    let packages = w
        .model_packages(&w.sample_group(RegistryKind::Production))
        .await;
    let package = w
        .describe_package(packages[0].model_package_arn().unwrap())
        .await;
    let metadata = package.customer_metadata_properties().unwrap();
    assert_eq!(metadata["metric:validation:accuracy"], accuracy.to_string());
    assert!(log(&work, &job_name(id, 1)).contains("model written to"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_interruption_resumes_the_same_job_from_its_checkpoint() {
    let (w, work) = world().await;
    w.set_faults(json!({"spot_interruptions": {"ml.g5.xlarge": 1}}))
        .await;
    let id = w.launch(&request(4, 400)).await;
    let record = settle(&w, id).await;
    assert_eq!(record.state, JobState::Registered, "{record:?}");
    assert_eq!(record.attempts.len(), 1, "one job, resumed in place");
    let seen = statuses(&record, 0);
    let at = seen
        .iter()
        .position(|s| s == "Interrupted")
        .expect("interrupted");
    assert_eq!(seen[at + 1..at + 3], ["Starting", "Training"], "{seen:?}");
    assert!(log(&work, &job_name(id, 1)).contains("resumed from checkpoint at epoch"));
    assert_eq!(w.stats().await["jobs_created"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_spot_capacity_leads_to_a_new_attempt_resumed_from_the_checkpoint() {
    let (w, work) = world().await;
    w.set_faults(json!({"spot_capacity_lost": ["ml.g5.xlarge"]}))
        .await;
    let id = w.launch(&request(4, 400)).await;
    let record = settle(&w, id).await;
    assert_eq!(record.state, JobState::Registered, "{record:?}");
    let (first, second) = (&record.attempts[0], &record.attempts[1]);
    assert_eq!(first.status.as_deref(), Some("Stopped"));
    assert_eq!(
        statuses(&record, 0).last().map(String::as_str),
        Some("MaxWaitTimeExceeded")
    );
    assert_eq!(
        (second.instance_type.as_str(), second.spot),
        ("ml.g4dn.xlarge", true)
    );
    assert!(
        log(&work, &job_name(id, 2)).contains("resumed from checkpoint at epoch"),
        "attempt 2 starts from attempt 1's checkpoint"
    );
    w.wait_for_alerts("Training Capacity Pressure", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_data_fails_with_the_reason_the_program_wrote() {
    let (w, _work) = world().await;
    let s3 = w.s3();
    s3.put_object()
        .bucket("prod-data")
        .key("acme/broken/train/labels.csv")
        .body("file,label\npart-00000.pgm,7\n".as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let mut body = request(2, 0);
    body["dataset"]["channels"] = json!({"train": "s3://prod-data/acme/broken/train/"});
    let id = w.launch(&body).await;
    let record = w.run_until(id, &[JobState::Failed], PATIENCE).await;
    let reason = record.reason.unwrap();
    assert!(
        reason.starts_with("AlgorithmError: bad data in channel `train`"),
        "{reason}"
    );
    assert!(reason.contains("label `7`"), "{reason}");
    w.wait_for_alerts("Training Job Failed", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_job_terminates_its_process_and_ends_it_stopped() {
    let (w, work) = world().await;
    let id = w.launch(&request(200, 200)).await;
    let job = job_name(id, 1);
    trainq_integration_tests::poll::until("training to start", PATIENCE, || async {
        let d = w.describe_job(&job).await;
        (d.secondary_status().map(|s| s.as_str()) == Some("Training")).then_some(())
    })
    .await;
    w.sagemaker
        .stop_training_job()
        .training_job_name(&job)
        .send()
        .await
        .unwrap();
    let record = w.run_until(id, &[JobState::Stopped], PATIENCE).await;
    assert_eq!(
        statuses(&record, 0).last().map(String::as_str),
        Some("Stopped")
    );
    assert!(
        !log(&work, &job).contains("model written to"),
        "stopped mid-training"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_capacity_for_an_instance_type_moves_the_request_to_the_next_rung() {
    let (w, _work) = world().await;
    w.set_faults(json!({"capacity_errors": ["ml.g5.xlarge"]}))
        .await;
    let id = w.launch(&request(2, 0)).await;
    let record = settle(&w, id).await;
    assert_eq!(record.state, JobState::Registered, "{record:?}");
    let first = &record.attempts[0];
    assert!(
        first
            .failure_reason
            .as_deref()
            .unwrap()
            .starts_with("CapacityError"),
        "{first:?}"
    );
    assert_eq!(record.attempts[1].instance_type, "ml.g4dn.xlarge");
}
