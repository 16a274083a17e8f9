use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::json;

use super::*;

/// The services trainq calls, whose every pattern must translate.
const TRAINQ_SERVICES: &[&str] = &[
    "sagemaker",
    "dynamodb",
    "sqs",
    "events",
    "service-quotas",
    "cloudformation",
];

fn contract() -> Contract {
    Contract::new(shared_models().expect("botocore data from `make venv`"))
}

fn target(t: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-amz-target", t.parse().unwrap());
    h
}

fn refusal(verdict: Verdict) -> Refusal {
    match verdict {
        Verdict::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn package(token: &str, metadata: Value) -> Value {
    json!({
        "ModelPackageGroupName": "tq-prod-acme-scratch",
        "ModelPackageDescription": "tq-0123-1: held because `accuracy` ≥ 0.95 wasn't met; see it's record",
        "ClientToken": token,
        "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": metadata,
        "InferenceSpecification": {
            "Containers": [{"Image": "1.dkr.ecr.eu-west-1.amazonaws.com/r:1", "ModelDataUrl": "s3://b/m.tar.gz"}],
            "SupportedContentTypes": ["image/png"], "SupportedResponseMIMETypes": ["application/json"]
        }
    })
}

#[test]
fn every_service_trainq_calls_has_a_model_whose_patterns_all_translate() {
    let models = shared_models().unwrap();
    let mut failures = Vec::new();
    for name in TRAINQ_SERVICES {
        let model = models
            .by_name(name)
            .unwrap()
            .unwrap_or_else(|| panic!("no model for {name}"));
        assert!(model.operations().count() > 5, "{name}");
        for (shape, s) in model.shapes() {
            if let Some(Err(e)) = s.pattern.as_deref().map(pattern::compile) {
                failures.push(format!("{name}.{shape}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_client_token_over_36_characters_is_refused_as_aws_refuses_it() {
    let c = contract();
    let body = package(
        "tq-0123456789abcdef0123456789abcdef-1",
        json!({"trainq:attempt": "1"}),
    );
    let r = refusal(c.check(
        &target("SageMaker.CreateModelPackage"),
        body.to_string().as_bytes(),
    ));
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code, "ValidationException");
    assert_eq!(
        r.message,
        "1 validation error detected: Value 'tq-0123456789abcdef0123456789abcdef-1' at 'clientToken' \
         failed to satisfy constraint: Member must have length less than or equal to 36"
    );
    let stats = c.stats();
    assert_eq!((stats.checked, stats.refused), (1, 1));
    assert_eq!(
        stats.refused_by_operation["sagemaker:CreateModelPackage"],
        1
    );
}

#[test]
fn metadata_values_outside_the_pattern_are_refused_and_free_text_fits_the_description() {
    let c = contract();
    let ok = package(
        "0123456789abcdef0123456789abcdef-1",
        json!({"trainq:trial": "lr=0.001 bs:32"}),
    );
    assert!(matches!(
        c.check(
            &target("SageMaker.CreateModelPackage"),
            ok.to_string().as_bytes()
        ),
        Verdict::Passed
    ));
    let bad = package(
        "0123456789abcdef0123456789abcdef-1",
        json!({"trainq:trial": "lr=0.001,bs=32"}),
    );
    let r = refusal(c.check(
        &target("SageMaker.CreateModelPackage"),
        bad.to_string().as_bytes(),
    ));
    assert!(
        r.message.contains("at 'customerMetadataProperties'"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains(
            "Map value must satisfy constraint: [Member must satisfy regular expression pattern"
        ),
        "{}",
        r.message
    );
}

#[test]
fn nested_members_lists_and_enums_are_checked_with_aws_paths() {
    let c = contract();
    let body = json!({
        "TrainingJobName": "tq-1",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "Streaming"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 0},
        "Tags": [{"Key": "k", "Value": "a,b"}]
    });
    let r = refusal(c.check(
        &target("SageMaker.CreateTrainingJob"),
        body.to_string().as_bytes(),
    ));
    assert!(
        r.message.starts_with("3 validation errors detected: "),
        "{}",
        r.message
    );
    for needle in [
        "at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy enum value set: [",
        "Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern",
    ] {
        assert!(r.message.contains(needle), "{needle}\n{}", r.message);
    }
}

#[test]
fn missing_required_members_and_wrong_types_are_refused() {
    let c = contract();
    let r = refusal(c.check(
        &target("DynamoDB_20120810.GetItem"),
        br#"{"Key": {"pk": {"S": "a"}}}"#,
    ));
    assert_eq!(
        r.message,
        "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
    );
    let r = refusal(c.check(
        &target("AmazonSQS.ReceiveMessage"),
        br#"{"QueueUrl": "q", "MaxNumberOfMessages": "ten"}"#,
    ));
    assert_eq!(r.code, "SerializationException");
}

#[test]
fn documented_limits_apply_after_the_model() {
    let c = contract();
    let body = json!({"Entries": [{"Source": "trainq", "DetailType": "x", "Detail": "x".repeat(300_000)}]});
    let r = refusal(c.check(&target("AWSEvents.PutEvents"), body.to_string().as_bytes()));
    assert_eq!(
        r.message,
        "Total size of the entries in the request is over the limit."
    );
    let sqs = json!({"QueueUrl": "q", "MessageBody": "x".repeat(300_000)});
    let r = refusal(c.check(&target("AmazonSQS.SendMessage"), sqs.to_string().as_bytes()));
    assert_eq!(r.code, "InvalidParameterValue");
    let response = r.into_response();
    assert_eq!(
        response.headers()["x-amzn-query-error"],
        "InvalidParameterValue;Sender"
    );
}

#[test]
fn an_unknown_service_or_operation_is_refused_not_forwarded() {
    let c = contract();
    let r = refusal(c.check(&target("NoSuchService_20990101.Do"), b"{}"));
    assert_eq!(r.code, "UnknownOperationException");
    let r = refusal(c.check(&target("SageMaker.LaunchRocket"), b"{}"));
    assert_eq!(r.code, "UnknownOperationException");
}

#[test]
fn a_missing_model_directory_is_an_error_not_a_skipped_check() {
    let dir = std::env::temp_dir().join(format!("trainq-no-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = Models::open(&dir).unwrap_err();
    assert!(e.to_string().contains("make venv"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

fn signed_for(service: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20261201/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    h.insert(axum::http::header::AUTHORIZATION, auth.parse().unwrap());
    h.insert(
        axum::http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    h
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

#[test]
fn query_protocol_calls_are_decoded_into_their_shape_and_answered_in_xml() {
    let c = contract();
    let template = "Parameters:\n  Timeout:\n    Type: Number\n    AllowedValues: [30, 60]\n    ConstraintDescription: must be 30 or 60\nResources: {}\n";
    let ok = form(&[
        ("Action", "CreateStack"),
        ("Version", "2010-05-15"),
        ("StackName", "trainq-test"),
        ("TemplateBody", template),
        ("Parameters.member.1.ParameterKey", "Timeout"),
        ("Parameters.member.1.ParameterValue", "60"),
        ("Capabilities.member.1", "CAPABILITY_NAMED_IAM"),
    ]);
    assert!(matches!(
        c.check(&signed_for("cloudformation"), &ok),
        Verdict::Passed
    ));

    let bad_name = form(&[
        ("Action", "CreateChangeSet"),
        ("Version", "2010-05-15"),
        ("StackName", "trainq-test"),
        ("ChangeSetName", "1-starts-with-a-digit"),
        ("TemplateBody", template),
        ("Capabilities.member.1", "CAPABILITY_EVERYTHING"),
    ]);
    let r = refusal(c.check(&signed_for("cloudformation"), &bad_name));
    assert_eq!(r.code, "ValidationError");
    assert!(
        r.message.starts_with("2 validation errors detected: "),
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("Value '1-starts-with-a-digit' at 'changeSetName'"),
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("Value '[CAPABILITY_EVERYTHING]' at 'capabilities'"),
        "{}",
        r.message
    );
    let response = r.into_response();
    assert_eq!(response.headers()["content-type"], "text/xml");

    let bad_value = form(&[
        ("Action", "CreateChangeSet"),
        ("Version", "2010-05-15"),
        ("StackName", "trainq-test"),
        ("ChangeSetName", "cs-1"),
        ("TemplateBody", template),
        ("Parameters.member.1.ParameterKey", "Timeout"),
        ("Parameters.member.1.ParameterValue", "45"),
    ]);
    let r = refusal(c.check(&signed_for("cloudformation"), &bad_value));
    assert_eq!(
        r.message,
        "Parameter 'Timeout' failed to satisfy constraint: must be 30 or 60"
    );
}

#[test]
fn rest_calls_are_forwarded_and_counted_as_unchecked() {
    let c = contract();
    assert!(matches!(
        c.check(&signed_for("s3"), b""),
        Verdict::Unchecked
    ));
    assert_eq!(c.stats().unchecked["s3 (rest-xml)"], 1);
}
