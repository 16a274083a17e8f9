//! Cancelled requests: a running attempt is stopped, and the record ends `Cancelled` only when
//! SageMaker says nothing runs.

use trainq_common::naming::job_name;
use trainq_common::state::JobState;

use super::{ID, World, event};

#[tokio::test]
async fn a_running_attempt_of_a_cancelled_record_is_stopped() {
    // Cancelled while Deferred (nothing known to run), but a launch had in fact created the job.
    let w = World::with_record(JobState::Cancelled);
    w.watcher()
        .handle_event(&event("InProgress", "Training", 10))
        .await;
    assert_eq!(*w.training.stopped.lock().unwrap(), [job_name(ID, 1)]);
    assert_eq!(w.record().state, JobState::Cancelled);
    assert_eq!(w.record().attempts[0].status.as_deref(), Some("InProgress"));
}

#[tokio::test]
async fn a_cancelling_record_ends_cancelled_on_its_jobs_end_with_no_retry() {
    let w = World::with_record(JobState::Cancelling);
    w.watcher()
        .handle_event(&event("InProgress", "Training", 10))
        .await;
    assert_eq!(w.training.stopped.lock().unwrap().len(), 1, "stopped again");
    // A spot loss would be retried for a live request; not for a cancelled one.
    w.watcher()
        .handle_event(&event("Stopped", "MaxWaitTimeExceeded", 20))
        .await;
    let r = w.record();
    assert_eq!(r.state, JobState::Cancelled);
    assert_eq!(r.attempts.len(), 1, "no new attempt");
    assert!(w.launch_messages().is_empty());
}

#[tokio::test]
async fn the_reconcile_finishes_a_cancel_whose_job_was_never_created() {
    let w = World::with_record(JobState::Cancelling);
    let mut r = w.record();
    r.updated_at = "2026-01-01T00:00:00Z".into();
    r.lease_until = Some(1); // long lapsed: no dispatcher can still create it
    w.store.insert(r);
    w.watcher().reconcile().await;
    let r = w.record();
    assert_eq!(r.state, JobState::Cancelled);
    assert!(r.reason.unwrap().contains("never created"));
}

#[tokio::test]
async fn the_reconcile_stops_a_cancelled_requests_job_that_still_runs() {
    let w = World::with_record(JobState::Cancelling);
    let mut r = w.record();
    r.updated_at = "2026-01-01T00:00:00Z".into();
    w.store.insert(r);
    let mut running =
        trainq_common::event::parse_event(&event("InProgress", "Training", 10)).unwrap();
    running.job_name = job_name(ID, 1);
    w.training
        .described
        .lock()
        .unwrap()
        .insert(job_name(ID, 1), running);
    w.watcher().reconcile().await;
    assert_eq!(*w.training.stopped.lock().unwrap(), [job_name(ID, 1)]);
    assert_eq!(
        w.record().state,
        JobState::Cancelling,
        "until it has stopped"
    );
}
