//! Trust on the shared queue, over the wire: the sender SQS reports (`SenderId`, set by the
//! front door from the signing key as AWS sets it from the caller) decides which registry a
//! request may reach; a customer's data must lie under its prefix; a rejected message never
//! squats a request id, and a different request under a used id is refused.

use serde_json::json;
use trainq_common::alert::AlertKind;
use trainq_common::state::JobState;
use trainq_common::testing::{
    ONCALL_SENDER, PRODUCTION_SENDER, RESEARCH_SENDER, request_id_of, sample_request,
    sample_research_request,
};
use trainq_integration_tests::world::World;
use uuid::Uuid;

async fn send_as(w: &World, key: &str, body: &serde_json::Value) -> String {
    w.sqs_as(key)
        .await
        .send_message()
        .queue_url(&w.names.queue_url)
        .message_body(body.to_string())
        .send()
        .await
        .expect("SendMessage")
        .message_id
        .unwrap_or_default()
}

fn with_id(mut body: serde_json::Value) -> serde_json::Value {
    body["request_id"] = json!(Uuid::new_v4().to_string());
    body
}

#[tokio::test]
async fn only_allowed_senders_reach_a_registry() {
    let w = World::new().await;
    let claims_production = with_id(sample_request());
    let from_backend = with_id(sample_request());
    let from_stranger = with_id(sample_request());
    let research = with_id(sample_research_request());
    send_as(&w, "research", &claims_production).await;
    send_as(&w, "backend", &from_backend).await;
    send_as(&w, "stranger", &from_stranger).await;
    send_as(&w, "research", &research).await;
    w.drain(&w.dispatcher()).await;

    let record = |b: &serde_json::Value| w.record(request_id_of(b));
    let refused = record(&claims_production).await.unwrap();
    assert_eq!(refused.state, JobState::Rejected);
    assert_eq!(refused.sender.as_deref(), Some(RESEARCH_SENDER));
    assert_eq!(
        refused.reason.as_deref(),
        Some(
            "`(sender)`: `AROARESEARCHERS:alice` may not send requests to the production registry"
        )
    );
    let stranger = record(&from_stranger).await.unwrap();
    assert_eq!(stranger.state, JobState::Rejected);
    assert_eq!(
        stranger.sender.as_deref(),
        Some("stranger"),
        "an unknown key's own id"
    );
    for (body, sender) in [
        (&from_backend, PRODUCTION_SENDER),
        (&research, RESEARCH_SENDER),
    ] {
        let launched = record(body).await.unwrap();
        assert_eq!(
            launched.state,
            JobState::InProgress,
            "{:?}",
            launched.reason
        );
        assert_eq!(launched.sender.as_deref(), Some(sender));
    }
    let jobs = w.training_jobs().await;
    assert_eq!(
        jobs.len(),
        2,
        "only the allowed senders' requests launched: {jobs:?}"
    );
    let rejected: Vec<String> = w
        .wait_for_alerts(AlertKind::RequestRejected.detail_type(), 2)
        .await
        .iter()
        .map(|a| {
            a["detail"]["facts"]["sender"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        rejected.contains(&RESEARCH_SENDER.to_owned()),
        "{rejected:?}"
    );
    assert!(rejected.contains(&"stranger".to_owned()), "{rejected:?}");
}

#[tokio::test]
async fn a_squatted_id_goes_to_the_valid_request_and_a_conflict_is_refused() {
    let w = World::new().await;
    let valid = with_id(sample_request());
    let id = request_id_of(&valid);
    // The README's trap: the first try names another customer's data and is rejected...
    let mut wrong_data = valid.clone();
    wrong_data["dataset"]["channels"]["train"] = json!("s3://prod-data/globex/train/");
    send_as(&w, "testing", &wrong_data).await;
    w.drain(&w.dispatcher()).await;
    let rejected = w.record(id).await.unwrap();
    assert_eq!(rejected.state, JobState::Rejected);
    assert!(
        rejected
            .reason
            .as_deref()
            .unwrap()
            .contains("outside customer `acme`'s data"),
        "{:?}",
        rejected.reason
    );
    // ...and the corrected request with the same id launches.
    let message_id = send_as(&w, "backend", &valid).await;
    w.drain(&w.dispatcher()).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress, "{:?}", record.reason);
    assert_eq!(record.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(
        record.refusals.len(),
        1,
        "the rejection stays in its history"
    );
    assert_eq!(record.refusals[0].sender.as_deref(), Some(ONCALL_SENDER));

    // The same id with other content is refused, showing both digests.
    let mut other = valid.clone();
    other["hyperparameters"]["epochs"] = json!("99");
    send_as(&w, "backend", &other).await;
    w.drain(&w.dispatcher()).await;
    let after = w.record(id).await.unwrap();
    assert_eq!(after.state, JobState::InProgress);
    assert_eq!(after.request, record.request);
    assert_eq!(after.refusals.len(), 2);
    let conflict = w
        .wait_for_alerts(AlertKind::ConflictingRequest.detail_type(), 1)
        .await;
    let facts = &conflict[0]["detail"]["facts"];
    assert_eq!(
        facts["existing_digest"],
        json!(record.request_digest.unwrap())
    );
    assert_eq!(
        facts["refused_digest"],
        json!(after.refusals[1].digest.clone().unwrap())
    );
    assert_eq!(
        w.training_jobs().await.len(),
        1,
        "one job for the id, whatever came after"
    );
}
