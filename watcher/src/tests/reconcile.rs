//! The reconcile: stale records are checked against SageMaker and healed.

use trainq_common::state::JobState;

use super::World;
use crate::ReconcileReport;

/// Makes the record look untouched since long ago (older than the reconcile threshold).
fn age(w: &World, change: impl FnOnce(&mut trainq_common::JobRecord)) {
    let mut r = w.record();
    r.updated_at = "2026-01-01T00:00:00Z".into();
    change(&mut r);
    w.store.insert(r);
}

fn report(checked: usize, healed: usize, unresolved: usize) -> ReconcileReport {
    ReconcileReport {
        checked,
        healed,
        unresolved,
        ..ReconcileReport::default()
    }
}

#[tokio::test]
async fn a_lost_completion_is_healed_and_the_model_registered() {
    let w = World::with_record(JobState::InProgress);
    age(&w, |_| {});
    w.job_completed(1, 30, &[("validation:accuracy", 0.99)]);
    assert_eq!(w.watcher().reconcile().await, report(1, 1, 0));
    let r = w.record();
    assert_eq!(r.state, JobState::Registered);
    assert_eq!(r.attempts[0].billable_s, Some(120));
    assert_eq!(w.models.packages.lock().unwrap().len(), 1);
    assert_eq!(
        w.watcher().reconcile().await,
        report(0, 0, 0),
        "nothing left"
    );
}

#[tokio::test]
async fn fresh_records_are_left_to_their_events() {
    let w = World::with_record(JobState::InProgress);
    w.job_completed(1, 30, &[]);
    let counted = ReconcileReport {
        slots_added: 1,
        ..report(0, 0, 0)
    };
    assert_eq!(
        w.watcher().reconcile().await,
        counted,
        "only its slot is counted"
    );
    assert_eq!(w.record().state, JobState::InProgress);
}

#[tokio::test]
async fn a_launch_that_never_reached_sagemaker_is_enqueued_again() {
    let w = World::with_record(JobState::Launching);
    age(&w, |r| r.lease_until = Some(0));
    assert_eq!(w.watcher().reconcile().await, report(1, 1, 0));
    assert_eq!(w.launch_messages().len(), 1);

    // A live lease means a dispatcher is on it.
    let w = World::with_record(JobState::Launching);
    age(&w, |r| r.lease_until = Some(i64::MAX));
    assert_eq!(w.watcher().reconcile().await, report(1, 0, 0));
    assert!(w.launch_messages().is_empty());
}

#[tokio::test]
async fn a_planned_retry_and_an_unheld_registration_are_finished() {
    let w = World::with_record(JobState::Retrying);
    age(&w, |_| {});
    assert_eq!(w.watcher().reconcile().await, report(1, 1, 0));
    assert_eq!(w.launch_messages().len(), 1);

    let w = World::with_record(JobState::Completed);
    w.job_completed(1, 30, &[]);
    age(&w, |r| r.attempts[0].status = Some("Completed".into()));
    assert_eq!(w.watcher().reconcile().await, report(1, 1, 0));
    assert_eq!(
        w.record().state,
        JobState::Registered,
        "artifact taken from describe"
    );
}

#[tokio::test]
async fn what_cannot_be_checked_is_reported_unresolved() {
    let w = World::with_record(JobState::InProgress);
    age(&w, |_| {});
    // FakeTraining knows no such job.
    let unresolved = ReconcileReport {
        slots_added: 1,
        ..report(1, 0, 1)
    };
    assert_eq!(w.watcher().reconcile().await, unresolved);
    assert_eq!(w.record().state, JobState::InProgress);
}

#[tokio::test]
async fn each_run_takes_at_most_the_configured_number_per_state() {
    let w = World::with_record(JobState::Retrying);
    age(&w, |_| {});
    w.store.insert({
        let mut other = w.record();
        other.request_id = uuid::Uuid::from_u128(1);
        other
    });
    let watcher = w.watcher_with(&[("TRAINQ_RECONCILE_MAX", "1")]);
    assert_eq!(watcher.reconcile().await, report(1, 1, 0));
    assert_eq!(w.launch_messages().len(), 1, "one launch message, not two");
}

#[tokio::test]
async fn healthy_old_records_do_not_hide_a_newer_stranded_one() {
    // Three healthy running jobs older than one whose completion was lost; two per run.
    let w = World::with_record(JobState::InProgress);
    age(&w, |r| r.updated_at = "2026-01-02T00:00:00.000Z".into());
    w.job_completed(1, 30, &[("validation:accuracy", 0.99)]);
    let running = |name: &str| {
        let mut e =
            trainq_common::event::parse_event(&super::event("InProgress", "Training", 10)).unwrap();
        e.job_name = name.to_owned();
        e
    };
    for n in 1..=3u128 {
        let id = uuid::Uuid::from_u128(n);
        let mut healthy = w.record();
        healthy.request_id = id;
        healthy.attempts = vec![trainq_common::Attempt::planned(id, 1, "ml.g5.xlarge", true)];
        let name = healthy.attempts[0].job_name.clone();
        trainq_common::tracking::apply(&mut healthy, &running(&name), 1);
        healthy.updated_at = format!("2026-01-01T00:00:0{n}.000Z");
        w.store.insert(healthy);
        w.training
            .described
            .lock()
            .unwrap()
            .insert(name.clone(), running(&name));
    }
    let watcher = w.watcher_with(&[("TRAINQ_RECONCILE_MAX", "2")]);
    assert_eq!(
        watcher.reconcile().await.healed,
        0,
        "the two oldest, healthy"
    );
    assert_eq!(w.record().state, JobState::InProgress);
    assert_eq!(watcher.reconcile().await.healed, 1, "then the next two");
    assert_eq!(w.record().state, JobState::Registered);
}
