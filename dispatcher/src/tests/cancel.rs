//! A cancel racing a launch: the dispatcher stops the job it created for a request an operator
//! cancelled meanwhile, and never launches for a cancelled one.

use trainq_common::cancel::{self, StopAnswer};

use super::*;

#[tokio::test]
async fn a_job_created_for_a_request_cancelled_meanwhile_is_stopped() {
    // 'static, so the hook (an operator's cancel between CreateTrainingJob and the record of
    // the launch) can reach the store.
    let w: &'static World = Box::leak(Box::default());
    let body = sample_request();
    let id = request_id(&body);
    *w.training.after_create.lock().unwrap() = Some(Box::new(move || {
        let mut r = w.store.record(id).unwrap();
        assert_eq!(r.state, JobState::Launching);
        // The operator's stop ran before the create: SageMaker did not know the job yet.
        cancel::cancel(&mut r, "alice", &[StopAnswer::NotFound]).unwrap();
        r.next_version();
        w.store.insert(r);
    }));
    let outcome = w
        .dispatcher("120")
        .handle_message(&message("m1", &body.to_string(), 1))
        .await;
    let job_name = naming::job_name(id, 1);
    assert_eq!(w.jobs(), 1, "the job was created");
    assert_eq!(
        *w.training.stopped.lock().unwrap(),
        [job_name],
        "and stopped at once: {outcome:?}"
    );
    let record = w.store.record(id).unwrap();
    assert_eq!(
        record.state,
        JobState::Cancelling,
        "until SageMaker confirms"
    );
    assert_eq!(record.cancelled_by.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_redelivery_of_a_cancelled_request_launches_nothing() {
    let w = World::default();
    let d = w.dispatcher("0");
    let body = sample_request();
    let id = request_id(&body);
    // Throttled: the record waits for its redelivery.
    w.training
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Throttled("Rate exceeded".into()));
    d.handle_message(&message("m1", &body.to_string(), 1)).await;
    let mut r = w.store.record(id).unwrap();
    assert_eq!(r.state, JobState::Queued);
    cancel::cancel(&mut r, "alice", &[StopAnswer::NotFound]).unwrap();
    r.next_version();
    w.store.insert(r);
    let outcome = d.handle_message(&message("m1", &body.to_string(), 2)).await;
    assert!(!outcome.redeliver(), "{outcome:?}");
    assert_eq!(w.creates(), 1, "only the throttled call");
    assert_eq!(w.store.record(id).unwrap().state, JobState::Cancelled);
}
