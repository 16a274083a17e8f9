//! Retries: the fallback ladder, the budget, user failures on request.

use serde_json::{Value, json};
use trainq_common::alert::AlertKind;
use trainq_common::naming::job_name;
use trainq_common::state::JobState;

use super::{ID, event, with_request};

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
    let sent = w.launch_messages();
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(body["request_id"], json!(ID.to_string()));
    let kinds = w.alerts.kinds();
    assert_eq!(kinds, [AlertKind::CapacityPressure]);

    // A late running event of attempt 1 is just late: no second launch message.
    w.watcher()
        .handle_event(&event("InProgress", "Training", 20))
        .await;
    assert_eq!(w.launch_messages().len(), 1);

    // The same event again: stale, but the launch message is sent again in case it was lost.
    w.watcher().handle_event(&lost).await;
    assert_eq!(w.launch_messages().len(), 2);
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
    assert!(w.launch_messages().is_empty());
}

#[tokio::test]
async fn a_user_failure_is_retried_on_the_same_rung_only_when_the_request_asks() {
    let w = with_request(JobState::InProgress, |b| {
        b["retry"] = json!({"max_attempts": 2, "retry_user_failures": true})
    });
    let mut failed = event("Failed", "Failed", 50);
    failed["detail"]["FailureReason"] = json!("AlgorithmError: flaky data loader");
    w.watcher().handle_event(&failed).await;
    let r = w.record();
    assert_eq!(r.state, JobState::Retrying);
    let next = r.current_attempt().unwrap();
    assert_eq!(
        (next.number, next.instance_type.as_str(), next.spot),
        (2, "ml.g5.xlarge", true),
        "same rung: another instance type would not fix the code"
    );
    assert!(r.reason.unwrap().contains("flaky data loader"));
    assert_eq!(w.launch_messages().len(), 1);
    assert!(w.alerts.kinds().is_empty(), "not failed, not capacity");

    // Attempt 2 fails the same way: the budget of 2 is spent.
    let mut r = w.record();
    r.state = JobState::InProgress;
    w.store.insert(r);
    let mut again = super::event_of(2, "Failed", "Failed", 90);
    again["detail"]["FailureReason"] = json!("AlgorithmError: flaky data loader");
    w.watcher().handle_event(&again).await;
    let r = w.record();
    assert_eq!(r.state, JobState::Failed);
    assert!(
        r.reason
            .unwrap()
            .starts_with("retries exhausted after 2 attempts")
    );
    assert_eq!(w.alerts.kinds(), [AlertKind::RetriesExhausted]);
    assert_eq!(w.launch_messages().len(), 1, "no third launch");
}
