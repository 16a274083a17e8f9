use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::request::parse;
use crate::testing::{sample_registries, sample_request, sample_research_request, set_path};

fn check(body: &Value) -> Result<ValidRequest, RequestError> {
    let request = parse(&body.to_string())?;
    validate(request, &sample_registries(), Uuid::nil())
}

fn refused(path: &str, value: Value) -> RequestError {
    let mut body = sample_request();
    set_path(&mut body, path, value);
    check(&body).expect_err("should be refused")
}

#[test]
fn the_samples_are_valid() {
    let ok = check(&sample_request()).unwrap();
    assert_eq!(
        ok.request_id.to_string(),
        "5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10"
    );
    assert!(check(&sample_research_request()).is_ok());
}

#[test]
fn a_missing_request_id_takes_the_fallback() {
    let mut body = sample_request();
    body.as_object_mut().unwrap().remove("request_id");
    let fallback = Uuid::from_u128(42);
    let ok = validate(
        parse(&body.to_string()).unwrap(),
        &sample_registries(),
        fallback,
    )
    .unwrap();
    assert_eq!(ok.request_id, fallback);
}

#[test]
fn each_rule_names_its_field() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("customer", json!("ACME"), "customer", "a-z"),
        ("project", json!(""), "project", "1-32"),
        (
            "image",
            json!("defect-classifier"),
            "image",
            "repository:tag",
        ),
        (
            "image",
            json!("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1"),
            "image",
            "not a full image URI",
        ),
        (
            "image",
            json!("other-repo:1"),
            "image",
            "not in the production registry's allow-list",
        ),
        (
            "image",
            json!("exp-net:1"),
            "image",
            "belongs to the research registry",
        ),
        (
            "image",
            json!("defect-classifier:bad tag"),
            "image",
            "invalid tag",
        ),
        ("dataset.version", json!("a b"), "dataset.version", "A-Z"),
        ("dataset.channels", json!({}), "dataset.channels", "1 to 20"),
        (
            "dataset.channels.train",
            json!("https://x/y"),
            "dataset.channels.train",
            "s3://",
        ),
        (
            "dataset.channels.train",
            json!("s3://elsewhere/x"),
            "dataset.channels.train",
            "not allowed",
        ),
        (
            "dataset.channels.train",
            json!("s3://research-data/x"),
            "dataset.channels.train",
            "belongs to the research registry",
        ),
        (
            "resources.instance_type",
            json!("ml.toaster.large"),
            "resources.instance_type",
            "not a known",
        ),
        (
            "resources.instance_count",
            json!(0),
            "resources.instance_count",
            "between 1 and 20",
        ),
        (
            "resources.volume_gb",
            json!(20000),
            "resources.volume_gb",
            "between 1 and 16384",
        ),
        (
            "resources.max_runtime_s",
            json!(10),
            "resources.max_runtime_s",
            "between 60",
        ),
        (
            "resources.max_wait_s",
            json!(100),
            "resources.max_wait_s",
            "between 18000",
        ),
        (
            "resources.max_wait_s",
            json!(14_400 + 3_599),
            "resources.max_wait_s",
            "between 18000",
        ),
        (
            "resources.max_runtime_s",
            json!(28 * 24 * 3600),
            "resources.max_runtime_s",
            "between 60 and 2415600",
        ),
        (
            "dataset.channels.train",
            json!(format!("s3://prod-data/acme/{}/", "p".repeat(1010))),
            "dataset.channels.train",
            "at most 1024",
        ),
        (
            "dataset.channels.train",
            json!("s3://prod-data/acme/line\nbreak/"),
            "dataset.channels.train",
            "control characters",
        ),
        (
            "hyperparameters.lr",
            json!("0.001\u{2028}"),
            "hyperparameters.lr",
            "one line",
        ),
        (
            "resources.fallback_instance_types",
            json!(["ml.g5.xlarge"]),
            "resources.fallback_instance_types[0]",
            "listed twice",
        ),
        (
            "resources.fallback_instance_types",
            json!(["ml.nope"]),
            "resources.fallback_instance_types[0]",
            "not a known",
        ),
        ("reason", json!("experiment"), "experiment", "required"),
        (
            "experiment",
            json!({"id": "has space"}),
            "experiment.id",
            "A-Z",
        ),
        (
            "approval.metric",
            json!("f1"),
            "approval.metric",
            "not a metric of image",
        ),
        (
            "retry",
            json!({"max_attempts": 0}),
            "retry.max_attempts",
            "between 1 and 10",
        ),
        ("registry", json!("staging"), "registry", "unknown variant"),
        (
            "hyperparameters.epochs",
            json!(20),
            "hyperparameters.epochs",
            "expected a string",
        ),
    ];
    for (path, value, field, rule) in cases {
        let e = refused(path, value.clone());
        assert_eq!(e.field, field, "{path}={value}: {e}");
        assert!(
            e.rule.contains(rule),
            "{path}={value}: `{e}` lacks `{rule}`"
        );
    }
}

#[test]
fn on_demand_requests_may_not_set_max_wait() {
    let mut body = sample_request();
    set_path(&mut body, "resources.spot", json!(false));
    set_path(&mut body, "resources.max_wait_s", json!(20000));
    assert_eq!(check(&body).unwrap_err().field, "resources.max_wait_s");
}

#[test]
fn hyperparameter_limits_are_sagemakers() {
    let too_many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert!(
        refused("hyperparameters", Value::Object(too_many))
            .rule
            .contains("at most 100")
    );
    let long_value = refused("hyperparameters", json!({"lr": "1".repeat(2501)}));
    assert_eq!(long_value.field, "hyperparameters.lr");
    let long_key = refused("hyperparameters", json!({"k".repeat(257): "1"}));
    assert!(long_key.rule.contains("1-256"), "{long_key}");
    // SageMaker's limits, within what a record keeps (`MAX_REQUEST_BYTES`).
    let at_limit: serde_json::Map<String, Value> = (0..100)
        .map(|i| {
            (
                format!("k{i}"),
                json!("v".repeat(if i < 40 { 2500 } else { 400 })),
            )
        })
        .collect();
    let mut body = sample_request();
    body["hyperparameters"] = Value::Object(at_limit);
    assert!(check(&body).is_ok());
}

#[test]
fn a_request_larger_than_a_record_keeps_is_refused_for_the_body() {
    let big: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("k{i}"), json!("v".repeat(2500))))
        .collect();
    let mut body = sample_request();
    body["hyperparameters"] = Value::Object(big);
    let e = check(&body).unwrap_err();
    assert_eq!(e.field, "(body)");
    assert!(e.rule.contains("at most 131072"), "{e}");
}

#[test]
fn research_requests_cannot_name_production_resources() {
    let mut body = sample_research_request();
    body["dataset"]["channels"]["train"] = json!("s3://prod-data/acme/train/");
    let e = check(&body).unwrap_err();
    assert!(e.rule.contains("belongs to the production registry"), "{e}");

    let mut body = sample_research_request();
    body["image"] = json!("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1");
    assert_eq!(check(&body).unwrap_err().field, "image");
}

#[test]
fn digests_are_accepted_in_place_of_tags() {
    let mut body = sample_request();
    body["image"] = json!(format!("defect-classifier@sha256:{}", "a".repeat(64)));
    assert!(check(&body).is_ok());
    body["image"] = json!("defect-classifier@sha256:abc");
    assert_eq!(check(&body).unwrap_err().field, "image");
}

#[test]
fn an_image_uri_longer_than_sagemaker_allows_is_refused_naming_the_field() {
    let long_repository = format!("team/{}", "r".repeat(180));
    let mut registries = sample_registries();
    registries
        .production
        .images
        .insert(long_repository.clone(), Vec::new());
    let mut body = sample_request();
    body["approval"] = Value::Null;
    body["image"] = json!(format!("{long_repository}:{}", "t".repeat(60)));
    let request = parse(&body.to_string()).unwrap();
    let e = validate(request, &registries, Uuid::nil()).unwrap_err();
    assert_eq!(e.field, "image");
    assert!(e.rule.contains("SageMaker allows at most 255"), "{e}");
    body["image"] = json!(format!("{long_repository}:1"));
    let request = parse(&body.to_string()).unwrap();
    assert!(validate(request, &registries, Uuid::nil()).is_ok());
}

#[test]
fn data_outside_the_customers_prefix_is_refused_naming_where_it_may_live() {
    let e = refused(
        "dataset.channels.train",
        json!("s3://prod-data/globex/train/"),
    );
    assert_eq!(e.field, "dataset.channels.train");
    assert!(
        e.rule.contains("outside customer `acme`'s data")
            && e.rule.contains("s3://<bucket>/acme/")
            && e.rule.contains("prod-data, prod-data-2"),
        "{e}"
    );
    let e = refused(
        "dataset.channels.train",
        json!("s3://prod-data/acme/../globex/"),
    );
    assert!(e.rule.contains("outside"), "{e}");
    let e = refused("dataset.channels.train", json!("s3://elsewhere/acme/"));
    assert!(e.rule.contains("(allowed: prod-data, prod-data-2)"), "{e}");
}

#[test]
fn lineage_fields_must_be_true() {
    let mut body = sample_request();
    body.as_object_mut().unwrap().remove("request_id");
    body["origin"] = json!({"dedupe_key": "2026-11-20-a", "signal": "drift 0.31"});
    body["dataset"]["digests"] = json!({"train": "sha256:0f3a"});
    let ok = check(&body).unwrap();
    assert_eq!(
        ok.request_id,
        crate::naming::dedupe_request_id("acme", "scratch-detect", "2026-11-20-a"),
        "the id comes from the dedupe key"
    );
    body["request_id"] = json!(Uuid::from_u128(7).to_string());
    let e = check(&body).unwrap_err();
    assert_eq!(e.field, "request_id");
    assert!(e.rule.contains("origin.dedupe_key"), "{e}");
    assert_eq!(
        refused("dataset.digests", json!({"test": "sha256:1"})).field,
        "dataset.digests.test"
    );
    assert_eq!(
        refused("dataset.digests", json!({"train": "a b"})).field,
        "dataset.digests.train"
    );
    assert_eq!(
        refused("origin", json!({"signal": "two\nlines"})).field,
        "origin.signal"
    );
}
