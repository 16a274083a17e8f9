//! The watcher's part in sharing the quota: an ended attempt gives its slot back once and
//! charges its customer once; the reconcile releases slots of jobs that no longer run, counts
//! running jobs the ledger missed, and wakes the dispatcher when requests wait.

use trainq_common::naming::job_name;
use trainq_common::ports::{CapacityLedger, Taken};
use trainq_common::scheduling::{Place, Pool};
use trainq_common::state::JobState;

use super::{ID, World, event};

fn g5_spot() -> Pool {
    "ml.g5.xlarge/spot".parse().unwrap()
}

async fn holders(w: &World) -> Vec<String> {
    let books = w.ledger.pools(&[g5_spot()]).await.unwrap();
    books[&g5_spot()].holders.keys().cloned().collect()
}

#[tokio::test]
async fn an_ended_attempt_gives_its_slot_back_once_and_charges_its_customer_once() {
    let w = World::with_record(JobState::InProgress);
    let taken = w
        .ledger
        .take(&g5_spot(), &job_name(ID, 1), "acme", 1, 2)
        .await;
    assert_eq!(taken.unwrap(), Taken::Taken);
    w.job_completed(1, 30, &[("validation:accuracy", 0.99)]);

    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert!(holders(&w).await.is_empty(), "the slot is free again");
    let usage = w.ledger.usage(&["acme".to_owned()]).await.unwrap();
    let charged = usage["acme"].instance_seconds;
    assert!(
        (charged - 400.0).abs() < 1.0,
        "400 training seconds × 1 instance: {charged}"
    );
    assert_eq!(w.wakes(), 1, "the dispatcher is woken to admit the next");

    // The same ending again: nothing more to give back, nothing more charged.
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let usage = w.ledger.usage(&["acme".to_owned()]).await.unwrap();
    assert_eq!(usage["acme"].instance_seconds, charged);
}

#[tokio::test]
async fn the_reconcile_makes_the_ledger_equal_to_what_runs_and_wakes_the_dispatcher() {
    let w = World::with_record(JobState::InProgress);
    // A holder whose job SageMaker does not know and nobody launches: a leak.
    let leaked = "tq-00000000000000000000000000000abc-1";
    w.ledger
        .take(&g5_spot(), leaked, "acme", 1, 5)
        .await
        .unwrap();
    // The running record's own slot is missing (a crash between create and take).
    let report = w.watcher().reconcile().await;
    assert_eq!((report.slots_released, report.slots_added), (1, 1));
    assert_eq!(holders(&w).await, [job_name(ID, 1)]);
    assert!(!report.woke_dispatcher, "nobody waits");

    // A request waits: the run wakes the dispatcher.
    let mut queued = w.record();
    queued.request_id = uuid::Uuid::from_u128(77);
    queued.state = JobState::Received;
    let place = Place::of(&queued, &Default::default(), 0).unwrap();
    queued.enqueue(place).unwrap();
    w.store.insert(queued);
    let report = w.watcher().reconcile().await;
    assert!(report.woke_dispatcher);
    assert_eq!(w.wakes(), 1);
}

#[tokio::test]
async fn a_record_claimed_over_its_ended_attempt_catches_up_and_gives_the_slot_back() {
    // The 1,000-request chaos run's stuck record: the completion reached the attempt (slot
    // given back, usage charged) while the request waited in the waiting room; a claim then
    // recorded `InProgress` over it and took the slot again (`ResourceInUse`).
    let w = World::with_record(JobState::InProgress);
    w.job_completed(1, 30, &[("validation:accuracy", 0.99)]);
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let usage = w.ledger.usage(&["acme".to_owned()]).await.unwrap();
    let charged = usage["acme"].instance_seconds;
    let mut lagging = w.store.record(ID).unwrap();
    lagging.state = JobState::InProgress;
    lagging.model_package_arn = None;
    w.store.insert(lagging);
    w.ledger
        .take(&g5_spot(), &job_name(ID, 1), "acme", 1, 2)
        .await
        .unwrap();

    // The next word (a redelivered event or the reconcile's Describe) brings nothing new for
    // the attempt, yet the request follows it to the end.
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.store.record(ID).unwrap();
    assert_eq!(r.state, JobState::Registered, "{:?}", r.reason);
    assert!(
        holders(&w).await.is_empty(),
        "the re-taken slot is free again"
    );
    let usage = w.ledger.usage(&["acme".to_owned()]).await.unwrap();
    assert_eq!(usage["acme"].instance_seconds, charged, "charged once");
}

#[tokio::test]
async fn a_flood_of_endings_sends_one_wake_up_per_round() {
    // Three jobs end before the dispatcher's round: one wake-up is enough (the round reads
    // the whole ledger); once a round has begun, the next freed slot wakes again.
    let w = World::with_record(JobState::InProgress);
    for n in 1..=3 {
        let holder = format!("tq-00000000000000000000000000000{n:03}-1");
        w.ledger
            .take(&g5_spot(), &holder, "acme", 1, 5)
            .await
            .unwrap();
    }
    let watcher = w.watcher();
    for n in 1..=2 {
        let mut ended = w.record();
        ended.request_id = uuid::Uuid::from_u128(n);
        ended.attempts[0].job_name = format!("tq-00000000000000000000000000000{n:03}-1");
        watcher.attempt_ended(&ended, 1, false).await;
    }
    assert_eq!(w.wakes(), 1, "the second ending finds the doorbell rung");
    w.ledger.answer_doorbell().await.unwrap();
    let mut ended = w.record();
    ended.attempts[0].job_name = "tq-00000000000000000000000000000003-1".into();
    watcher.attempt_ended(&ended, 1, false).await;
    assert_eq!(
        w.wakes(),
        2,
        "a round began: the next freed slot wakes again"
    );
    // A ring older than a minute may have lost its wake-up: it rings again.
    let now = trainq_common::time_util::now_epoch_ms();
    assert!(!w.ledger.ring_doorbell(now, 60_000).await.unwrap());
    assert!(w.ledger.ring_doorbell(now + 61_000, 60_000).await.unwrap());
}
