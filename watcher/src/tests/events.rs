//! Events keep records true: ordering, duplicates, failures, faults.

use serde_json::json;
use trainq_common::ServiceError;
use trainq_common::alert::AlertKind;
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::tracking::Effect;

use super::{ID, World, event};
use crate::WatchOutcome;

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
    w.job_completed(1, 30, &[("validation:accuracy", 0.97)]);
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
        Some(
            format!(
                "s3://prod-models/output/{}/output/model.tar.gz",
                job_name(ID, 1)
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_terminal_event_describe_does_not_confirm_waits_and_a_contradicted_one_follows_sagemaker()
{
    let w = World::with_record(JobState::InProgress);
    let mut running =
        trainq_common::event::parse_event(&event("InProgress", "Training", 20)).unwrap();
    running.job_name = job_name(ID, 1);
    w.training
        .described
        .lock()
        .unwrap()
        .insert(job_name(ID, 1), running);
    let outcome = w
        .watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert!(
        matches!(&outcome, WatchOutcome::Unconfirmed(why) if why.contains("InProgress")),
        "{outcome:?}"
    );
    assert!(outcome.redeliver());
    assert_eq!(w.record().state, JobState::InProgress, "not applied");
    assert_eq!(w.record().attempts[0].status, None);

    // SageMaker says the job failed: its word, not the event's, is recorded.
    let mut failed = trainq_common::event::parse_event(&event("Failed", "Failed", 40)).unwrap();
    failed.job_name = job_name(ID, 1);
    failed.failure_reason = Some("AlgorithmError: exit 1".into());
    w.training
        .described
        .lock()
        .unwrap()
        .insert(job_name(ID, 1), failed);
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.state, JobState::Failed);
    assert_eq!(r.attempts[0].status.as_deref(), Some("Failed"));
    assert!(w.models.packages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn duplicated_and_out_of_order_events_never_move_the_record_back() {
    let w = World::with_record(JobState::InProgress);
    w.job_completed(1, 30, &[]);
    let d = w.watcher();
    d.handle_event(&event("InProgress", "Training", 20)).await;
    d.handle_event(&event("Completed", "Completed", 30)).await;
    assert_eq!(w.record().state, JobState::Registered);
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
    assert_eq!(w.record().state, JobState::Registered);
    assert_eq!(w.record().version, version, "stale events write nothing");
    assert_eq!(w.models.packages.lock().unwrap().len(), 1);
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
async fn an_alert_the_sink_refuses_stays_in_the_outbox_until_a_redelivery_sends_it() {
    let w = World::with_record(JobState::InProgress);
    w.alerts
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Transient(
            "PutEvents: InternalException".into(),
        ));
    let mut failed = event("Failed", "Failed", 40);
    failed["detail"]["FailureReason"] = json!("AlgorithmError: exit 1");
    let outcome = w.watcher().handle_event(&failed).await;
    assert!(outcome.redeliver(), "the event comes back: {outcome:?}");
    let r = w.record();
    assert_eq!(r.state, JobState::Failed, "the state change is written");
    assert_eq!(r.outbox.len(), 1, "with its alert");
    let id = r.outbox[0].id();
    assert!(w.alerts.sent.lock().unwrap().is_empty());

    // The redelivery is stale for the record, and delivers what is pending.
    let outcome = w.watcher().handle_event(&failed).await;
    assert!(!outcome.redeliver(), "{outcome:?}");
    assert!(w.record().outbox.is_empty());
    assert_eq!(w.record().alerts_pending, None);
    let sent = w.alerts.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].kind, sent[0].detail.alert_id),
        (AlertKind::JobFailed, id)
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
    broken["detail"]["TrainingJobStatus"] = json!(7);
    let outcome = w.watcher().handle_event(&broken).await;
    let WatchOutcome::Unreadable(reason) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("detail.TrainingJobStatus"), "{reason}");
    assert!(!outcome.redeliver());
    assert_eq!(w.record().version, 1);
}

#[tokio::test]
async fn an_unreadable_optional_field_is_left_out_not_a_reason_to_drop_the_event() {
    let w = World::with_record(JobState::Launching);
    let mut odd = event("InProgress", "Training", 30);
    odd["detail"]["LastModifiedTime"] = json!("soon");
    odd["detail"]["BillableTimeInSeconds"] = json!({"unexpected": true});
    let outcome = w.watcher().handle_event(&odd).await;
    assert!(
        !matches!(outcome, WatchOutcome::Unreadable(_)),
        "{outcome:?}"
    );
    assert_eq!(
        w.record().state,
        JobState::InProgress,
        "the event still moved the record"
    );
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
