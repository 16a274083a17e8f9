//! Unit tests of the dispatcher's logic on the in-memory fakes. The same cases run over the
//! wire in `integration-tests`.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use trainq_common::alert::AlertKind;
use trainq_common::fakes::{
    FakeTraining, MemoryJobStore, MemoryLedger, RecordingAlerts, RecordingQueue,
};
use trainq_common::naming::request_id_for_message;
use trainq_common::ports::CapacityLedger;
use trainq_common::relaunch::WAKE_BODY;
use trainq_common::request::peek_request_id;
use trainq_common::scheduling::Pool;
use trainq_common::state::JobState;
use trainq_common::testing::{
    ONCALL_SENDER, env_from, sample_env, sample_request, sample_research_request,
};
use trainq_common::{JobRecord, ServiceError, naming};
use uuid::Uuid;

use super::*;

mod admission;
mod cancel;
mod trust;

#[derive(Default)]
struct World {
    store: MemoryJobStore,
    training: FakeTraining,
    alerts: RecordingAlerts,
    queue: RecordingQueue,
    ledger: MemoryLedger,
}

type TestDispatcher<'a> = Dispatcher<
    &'a MemoryJobStore,
    &'a FakeTraining,
    &'a RecordingAlerts,
    &'a RecordingQueue,
    &'a MemoryLedger,
>;

impl World {
    fn dispatcher(&self, lease_s: &'static str) -> TestDispatcher<'_> {
        self.dispatcher_with(lease_s, &[])
    }

    /// A dispatcher with `overrides` of the test environment (pool limits, classes…).
    fn dispatcher_with(
        &self,
        lease_s: &'static str,
        overrides: &[(&'static str, &'static str)],
    ) -> TestDispatcher<'_> {
        let mut env = sample_env();
        env.insert("TRAINQ_JOBS_TABLE", "jobs");
        env.insert("TRAINQ_ALERTS_BUS", "trainq-alerts");
        env.insert("TRAINQ_REQUESTS_QUEUE_URL", "http://queue");
        env.insert("TRAINQ_LAUNCH_LEASE_S", lease_s);
        env.insert("TRAINQ_CAPACITY_TABLE", "capacity");
        env.insert("TRAINQ_CREATE_RATE_PER_S", "1000");
        env.extend(overrides.iter().copied());
        let config = DispatcherConfig::from_env(&env_from(env)).unwrap();
        Dispatcher::new(
            &self.store,
            &self.training,
            &self.alerts,
            &self.queue,
            &self.ledger,
            config,
        )
    }

    fn creates(&self) -> u32 {
        *self.training.create_calls.lock().unwrap()
    }

    fn jobs(&self) -> usize {
        self.training.jobs.lock().unwrap().len()
    }

    fn alerts_of(&self, kind: AlertKind) -> usize {
        self.alerts.kinds().iter().filter(|k| **k == kind).count()
    }
}

/// A message from the on-call engineer (allowed to send to both registries).
fn message(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    message_from(ONCALL_SENDER, message_id, body, receive_count)
}

/// A message SQS reports as sent by `sender`.
fn message_from(sender: &str, message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(message_id.to_owned());
    m.receipt_handle = Some(format!("rh-{message_id}-{receive_count}"));
    m.body = Some(body.to_owned());
    m.attributes = HashMap::from([
        (
            "ApproximateReceiveCount".to_owned(),
            receive_count.to_string(),
        ),
        ("SentTimestamp".to_owned(), "1795000000000".to_owned()),
        ("SenderId".to_owned(), sender.to_owned()),
    ]);
    m
}

/// The sample production request with id `n`, changed by `change`.
fn body(n: u128, change: impl FnOnce(&mut Value)) -> Value {
    let mut b = sample_request();
    b["request_id"] = json!(Uuid::from_u128(n).to_string());
    change(&mut b);
    b
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}

fn g5_spot() -> Pool {
    "ml.g5.xlarge/spot".parse().unwrap()
}

fn request_id(body: &Value) -> Uuid {
    body["request_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_valid_request_launches_one_job_and_records_the_attempt() {
    let w = World::default();
    let body = sample_request();
    let outcome = w
        .dispatcher("120")
        .handle_message(&message("m1", &body.to_string(), 1))
        .await;
    let id = request_id(&body);
    assert_eq!(
        outcome,
        Outcome::Launched {
            job_name: naming::job_name(id, 1),
            already_existed: false
        }
    );
    let record = w.store.record(id).unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.version, 3, "queued, claimed, launched: three writes");
    assert_eq!(record.lease_until, None);
    assert_eq!(
        record.enqueued_at.as_deref(),
        Some("2026-11-18T11:06:40.000Z")
    );
    let attempt = &record.attempts[0];
    assert!(
        attempt
            .job_arn
            .as_deref()
            .unwrap()
            .ends_with(&attempt.job_name)
    );
    assert_eq!(
        (attempt.instance_type.as_str(), attempt.spot),
        ("ml.g5.xlarge", true)
    );
    assert_eq!(w.creates(), 1);
}

#[tokio::test]
async fn three_deliveries_in_one_batch_create_one_job() {
    let w = World::default();
    let d = w.dispatcher("120");
    let body = sample_request().to_string();
    let msgs = vec![
        message("m1", &body, 1),
        message("m2", &body, 1),
        message("m3", &body, 1),
    ];
    let response = d.handle_batch(&batch(msgs.clone())).await;
    assert_eq!(w.creates(), 1);
    assert_eq!(w.jobs(), 1);
    // The duplicates that met the live lease come back, then see the launched record.
    let retried: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    for m in msgs
        .iter()
        .filter(|m| retried.contains(m.message_id.as_ref().unwrap()))
    {
        assert_eq!(
            d.handle_message(m).await,
            Outcome::Duplicate(JobState::InProgress)
        );
    }
    assert_eq!(w.creates(), 1);
}

#[tokio::test]
async fn a_crash_between_create_and_record_heals_on_redelivery() {
    let w = World::default();
    // Lease 0: the redelivery may take over at once (in AWS it waits for the lease to lapse).
    let d = w.dispatcher("0");
    let body = sample_request();
    let id = request_id(&body);
    let job_name = naming::job_name(id, 1);
    // Queued and claimed; the write after CreateTrainingJob is lost.
    let lost = ServiceError::Transient("connection reset".into());
    w.store
        .write_script
        .lock()
        .unwrap()
        .extend([None, None, Some(lost.clone())]);
    let outcome = d.handle_message(&message("m1", &body.to_string(), 1)).await;
    assert_eq!(outcome, Outcome::Deferred(lost));
    assert!(outcome.redeliver());
    assert_eq!(w.store.record(id).unwrap().state, JobState::Launching);
    assert_eq!(w.jobs(), 1);

    let outcome = d.handle_message(&message("m1", &body.to_string(), 2)).await;
    assert_eq!(
        outcome,
        Outcome::Launched {
            job_name,
            already_existed: true
        }
    );
    let record = w.store.record(id).unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(
        (w.creates(), w.jobs()),
        (2, 1),
        "second create met ResourceInUse"
    );
}

#[tokio::test]
async fn a_failed_claim_is_retried_without_touching_sagemaker() {
    let w = World::default();
    let d = w.dispatcher("120");
    let body = sample_request();
    let id = request_id(&body);
    let fault = ServiceError::Throttled("ProvisionedThroughputExceeded".into());
    w.store
        .write_script
        .lock()
        .unwrap()
        .push_back(Some(fault.clone()));
    let outcome = d.handle_message(&message("m1", &body.to_string(), 1)).await;
    assert_eq!(outcome, Outcome::Retry(fault));
    assert!(w.store.record(id).is_none());
    assert_eq!(w.creates(), 0);
    let outcome = d.handle_message(&message("m1", &body.to_string(), 2)).await;
    assert!(
        matches!(
            outcome,
            Outcome::Launched {
                already_existed: false,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_live_lease_makes_a_concurrent_duplicate_back_off_without_calling_sagemaker() {
    let w = World::default();
    let body = sample_request();
    let id = request_id(&body);
    let mut held = JobRecord::new(id, JobState::Launching);
    held.lease_until = Some(i64::MAX);
    w.store.insert(held);
    let outcome = w
        .dispatcher("120")
        .handle_message(&message("m1", &body.to_string(), 1))
        .await;
    assert_eq!(outcome, Outcome::Busy);
    assert!(outcome.redeliver());
    assert_eq!(w.creates(), 0);
}

#[tokio::test]
async fn throttling_defers_with_a_growing_delay_and_never_fails() {
    let w = World::default();
    let d = w.dispatcher("120");
    let body = sample_request();
    let id = request_id(&body);
    for count in 1..=3 {
        w.training
            .faults
            .lock()
            .unwrap()
            .push_back(ServiceError::Throttled("Rate exceeded".into()));
        let outcome = d
            .handle_message(&message("m1", &body.to_string(), count))
            .await;
        assert!(
            matches!(outcome, Outcome::Deferred(ServiceError::Throttled(_))),
            "{outcome:?}"
        );
        assert!(outcome.redeliver());
        let record = w.store.record(id).unwrap();
        assert_eq!(record.state, JobState::Queued, "back in its place");
        assert!(
            record
                .reason
                .as_deref()
                .unwrap()
                .contains("throttled: Rate exceeded")
        );
        assert!(
            w.ledger.pools(&[g5_spot()]).await.unwrap()[&g5_spot()]
                .holders
                .is_empty(),
            "the slot was given back"
        );
        assert_eq!(record.defer_count, count);
    }
    let delays: Vec<u32> = w
        .queue
        .delays
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| *d)
        .collect();
    assert_eq!(delays, [30, 60, 120]);
    let outcome = d.handle_message(&message("m1", &body.to_string(), 4)).await;
    assert!(matches!(outcome, Outcome::Launched { .. }), "{outcome:?}");
    assert_eq!(w.store.record(id).unwrap().state, JobState::InProgress);
    assert_eq!(w.alerts_of(AlertKind::CapacityPressure), 0);
}

#[tokio::test]
async fn a_quota_refusal_lowers_the_pool_alerts_once_and_the_ladder_moves_on() {
    let w = World::default();
    let d = w.dispatcher("120");
    let body = sample_request();
    let id = request_id(&body);
    w.training
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::QuotaExceeded("ml.g5.xlarge".into()));
    let outcome = d.handle_message(&message("m1", &body.to_string(), 1)).await;
    assert_eq!(
        outcome,
        Outcome::Queued,
        "acknowledged: waiting is not a redelivery"
    );
    assert!(!outcome.redeliver());
    let record = w.store.record(id).unwrap();
    assert_eq!(record.state, JobState::Queued);
    assert!(
        record
            .reason
            .unwrap()
            .contains("refused on ml.g5.xlarge/spot")
    );
    let book = &w.ledger.pools(&[g5_spot()]).await.unwrap()[&g5_spot()];
    assert_eq!(
        book.learned.map(|l| l.limit),
        Some(0),
        "nothing ran: the quota is 0"
    );
    assert!(book.holders.is_empty());

    // The next round skips the closed pool without a create and takes the next rung.
    let outcome = d.handle_message(&message("m2", WAKE_BODY, 1)).await;
    assert_eq!(outcome, Outcome::Admitted(1));
    let record = w.store.record(id).unwrap();
    assert_eq!(record.state, JobState::InProgress);
    let attempt = record.current_attempt().unwrap();
    assert_eq!(
        (attempt.instance_type.as_str(), attempt.spot),
        ("ml.g4dn.xlarge", true)
    );
    assert_eq!(w.creates(), 2, "one refused, one launched");
    assert_eq!(w.alerts_of(AlertKind::CapacityPressure), 1);
}

#[tokio::test]
async fn a_transient_fault_defers_too() {
    let w = World::default();
    w.training
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Transient("timeout".into()));
    let outcome = w
        .dispatcher("120")
        .handle_message(&message("m1", &sample_request().to_string(), 1))
        .await;
    assert!(matches!(
        outcome,
        Outcome::Deferred(ServiceError::Transient(_))
    ));
}

#[tokio::test]
async fn a_job_sagemaker_refuses_for_good_fails_with_an_alert() {
    let w = World::default();
    w.training
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Invalid("bad role".into()));
    let body = sample_request();
    let outcome = w
        .dispatcher("120")
        .handle_message(&message("m1", &body.to_string(), 1))
        .await;
    assert!(matches!(outcome, Outcome::Failed(ServiceError::Invalid(_))));
    assert!(!outcome.redeliver());
    let record = w.store.record(request_id(&body)).unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert!(record.reason.unwrap().contains("bad role"));
    assert_eq!(w.alerts_of(AlertKind::JobFailed), 1);
}

#[tokio::test]
async fn malformed_requests_are_rejected_kept_and_announced() {
    let mut wrong_type = sample_request();
    wrong_type["resources"]["instance_count"] = json!("one");
    let mut future_version = sample_request();
    future_version["schema_version"] = json!(2);
    let mut research_prod_image = sample_research_request();
    research_prod_image["dataset"]["channels"]["train"] = json!("s3://prod-data/x/");
    for (i, body) in [
        &mut wrong_type,
        &mut future_version,
        &mut research_prod_image,
    ]
    .into_iter()
    .enumerate()
    {
        body["request_id"] = json!(Uuid::from_u128(1000 + i as u128).to_string());
    }
    let oversize = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let cases = [
        ("not json".to_owned(), "(body)"),
        (wrong_type.to_string(), "resources.instance_count"),
        (future_version.to_string(), "schema_version"),
        (research_prod_image.to_string(), "dataset.channels.train"),
        (oversize, "(body)"),
    ];
    let w = World::default();
    let d = w.dispatcher("120");
    for (i, (body, field)) in cases.iter().enumerate() {
        let msg = message(&format!("bad-{i}"), body, 1);
        let outcome = d.handle_message(&msg).await;
        let Outcome::Rejected(reason) = &outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.starts_with(&format!("`{field}`")), "{reason}");
        assert!(!outcome.redeliver());
        let id =
            peek_request_id(body).unwrap_or_else(|| request_id_for_message(&format!("bad-{i}")));
        let record = w.store.record(id).unwrap();
        assert_eq!(record.state, JobState::Rejected);
        assert_eq!(record.reason.as_deref(), Some(reason.as_str()));
        let ttl = record.expires_at.unwrap() - trainq_common::time_util::now_epoch_s();
        assert!(
            (89 * 86_400..=90 * 86_400).contains(&ttl),
            "kept 90 days: {ttl}"
        );
        let kept = record.raw_body.unwrap();
        assert!(body.starts_with(&kept) && kept.len() <= 4096);
    }
    assert_eq!(w.alerts_of(AlertKind::RequestRejected), cases.len());
    assert_eq!(w.creates(), 0);
}

#[tokio::test]
async fn a_rejection_whose_alert_fails_comes_back_and_alerts_then() {
    let w = World::default();
    let d = w.dispatcher("120");
    w.alerts
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Transient("bus down".into()));
    let outcome = d.handle_message(&message("m1", "{", 1)).await;
    assert!(outcome.redeliver(), "{outcome:?}");
    let outcome = d.handle_message(&message("m1", "{", 2)).await;
    assert!(matches!(outcome, Outcome::Rejected(_)));
    assert_eq!(w.alerts_of(AlertKind::RequestRejected), 1);
    assert_eq!(w.store.all().len(), 1);
}

#[tokio::test]
async fn a_redelivered_launched_request_is_a_duplicate() {
    let w = World::default();
    let d = w.dispatcher("120");
    let body = sample_request().to_string();
    d.handle_message(&message("m1", &body, 1)).await;
    for count in 2..=3 {
        let outcome = d.handle_message(&message("m1", &body, count)).await;
        assert_eq!(outcome, Outcome::Duplicate(JobState::InProgress));
        assert!(!outcome.redeliver());
    }
    assert_eq!(w.creates(), 1);
}

#[tokio::test]
async fn requests_without_an_id_are_keyed_by_their_message() {
    let w = World::default();
    let d = w.dispatcher("120");
    let mut body = sample_request();
    body.as_object_mut().unwrap().remove("request_id");
    let body = body.to_string();
    d.handle_message(&message("m-abc", &body, 1)).await;
    d.handle_message(&message("m-abc", &body, 2)).await;
    let record = w.store.record(request_id_for_message("m-abc")).unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(w.creates(), 1);
}
