//! Unit tests of the watcher's record keeping on the in-memory fakes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use trainq_common::alert::AlertKind;
use trainq_common::event::{DETAIL_TYPE, JobStateChange};
use trainq_common::fakes::{FakeTraining, MemoryJobStore, RecordingAlerts, RecordingQueue};
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::{Attempt, JobRecord, ServiceError};
use uuid::Uuid;

use super::*;

const ID: Uuid = Uuid::from_u128(0x5b0c_0f4e_6a77_4c2a_9d55_0a6f_3c1b_2e10);

#[derive(Default)]
struct World {
    store: MemoryJobStore,
    training: FakeTraining,
    alerts: RecordingAlerts,
    queue: RecordingQueue,
}

impl World {
    fn with_record(state: JobState) -> Self {
        let w = Self::default();
        let mut r = JobRecord::new(ID, state);
        r.attempts
            .push(Attempt::planned(ID, 1, "ml.g5.xlarge", true));
        w.store.insert(r);
        w
    }

    fn watcher(
        &self,
    ) -> Watcher<&MemoryJobStore, &FakeTraining, &RecordingAlerts, &RecordingQueue> {
        Watcher::new(&self.store, &self.training, &self.alerts, &self.queue)
    }

    fn record(&self) -> JobRecord {
        self.store.record(ID).unwrap()
    }
}

fn event(status: &str, secondary: &str, at_ms: i64) -> Value {
    json!({
        "id": format!("ev-{at_ms}"), "detail-type": DETAIL_TYPE, "source": "aws.sagemaker",
        "detail": {
            "TrainingJobName": job_name(ID, 1), "TrainingJobStatus": status,
            "SecondaryStatus": secondary, "LastModifiedTime": at_ms,
            "SecondaryStatusTransitions": [{"Status": secondary, "StartTime": at_ms}],
            "Tags": {}
        }
    })
}

#[tokio::test]
async fn the_first_event_marks_a_launching_request_in_progress() {
    let w = World::with_record(JobState::Launching);
    let outcome = w
        .watcher()
        .handle_event(&event("InProgress", "Starting", 10))
        .await;
    assert_eq!(
        outcome,
        WatchOutcome::Applied(Effect::Moved {
            to: JobState::InProgress,
            ending: None
        })
    );
    assert_eq!(w.record().state, JobState::InProgress);
    assert_eq!(w.record().version, 2);
}

#[tokio::test]
async fn terminal_events_take_billing_and_metrics_from_describe() {
    let w = World::with_record(JobState::InProgress);
    w.training.described.lock().unwrap().insert(
        job_name(ID, 1),
        JobStateChange {
            event_id: None,
            job_name: job_name(ID, 1),
            job_arn: None,
            status: "Completed".into(),
            secondary_status: Some("Completed".into()),
            failure_reason: None,
            transitions: Vec::new(),
            last_modified_ms: Some(30),
            billable_s: Some(120),
            training_s: Some(400),
            model_artifact: Some("s3://prod-models/output/m.tar.gz".into()),
            final_metrics: vec![("validation:accuracy".into(), 0.97)],
            tags: BTreeMap::new(),
        },
    );
    let outcome = w
        .watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert!(matches!(
        outcome,
        WatchOutcome::Applied(Effect::Moved {
            to: JobState::Completed,
            ..
        })
    ));
    let a = &w.record().attempts[0];
    assert_eq!((a.billable_s, a.training_s), (Some(120), Some(400)));
    assert_eq!(a.final_metrics.get("validation:accuracy"), Some(&0.97));
    assert_eq!(
        a.model_artifact.as_deref(),
        Some("s3://prod-models/output/m.tar.gz")
    );
}

#[tokio::test]
async fn duplicated_and_out_of_order_events_never_move_the_record_back() {
    let w = World::with_record(JobState::InProgress);
    let d = w.watcher();
    d.handle_event(&event("InProgress", "Training", 20)).await;
    d.handle_event(&event("Completed", "Completed", 30)).await;
    let version = w.record().version;
    for late in [
        event("InProgress", "Training", 20),
        event("InProgress", "Starting", 10),
        event("Completed", "Completed", 30),
    ] {
        assert_eq!(
            d.handle_event(&late).await,
            WatchOutcome::Applied(Effect::Stale)
        );
    }
    assert_eq!(w.record().state, JobState::Completed);
    assert_eq!(w.record().version, version, "stale events write nothing");
}

#[tokio::test]
async fn a_user_failure_ends_failed_with_an_alert() {
    let w = World::with_record(JobState::InProgress);
    let mut failed = event("Failed", "Failed", 40);
    failed["detail"]["FailureReason"] = json!("AlgorithmError: train.py exited with code 1");
    w.watcher().handle_event(&failed).await;
    let r = w.record();
    assert_eq!(r.state, JobState::Failed);
    assert_eq!(
        r.reason.as_deref(),
        Some("AlgorithmError: train.py exited with code 1")
    );
    let alerts = w.alerts.sent.lock().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::JobFailed);
    assert_eq!(
        alerts[0].detail.job_name.as_deref(),
        Some(job_name(ID, 1).as_str())
    );
}

#[tokio::test]
async fn foreign_and_unreadable_events_are_ignored_not_retried() {
    let w = World::with_record(JobState::InProgress);
    let mut foreign = event("Completed", "Completed", 30);
    foreign["detail"]["TrainingJobName"] = json!("someone-elses-job");
    let outcome = w.watcher().handle_event(&foreign).await;
    assert_eq!(outcome, WatchOutcome::NotOurs("someone-elses-job".into()));
    let mut broken = event("Completed", "Completed", 30);
    broken["detail"]["LastModifiedTime"] = json!("soon");
    let outcome = w.watcher().handle_event(&broken).await;
    let WatchOutcome::Unreadable(reason) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("detail.LastModifiedTime"), "{reason}");
    assert!(!outcome.redeliver());
    assert_eq!(w.record().version, 1);
}

#[tokio::test]
async fn a_store_fault_brings_the_event_back() {
    let w = World::with_record(JobState::InProgress);
    let fault = ServiceError::Throttled("ProvisionedThroughputExceeded".into());
    w.store
        .write_script
        .lock()
        .unwrap()
        .push_back(Some(fault.clone()));
    let outcome = w
        .watcher()
        .handle_event(&event("InProgress", "Training", 20))
        .await;
    assert_eq!(outcome, WatchOutcome::Retry(fault));
    assert!(outcome.redeliver());
    let outcome = w
        .watcher()
        .handle_event(&event("InProgress", "Training", 20))
        .await;
    assert_eq!(outcome, WatchOutcome::Applied(Effect::AttemptUpdated));
}

#[tokio::test]
async fn a_trainq_job_without_a_record_is_reported() {
    let w = World::default();
    let outcome = w
        .watcher()
        .handle_event(&event("InProgress", "Starting", 10))
        .await;
    assert_eq!(outcome, WatchOutcome::NoRecord);
}

/// A world whose record keeps the sample request, changed by `change`.
fn with_request(state: JobState, change: impl FnOnce(&mut Value)) -> World {
    let w = World::with_record(state);
    let mut r = w.record();
    let mut body = trainq_common::testing::sample_request();
    change(&mut body);
    r.request = Some(trainq_common::request::parse(&body.to_string()).unwrap());
    w.store.insert(r);
    w
}

#[tokio::test]
async fn lost_spot_capacity_plans_the_next_rung_and_re_enqueues_the_request() {
    let w = with_request(JobState::InProgress, |_| {});
    let lost = event("Stopped", "MaxWaitTimeExceeded", 50);
    w.watcher().handle_event(&lost).await;
    let r = w.record();
    assert_eq!(r.state, JobState::Retrying);
    let next = r.current_attempt().unwrap();
    assert_eq!(
        (next.number, next.instance_type.as_str(), next.spot),
        (2, "ml.g4dn.xlarge", true)
    );
    assert_eq!(next.job_name, job_name(ID, 2));
    let sent = w.queue.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(body["request_id"], json!(ID.to_string()));
    let kinds = w.alerts.kinds();
    assert_eq!(kinds, [AlertKind::CapacityPressure]);

    // The same event again: stale, but the launch message is sent again in case it was lost.
    w.watcher().handle_event(&lost).await;
    assert_eq!(w.queue.sent.lock().unwrap().len(), 2);
    assert_eq!(w.record().attempts.len(), 2, "no second plan");
}

#[tokio::test]
async fn an_exhausted_budget_ends_failed_with_an_alert() {
    let w = with_request(JobState::InProgress, |b| {
        b["retry"] = json!({"max_attempts": 1})
    });
    let mut failed = event("Failed", "Failed", 50);
    failed["detail"]["FailureReason"] =
        json!("CapacityError: Unable to provision requested ML compute capacity.");
    w.watcher().handle_event(&failed).await;
    let r = w.record();
    assert_eq!(r.state, JobState::Failed);
    assert!(
        r.reason
            .unwrap()
            .starts_with("retries exhausted after 1 attempts")
    );
    let kinds = w.alerts.kinds();
    assert_eq!(kinds, [AlertKind::RetriesExhausted]);
    assert!(w.queue.sent.lock().unwrap().is_empty());
}
