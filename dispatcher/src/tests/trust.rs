//! Trust on the shared queue: the sender decides what a request may reach, and a request id
//! cannot be squatted by a rejected or conflicting message.

use super::*;
use trainq_common::testing::{PRODUCTION_SENDER, RESEARCH_SENDER};

fn rejected_for(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Rejected(reason) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn the_sender_not_the_body_decides_which_registry_a_request_reaches() {
    let w = World::default();
    let d = w.dispatcher("120");
    let claims_production = body(1, |_| {});
    let outcome = d
        .handle_message(&message_from(
            RESEARCH_SENDER,
            "m1",
            &claims_production.to_string(),
            1,
        ))
        .await;
    let reason = rejected_for(&outcome);
    assert_eq!(
        reason,
        "`(sender)`: `AROARESEARCHERS:alice` may not send requests to the production registry"
    );
    let record = w.store.record(request_id(&claims_production)).unwrap();
    assert_eq!(record.state, JobState::Rejected);
    assert_eq!(record.sender.as_deref(), Some(RESEARCH_SENDER));
    assert_eq!(w.alerts_of(AlertKind::RequestRejected), 1);
    let alert = w.alerts.sent.lock().unwrap()[0].clone();
    assert_eq!(alert.detail.facts["sender"], RESEARCH_SENDER);

    for (n, sender) in [(2, "AIDASTRANGER"), (3, "")] {
        let b = body(n, |_| {});
        let outcome = d
            .handle_message(&message_from(sender, "m", &b.to_string(), 1))
            .await;
        assert!(
            rejected_for(&outcome).starts_with("`(sender)`"),
            "{outcome:?}"
        );
    }
    assert_eq!(
        w.creates(),
        0,
        "no job for a sender the registry does not allow"
    );

    let research = sample_research_request().to_string();
    let outcome = d
        .handle_message(&message_from(RESEARCH_SENDER, "m4", &research, 1))
        .await;
    assert!(matches!(outcome, Outcome::Launched { .. }), "{outcome:?}");
    let outcome = d
        .handle_message(&message_from(
            PRODUCTION_SENDER,
            "m5",
            &body(5, |_| {}).to_string(),
            1,
        ))
        .await;
    assert!(matches!(outcome, Outcome::Launched { .. }), "{outcome:?}");
    assert_eq!(w.creates(), 2);
}

#[tokio::test]
async fn a_rejected_record_never_blocks_the_valid_request_with_its_id() {
    let w = World::default();
    let d = w.dispatcher("120");
    let valid = body(7, |_| {});
    let id = request_id(&valid);
    // A squatter (and then a malformed first try) claim the id first.
    d.handle_message(&message_from(
        RESEARCH_SENDER,
        "squat",
        &valid.to_string(),
        1,
    ))
    .await;
    let mut malformed = valid.clone();
    malformed["dataset"]["channels"]["train"] = json!("s3://prod-data/globex/train/");
    let outcome = d
        .handle_message(&message("typo", &malformed.to_string(), 1))
        .await;
    rejected_for(&outcome);
    let record = w.store.record(id).unwrap();
    assert_eq!(record.state, JobState::Rejected);
    assert_eq!(
        record.message_id.as_deref(),
        Some("typo"),
        "the newest rejection shows"
    );
    assert_eq!(record.refusals.len(), 1);

    let outcome = d
        .handle_message(&message_from(
            PRODUCTION_SENDER,
            "real",
            &valid.to_string(),
            1,
        ))
        .await;
    assert!(matches!(outcome, Outcome::Launched { .. }), "{outcome:?}");
    let record = w.store.record(id).unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.message_id.as_deref(), Some("real"));
    assert_eq!(
        record.expires_at, None,
        "a taken-over record is not deleted with the rejection"
    );
    let history: Vec<_> = record
        .refusals
        .iter()
        .map(|r| r.message_id.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(
        history,
        ["squat", "typo"],
        "the rejections stay in its history"
    );
    assert!(record.refusals[0].reason.contains("may not send"));
    assert_eq!(w.creates(), 1);
}

#[tokio::test]
async fn the_same_id_with_other_content_is_refused_showing_both_digests() {
    let w = World::default();
    let d = w.dispatcher("120");
    let first = body(9, |_| {});
    let id = request_id(&first);
    d.handle_message(&message("m1", &first.to_string(), 1))
        .await;
    let before = w.store.record(id).unwrap();

    let other = body(9, |b| b["hyperparameters"]["epochs"] = json!("99"));
    let outcome = d
        .handle_message(&message("m2", &other.to_string(), 1))
        .await;
    let reason = rejected_for(&outcome).to_owned();
    assert!(
        reason.contains("already belongs to a different request"),
        "{reason}"
    );
    let alert = w
        .alerts
        .sent
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.kind == AlertKind::ConflictingRequest)
        .cloned()
        .expect("a Conflicting Request alert");
    let facts = &alert.detail.facts;
    assert_eq!(
        facts["existing_digest"],
        before.request_digest.clone().unwrap()
    );
    assert!(facts["refused_digest"].starts_with("sha256:"));
    assert_ne!(facts["existing_digest"], facts["refused_digest"]);
    assert!(
        reason.contains(&facts["existing_digest"]) && reason.contains(&facts["refused_digest"])
    );

    // A redelivery of the conflicting message is noted once; the request goes on unchanged.
    d.handle_message(&message("m2", &other.to_string(), 2))
        .await;
    let after = w.store.record(id).unwrap();
    assert_eq!(after.state, before.state);
    assert_eq!(after.request, before.request);
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(after.refusals.len(), 1);
    assert_eq!(after.refusals[0].message_id.as_deref(), Some("m2"));

    // A malformed message under the id is noted too, and the valid record is kept.
    let outcome = d
        .handle_message(&message("m3", &format!("{{\"request_id\": \"{id}\"}}"), 1))
        .await;
    rejected_for(&outcome);
    let after = w.store.record(id).unwrap();
    assert_eq!(after.state, before.state);
    assert_eq!(after.refusals.len(), 2);
    // The true duplicate is no conflict.
    let outcome = d
        .handle_message(&message("m1", &first.to_string(), 2))
        .await;
    assert_eq!(outcome, Outcome::Duplicate(JobState::InProgress));
    assert_eq!(w.creates(), 1);
}
