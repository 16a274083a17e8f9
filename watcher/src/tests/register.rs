//! Model registration: the gate, exactly one package, registry separation, failures.

use futures::future::join_all;
use serde_json::json;
use trainq_common::ServiceError;
use trainq_common::alert::AlertKind;
use trainq_common::naming::job_name;
use trainq_common::registration::ApprovalStatus;
use trainq_common::state::JobState;
use trainq_common::tracking::Effect;

use super::{ID, World, event, with_request};
use crate::WatchOutcome;
use trainq_common::testing::sample_manifest;

const ACCURACY: &str = "validation:accuracy";

/// A running request with `gate` (or none), whose job completes with `accuracy`.
fn completing(gate: Option<f64>, accuracy: f64) -> World {
    let w = with_request(JobState::InProgress, |b| match gate {
        Some(min) => b["approval"] = json!({"metric": ACCURACY, "min": min}),
        None => {
            b.as_object_mut().unwrap().remove("approval");
        }
    });
    w.job_completed(1, 30, &[(ACCURACY, accuracy)]);
    w
}

#[tokio::test]
async fn a_model_that_passes_its_gate_is_registered_approved() {
    let w = completing(Some(0.95), 0.97);
    let outcome = w
        .watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert!(matches!(
        outcome,
        WatchOutcome::Applied(Effect::Moved { .. })
    ));
    let r = w.record();
    assert_eq!(r.state, JobState::Registered);
    assert_eq!(r.model_approval.as_deref(), Some("Approved"));
    assert_eq!(r.model_group.as_deref(), Some("prod-acme--scratch-detect"));
    assert!(
        r.model_package_arn
            .unwrap()
            .ends_with("prod-acme--scratch-detect/1")
    );
    assert_eq!(r.lease_until, None, "the registration lease is released");
    let packages = w.models.packages_in("prod-acme--scratch-detect");
    assert_eq!(packages.len(), 1);
    let p = &packages[0];
    assert_eq!(p.metadata["metric:validation:accuracy"], "0.97");
    assert_eq!(p.metadata["trainq:job-name"], job_name(ID, 1));
    assert!(
        p.model_data_url
            .ends_with(&format!("{}/output/model.tar.gz", job_name(ID, 1)))
    );
    assert_eq!(w.alerts.kinds(), [AlertKind::ModelRegistered]);
}

#[tokio::test]
async fn a_model_below_its_requests_gate_is_held_with_an_alert() {
    let w = completing(Some(0.95), 0.91);
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.state, JobState::Registered);
    assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
    assert_eq!(
        r.reason.as_deref(),
        Some("`validation:accuracy` = 0.91 misses the request's gate: it must be ≥ 0.95")
    );
    assert_eq!(w.alerts.kinds(), [AlertKind::ModelHeldByGate]);
    let alert = &w.alerts.sent.lock().unwrap()[0];
    assert!(
        alert.detail.reason.contains("0.91"),
        "{}",
        alert.detail.reason
    );
    assert_eq!(alert.detail.facts["failed_checks"], "request");
    assert_eq!(alert.detail.facts["required"], "≥ 0.95");
    assert_eq!(r.gate_checks.len(), 2, "the policy's and the request's");
}

#[tokio::test]
async fn the_policy_gates_a_request_that_sets_none_or_a_looser_one() {
    for gate in [None, Some(-1e9)] {
        let w = completing(gate, 0.5);
        w.watcher()
            .handle_event(&event("Completed", "Completed", 30))
            .await;
        let r = w.record();
        assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
        assert!(
            r.reason
                .unwrap()
                .contains("the policy's gate: it must be ≥ 0.8")
        );
        assert_eq!(w.alerts.kinds(), [AlertKind::ModelHeldByGate]);
    }
}

#[tokio::test]
async fn without_a_policy_gate_a_person_approves_whatever_the_request_says() {
    let w = completing(Some(0.5), 0.99);
    w.watcher_with(&[("TRAINQ_PRODUCTION_POLICY", "{}")])
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
    assert_eq!(r.reason, None);
    assert_eq!(w.alerts.kinds(), [AlertKind::ModelRegistered]);
}

#[tokio::test]
async fn a_model_worse_than_the_one_in_service_is_held_naming_it() {
    let w = completing(None, 0.90);
    // The group's model in service: approved at 0.97 (the policy's margin is 0.05).
    let arn = w
        .models
        .put_champion("prod-acme--scratch-detect", &[(ACCURACY, 0.97)]);
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
    let why = r.reason.unwrap();
    assert!(
        why.contains(&format!("the model in service ({arn})")),
        "{why}"
    );
    let alert = &w.alerts.sent.lock().unwrap()[0];
    assert_eq!(alert.detail.facts["champion"], arn);
    assert_eq!(alert.detail.facts["failed_checks"], "champion");
    let package = w
        .models
        .packages_in("prod-acme--scratch-detect")
        .pop()
        .unwrap();
    assert_eq!(package.metadata["trainq:champion"], arn);
    assert_eq!(package.approval, ApprovalStatus::PendingManualApproval);
}

#[tokio::test]
async fn the_model_in_service_of_a_version_1_group_is_still_the_champion_but_not_another_projects()
{
    // Version 1 named both (acme, scratch-detect) and (acme-scratch, detect)
    // `prod-acme-scratch-detect`. The other project's model there is no champion of ours…
    let w = completing(None, 0.90);
    let legacy = "prod-acme-scratch-detect";
    let theirs = w.models.put_champion(legacy, &[(ACCURACY, 0.99)]);
    fn owner(w: &super::World, arn: &str, customer: &str, project: &str) {
        let mut packages = w.models.packages.lock().unwrap();
        let (_, spec) = packages.iter_mut().find(|(a, _)| a == arn).unwrap();
        spec.metadata
            .insert("trainq:customer".into(), customer.into());
        spec.metadata
            .insert("trainq:project".into(), project.into());
    }
    owner(&w, &theirs, "acme-scratch", "detect");
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert_eq!(
        w.record().model_approval.as_deref(),
        Some("Approved"),
        "no champion: the 0.99 model is another project's"
    );

    // …and our own model in service there still guards the gate after the rename.
    let w = completing(None, 0.90);
    let ours = w.models.put_champion(legacy, &[(ACCURACY, 0.97)]);
    owner(&w, &ours, "acme", "scratch-detect");
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.model_group.as_deref(), Some("prod-acme--scratch-detect"));
    assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
    assert!(r.reason.unwrap().contains(&ours));
}

#[tokio::test]
async fn a_completion_delivered_three_times_at_once_registers_one_package() {
    let w = completing(Some(0.9), 0.97);
    let d = w.watcher();
    let done = event("Completed", "Completed", 30);
    let outcomes = join_all([&done, &done, &done].map(|e| d.handle_event(e))).await;
    assert!(outcomes.iter().all(|o| !o.redeliver()), "{outcomes:?}");
    for _ in 0..3 {
        d.handle_event(&done).await;
    }
    assert_eq!(w.models.packages.lock().unwrap().len(), 1);
    assert_eq!(w.record().state, JobState::Registered);
    assert_eq!(w.alerts.kinds(), [AlertKind::ModelRegistered]);
}

#[tokio::test]
async fn a_package_left_by_a_crashed_holder_is_found_not_doubled() {
    let w = completing(None, 0.9);
    // The first holder wrote Completed, created the package and died before recording it.
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let mut r = w.record();
    let arn = r.model_package_arn.take().unwrap();
    r.state = JobState::Completed;
    r.lease_until = Some(0);
    w.store.insert(r);

    let outcome = w
        .watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert_eq!(outcome, WatchOutcome::Applied(Effect::Stale));
    assert_eq!(w.models.packages.lock().unwrap().len(), 1);
    let r = w.record();
    assert_eq!(r.state, JobState::Registered);
    assert_eq!(r.model_package_arn, Some(arn));
}

#[tokio::test]
async fn a_duplicate_leaves_a_live_registration_to_its_holder() {
    let w = completing(None, 0.9);
    let mut r = w.record();
    r.state = JobState::Completed;
    r.attempts[0].status = Some("Completed".into());
    r.attempts[0].last_event_ms = Some(30);
    r.lease_until = Some(i64::MAX);
    w.store.insert(r);
    let outcome = w
        .watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert_eq!(outcome, WatchOutcome::Applied(Effect::Stale));
    assert!(w.models.packages.lock().unwrap().is_empty());
    assert_eq!(w.record().state, JobState::Completed);
}

#[tokio::test]
async fn research_models_register_only_into_research_groups() {
    let w = with_request(JobState::InProgress, |b| {
        *b = trainq_common::testing::sample_research_request();
        b["request_id"] = json!(ID.to_string());
    });
    w.job_completed(1, 30, &[(ACCURACY, 0.9)]);
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(
        r.model_group.as_deref(),
        Some("research-acme--scratch-detect")
    );
    let groups: Vec<String> = w.models.groups.lock().unwrap().keys().cloned().collect();
    assert_eq!(groups, ["research-acme--scratch-detect"]);
    let p = &w.models.packages_in("research-acme--scratch-detect")[0];
    assert!(
        p.image_uri.starts_with("222222222222.dkr.ecr."),
        "{}",
        p.image_uri
    );
    assert_eq!(p.metadata["trainq:experiment"], "lr-sweep-7");
}

#[tokio::test]
async fn a_refused_package_ends_registration_rejected_with_an_alert() {
    let w = completing(None, 0.9);
    w.models
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Invalid(
            "ValidationException: ModelDataUrl is not in the same region".into(),
        ));
    let outcome = w
        .watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert!(!outcome.redeliver());
    let r = w.record();
    assert_eq!(r.state, JobState::RegistrationRejected);
    assert!(r.reason.unwrap().contains("same region"));
    assert_eq!(w.alerts.kinds(), [AlertKind::RegistrationFailed]);
}

#[tokio::test]
async fn a_registry_fault_brings_the_event_back_and_the_redelivery_registers() {
    let w = completing(None, 0.9);
    let fault = ServiceError::Throttled("ThrottlingException".into());
    w.models.faults.lock().unwrap().push_back(fault.clone());
    let done = event("Completed", "Completed", 30);
    assert_eq!(
        w.watcher().handle_event(&done).await,
        WatchOutcome::Retry(fault)
    );
    let r = w.record();
    assert_eq!(
        (r.state, r.lease_until),
        (JobState::Completed, None),
        "lease released"
    );

    assert_eq!(
        w.watcher().handle_event(&done).await,
        WatchOutcome::Applied(Effect::Stale)
    );
    assert_eq!(w.record().state, JobState::Registered);
    assert_eq!(w.models.packages.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_incompatible_model_is_never_approved_automatically() {
    let w = with_request(JobState::InProgress, |b| {
        b.as_object_mut().unwrap().remove("approval");
    });
    // The model in service has the sample manifest; the new one a third label.
    let in_service = "s3://prod-models/output/tq-earlier-1/output/model.tar.gz";
    let champion =
        w.models
            .put_champion_with("prod-acme--scratch-detect", &[(ACCURACY, 0.9)], in_service);
    w.models.manifests.lock().unwrap().insert(
        in_service.into(),
        sample_manifest().to_string().into_bytes(),
    );
    let mut three = sample_manifest();
    three["labels"] = json!(["ok", "scratch", "dent"]);
    three["outputs"][0]["shape"] = json!([3]);
    w.job_completed_with(1, 30, &[(ACCURACY, 0.99)], Some(three));
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
    let why = r.reason.clone().unwrap();
    assert!(
        why.starts_with(&format!(
            "incompatible with the model in service ({champion})"
        )),
        "{why}"
    );
    assert!(
        why.contains("labels was `ok, scratch`, is `ok, scratch, dent`"),
        "{why}"
    );
    assert_eq!(w.alerts.kinds(), [AlertKind::ModelIncompatible]);
    let alert = &w.alerts.sent.lock().unwrap()[0];
    assert_eq!(alert.detail.facts["incompatible_fields"], "outputs,labels");
    assert!(r.manifest_digest.unwrap().starts_with("sha256:"));
    let package = w
        .models
        .packages_in("prod-acme--scratch-detect")
        .pop()
        .unwrap();
    assert_eq!(
        package.metadata["trainq:compatibility"],
        "incompatible: outputs + labels"
    );
    assert_eq!(
        package.metadata["trainq:manifest-digest"],
        w.record().manifest_digest.unwrap()
    );
}

#[tokio::test]
async fn a_model_without_a_manifest_is_held_unless_the_policy_allows_it() {
    let w = with_request(JobState::InProgress, |_| {});
    w.job_completed_with(1, 30, &[(ACCURACY, 0.99)], None);
    w.watcher()
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    let r = w.record();
    assert_eq!(r.model_approval.as_deref(), Some("PendingManualApproval"));
    assert!(
        r.reason
            .unwrap()
            .starts_with("no usable model manifest (no manifest.json in s3://")
    );
    assert_eq!(w.alerts.kinds(), [AlertKind::ModelHeldByGate]);

    let w = with_request(JobState::InProgress, |_| {});
    w.job_completed_with(1, 30, &[(ACCURACY, 0.99)], None);
    let optional =
        r#"{"gate": {"metric": "validation:accuracy", "min": 0.8}, "manifest": "optional"}"#;
    w.watcher_with(&[("TRAINQ_PRODUCTION_POLICY", optional)])
        .handle_event(&event("Completed", "Completed", 30))
        .await;
    assert_eq!(w.record().model_approval.as_deref(), Some("Approved"));
}
