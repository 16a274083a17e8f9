use uuid::Uuid;

use super::*;
use crate::approval::Champion;
use crate::record::Attempt;
use crate::request::parse;
use crate::state::JobState;
use crate::testing::{sample_registries, sample_request, sample_research_request};

fn completed_record(body: serde_json::Value, metrics: &[(&str, f64)]) -> JobRecord {
    let request = parse(&body.to_string()).unwrap();
    let id = Uuid::from_u128(42);
    let mut r = JobRecord::new(id, JobState::Completed).with_request(request);
    let mut lost = Attempt::planned(id, 1, "ml.g5.xlarge", true);
    lost.status = Some("Stopped".into());
    let mut a = Attempt::planned(id, 2, "ml.g4dn.xlarge", true);
    a.status = Some("Completed".into());
    a.ended_at = Some("2026-11-24T10:00:00Z".into());
    a.model_artifact = Some("s3://prod-models/output/m.tar.gz".into());
    a.final_metrics = metrics.iter().map(|(k, v)| ((*k).into(), *v)).collect();
    r.attempts = vec![lost, a];
    r
}

fn gate(min: f64) -> serde_json::Value {
    let mut body = sample_request();
    body["approval"] = serde_json::json!({"metric": "validation:accuracy", "min": min});
    body
}

#[test]
fn the_registrys_policy_gates_and_the_champion_is_named_on_the_package() {
    let registries = sample_registries();
    // The production policy: accuracy ≥ 0.8, within 0.05 of the model in service.
    let mut ungated = sample_request();
    ungated.as_object_mut().unwrap().remove("approval");
    let r = completed_record(ungated, &[("validation:accuracy", 0.85)]);
    let (_, d) = package_spec(&r, &registries.production, &Evidence::default()).unwrap();
    assert_eq!(
        d.status,
        ApprovalStatus::Approved,
        "no gate in the request: the policy's"
    );
    let r = completed_record(gate(-1e9), &[("validation:accuracy", 0.7)]);
    let (spec, _) = package_spec(&r, &registries.production, &Evidence::default()).unwrap();
    assert_eq!(
        spec.approval,
        ApprovalStatus::PendingManualApproval,
        "a request cannot loosen"
    );
    assert!(
        spec.metadata["trainq:held-by-gate"].contains("policy"),
        "{:?}",
        spec.metadata
    );
    let champion = Champion {
        package_arn:
            "arn:aws:sagemaker:eu-west-1:111111111111:model-package/prod-acme--scratch-detect/3"
                .into(),
        metrics: BTreeMap::from([("validation:accuracy".to_owned(), 0.97)]),
        model_data_url: None,
    };
    let r = completed_record(gate(0.85), &[("validation:accuracy", 0.9)]);
    let (spec, d) = package_spec(
        &r,
        &registries.production,
        &Evidence {
            champion: Some(champion.clone()),
            ..Evidence::default()
        },
    )
    .unwrap();
    assert_eq!(
        d.status,
        ApprovalStatus::PendingManualApproval,
        "0.9 < 0.97 − 0.05"
    );
    assert_eq!(spec.metadata["trainq:champion"], champion.package_arn);
    assert_eq!(d.checks.len(), 3, "policy, request, champion");
    assert!(
        spec.description.contains("the model in service"),
        "{}",
        spec.description
    );
}

#[test]
fn the_spec_names_the_group_job_image_and_metadata() {
    let r = completed_record(gate(0.95), &[("validation:accuracy", 0.97)]);
    let registries = sample_registries();
    let (spec, decision) = package_spec(&r, &registries.production, &Evidence::default()).unwrap();
    assert_eq!(spec.group, "prod-acme--scratch-detect");
    assert_eq!(spec.job_name, crate::naming::job_name(r.request_id, 2));
    assert!(describes_job(&spec.description, &spec.job_name));
    assert!(!describes_job(
        &spec.description,
        &crate::naming::job_name(r.request_id, 1)
    ));
    assert_eq!(
        spec.image_uri,
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1.4.2"
    );
    assert_eq!(spec.model_data_url, "s3://prod-models/output/m.tar.gz");
    assert_eq!(decision.status, ApprovalStatus::Approved);
    assert_eq!(spec.approval, ApprovalStatus::Approved);
    let m = &spec.metadata;
    assert_eq!(m["trainq:request-id"], r.request_id.to_string());
    assert_eq!(m["trainq:dataset-version"], "2026-11-20-a");
    assert_eq!(m["metric:validation:accuracy"], "0.97");
    assert_eq!(m["trainq:attempt"], "2");
    assert_eq!(spec.not_before_ms, 1_795_514_400_000 - 600_000);
}

#[test]
fn research_models_go_to_research_groups_only() {
    let r = completed_record(sample_research_request(), &[]);
    let registries = sample_registries();
    let (spec, _) = package_spec(&r, &registries.research, &Evidence::default()).unwrap();
    assert!(spec.group.starts_with("research-"), "{}", spec.group);
    assert_eq!(spec.metadata["trainq:experiment"], "lr-sweep-7");
    assert!(spec.image_uri.starts_with("222222222222."));
    assert_eq!(
        package_spec(&r, &registries.production, &Evidence::default()).unwrap_err(),
        RegistrationError::WrongRegistry {
            request: "research",
            given: "production"
        }
    );
}

#[test]
fn metadata_keeps_to_sagemakers_limits() {
    let many: Vec<(String, f64)> = (0..80).map(|i| (format!("m{i}#x"), 1.0)).collect();
    let many: Vec<(&str, f64)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut body = sample_request();
    body["dataset"]["version"] = serde_json::json!("v".repeat(128));
    let r = completed_record(body, &many);
    let (spec, _) =
        package_spec(&r, &sample_registries().production, &Evidence::default()).unwrap();
    assert_eq!(spec.metadata.len(), 50);
    assert!(
        spec.metadata
            .keys()
            .all(|k| !k.contains('#') && k.len() <= 128)
    );
    assert!(spec.metadata.values().all(|v| v.chars().count() <= 256));
}

#[test]
fn a_record_without_what_registration_needs_says_why() {
    let mut r = completed_record(sample_request(), &[]);
    r.attempts[1].model_artifact = None;
    let reg = sample_registries();
    assert!(matches!(
        package_spec(&r, &reg.production, &Evidence::default()),
        Err(RegistrationError::NoArtifact(_))
    ));
    r.attempts[1].status = Some("Failed".into());
    assert_eq!(
        package_spec(&r, &reg.production, &Evidence::default()).unwrap_err(),
        RegistrationError::NoCompletedAttempt
    );
    r.request = None;
    assert_eq!(
        package_spec(&r, &reg.production, &Evidence::default()).unwrap_err(),
        RegistrationError::NoRequest
    );
}

#[test]
fn what_aws_restricts_is_shaped_to_its_rules_and_free_text_goes_to_the_description() {
    let mut body = gate(0.95);
    body["experiment"] = serde_json::json!({"id": "lr-sweep-7", "trial": "lr=0.001,bs=32"});
    let r = completed_record(body, &[("validation:accuracy", 0.9)]);
    let (spec, decision) =
        package_spec(&r, &sample_registries().production, &Evidence::default()).unwrap();
    let why = decision.held.expect("held below the minimum");
    assert!(why.contains('`'), "the alert keeps its words: {why}");
    let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
    for (k, v) in &spec.metadata {
        assert!(k.chars().chain(v.chars()).all(allowed), "{k} = {v}");
        assert!(!v.is_empty() && v.encode_utf16().count() <= 256, "{k}");
    }
    assert_eq!(spec.metadata["trainq:trial"], "lr=0.001 bs=32");
    assert!(spec.description.ends_with(&why), "{}", spec.description);
    assert!(describes_job(&spec.description, &spec.job_name));
    assert_eq!(spec.client_token.len(), 36);
    assert!(
        spec.client_token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    );
    let again = package_spec(&r, &sample_registries().production, &Evidence::default())
        .unwrap()
        .0;
    assert_eq!(
        again.client_token, spec.client_token,
        "a retried registration sends the same token"
    );
}
