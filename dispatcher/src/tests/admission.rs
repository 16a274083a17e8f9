//! Admission on the fakes: a full pool queues, a freed slot goes to the next in order
//! (priority class, then fair share, then age), the ladder takes what has room unless the
//! request prefers its first choice, and a request past its `max_queue_s` expires.

use super::*;

/// One instance of g5 spot; the request's other rungs closed.
const ONE_G5_SLOT: &str = "ml.g5.xlarge/spot=1, ml.g4dn.xlarge/spot=0, ml.g5.xlarge/on-demand=0";

/// A message sent at `sent_ms`.
fn sent(id: &str, body: &Value, sent_ms: i64) -> SqsMessage {
    let mut m = message(id, &body.to_string(), 1);
    m.attributes
        .insert("SentTimestamp".to_owned(), sent_ms.to_string());
    m
}

async fn held(w: &World, pool: &Pool) -> u32 {
    w.ledger.pools(std::slice::from_ref(pool)).await.unwrap()[pool].used
}

/// The slot `n`'s first attempt holds is given back (the watcher's part when the job ends).
async fn job_ends(w: &World, n: u128) {
    let job = naming::job_name(Uuid::from_u128(n), 1);
    w.ledger.release(&g5_spot(), &job).await.unwrap();
}

fn state(w: &World, n: u128) -> JobState {
    w.store.record(Uuid::from_u128(n)).unwrap().state
}

#[tokio::test]
async fn a_full_pool_queues_and_each_freed_slot_goes_to_the_highest_class_waiting() {
    let w = World::default();
    let d = w.dispatcher_with("120", &[("TRAINQ_POOL_LIMITS", ONE_G5_SLOT)]);
    let running = d.handle_message(&sent("m1", &body(1, |_| {}), 1_000)).await;
    assert!(matches!(running, Outcome::Launched { .. }), "{running:?}");

    // Research first, then other production, then a production retrain: all wait.
    let research = body(2, |b| {
        *b = sample_research_request();
        b["request_id"] = json!(Uuid::from_u128(2).to_string());
    });
    let scheduled = body(3, |b| b["reason"] = json!("scheduled"));
    let retrain = body(4, |_| {});
    for (i, b) in [&research, &scheduled, &retrain].into_iter().enumerate() {
        let outcome = d
            .handle_message(&sent(&format!("w{i}"), b, 2_000 + i as i64))
            .await;
        assert_eq!(outcome, Outcome::Queued);
        assert!(!outcome.redeliver(), "waiting is not a redelivery");
    }
    assert_eq!(w.creates(), 1, "no create for a pool that is full");
    assert_eq!(
        w.alerts_of(AlertKind::CapacityPressure),
        1,
        "one alert per episode"
    );

    for (ended, next) in [(1, 4), (4, 3), (3, 2)] {
        job_ends(&w, ended).await;
        let outcome = d.handle_message(&message("wake", WAKE_BODY, 1)).await;
        assert_eq!(outcome, Outcome::Admitted(1));
        assert_eq!(state(&w, next), JobState::InProgress, "request {next} next");
        assert_eq!(held(&w, &g5_spot()).await, 1, "never more than the limit");
    }
    assert_eq!(w.creates(), 4);
}

#[tokio::test]
async fn within_a_class_the_customer_using_less_goes_first_then_the_oldest() {
    let w = World::default();
    let d = w.dispatcher_with(
        "120",
        &[(
            "TRAINQ_POOL_LIMITS",
            "ml.g5.xlarge/spot=2, ml.g4dn.xlarge/spot=0, ml.g5.xlarge/on-demand=0",
        )],
    );
    // acme sends three, then globex one; acme's first two run.
    for n in 1..=3 {
        d.handle_message(&sent(&format!("a{n}"), &body(n, |_| {}), n as i64))
            .await;
    }
    let globex = body(9, |b| {
        b["customer"] = json!("globex");
        b["dataset"]["channels"] = json!({"train": "s3://prod-data/globex/train/"});
    });
    assert_eq!(
        d.handle_message(&sent("g", &globex, 100)).await,
        Outcome::Queued
    );
    assert_eq!(
        (state(&w, 1), state(&w, 2)),
        (JobState::InProgress, JobState::InProgress)
    );

    // A slot frees: globex holds nothing and goes before acme's older third request.
    job_ends(&w, 1).await;
    assert_eq!(
        d.handle_message(&message("wake", WAKE_BODY, 1)).await,
        Outcome::Admitted(1)
    );
    assert_eq!(state(&w, 9), JobState::InProgress);
    assert_eq!(state(&w, 3), JobState::Queued);
}

#[tokio::test]
async fn the_ladder_takes_the_rung_with_room_unless_the_request_waits_for_its_first_choice() {
    let w = World::default();
    let d = w.dispatcher_with("120", &[("TRAINQ_POOL_LIMITS", "ml.g5.xlarge/spot=1")]);
    let first = d.handle_message(&sent("r", &body(3, |_| {}), 0)).await;
    assert!(
        matches!(first, Outcome::Launched { .. }),
        "g5 spot is now full"
    );
    let patient = body(1, |b| b["resources"]["prefer"] = json!("first_choice"));
    assert_eq!(
        d.handle_message(&sent("p", &patient, 1)).await,
        Outcome::Queued
    );
    let flexible = body(2, |_| {});
    let outcome = d.handle_message(&sent("f", &flexible, 2)).await;
    assert!(matches!(outcome, Outcome::Launched { .. }), "{outcome:?}");
    let record = w.store.record(Uuid::from_u128(2)).unwrap();
    let attempt = record.current_attempt().unwrap();
    assert_eq!(
        attempt.instance_type, "ml.g4dn.xlarge",
        "the next rung with room"
    );
    assert!(record.reason.unwrap().contains("rung 2 of its ladder"));
    assert_eq!(state(&w, 1), JobState::Queued, "it waits for g5 spot");
    assert_eq!(w.creates(), 2, "a full pool costs no create call");

    // g5 spot frees: the patient request takes it.
    job_ends(&w, 3).await;
    d.handle_message(&message("wake", WAKE_BODY, 1)).await;
    assert_eq!(state(&w, 1), JobState::InProgress);
}

#[tokio::test]
async fn a_request_waiting_past_its_max_queue_s_expires_with_an_alert() {
    let w = World::default();
    let d = w.dispatcher_with("120", &[("TRAINQ_POOL_LIMITS", ONE_G5_SLOT)]);
    d.handle_message(&sent("m1", &body(1, |_| {}), 1)).await;
    let hurried = body(2, |b| b["max_queue_s"] = json!(60));
    // Sent two minutes ago: its minute is over by the time it is read.
    let two_minutes_ago = trainq_common::time_util::now_epoch_ms() - 120_000;
    d.handle_message(&sent("m2", &hurried, two_minutes_ago))
        .await;
    // Its pool is full, so no round ran for it; the next one (a freed slot, the reconcile's
    // wake-up) ends it.
    assert_eq!(state(&w, 2), JobState::Queued);
    d.handle_message(&message("wake", WAKE_BODY, 1)).await;
    let record = w.store.record(Uuid::from_u128(2)).unwrap();
    assert_eq!(record.state, JobState::Expired);
    assert!(
        record
            .reason
            .unwrap()
            .contains("longer than its max_queue_s (60 s)")
    );
    assert_eq!(w.alerts_of(AlertKind::RequestExpired), 1);
    assert_eq!(w.creates(), 1);
}

#[tokio::test]
async fn a_request_no_pool_could_ever_hold_fails_at_once_naming_the_limit() {
    let w = World::default();
    let d = w.dispatcher_with("120", &[("TRAINQ_POOL_LIMITS", "*/spot=2, */on-demand=2")]);
    let big = body(1, |b| b["resources"]["instance_count"] = json!(4));
    let outcome = d.handle_message(&sent("m", &big, 1)).await;
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    assert!(!outcome.redeliver());
    let record = w.store.record(Uuid::from_u128(1)).unwrap();
    assert_eq!(record.state, JobState::Failed);
    let reason = record.reason.unwrap();
    assert!(
        reason.contains("needs 4 instances") && reason.contains("ml.g5.xlarge/spot=2"),
        "{reason}"
    );
    assert_eq!(w.alerts_of(AlertKind::JobFailed), 1);
    assert_eq!(w.creates(), 0);
}

#[tokio::test]
async fn one_round_serves_a_whole_batch_oldest_first() {
    let w = World::default();
    let d = w.dispatcher_with("120", &[("TRAINQ_POOL_LIMITS", ONE_G5_SLOT)]);
    let batch_of = |ms: Vec<SqsMessage>| batch(ms);
    let event = batch_of(
        (1..=3)
            .map(|n| sent(&format!("m{n}"), &body(n, |_| {}), n as i64))
            .collect(),
    );
    let response = d.handle_batch(&event).await;
    assert!(response.batch_item_failures.is_empty(), "all acknowledged");
    assert_eq!(
        (state(&w, 1), state(&w, 2), state(&w, 3)),
        (JobState::InProgress, JobState::Queued, JobState::Queued),
        "the oldest takes the one slot"
    );
    assert_eq!(w.creates(), 1);
    assert_eq!(w.alerts_of(AlertKind::CapacityPressure), 1);
}
