//! Sample configuration and requests shared by unit tests here and in the Lambdas
//! (feature `fakes`). The integration tests use the same samples so every suite speaks of one
//! world: a production and a research registry with their own images and buckets.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::config::Env;
use crate::registry::Registries;

/// The production backend's sender id (an assumed role's session) in the samples.
pub const PRODUCTION_SENDER: &str = "AROAPRODUCTIONBACKEND:backend";
/// A researcher's sender id in the samples.
pub const RESEARCH_SENDER: &str = "AROARESEARCHERS:alice";
/// An on-call engineer's sender id in the samples: allowed to send to both registries.
pub const ONCALL_SENDER: &str = "AIDAONCALLENGINEER";
const PRODUCTION_SENDERS: &str = "AROAPRODUCTIONBACKEND:*, AIDAONCALLENGINEER";
const RESEARCH_SENDERS: &str = "AROARESEARCHERS:*, AIDAONCALLENGINEER";
/// Production approves a model at accuracy ≥ 0.8 and no more than 0.05 below the one in
/// service; research at ≥ 0.5.
const PRODUCTION_POLICY: &str =
    r#"{"gate": {"metric": "validation:accuracy", "min": 0.8, "champion_margin": 0.05}}"#;
const RESEARCH_POLICY: &str = r#"{"gate": {"metric": "validation:accuracy", "min": 0.5}}"#;

/// A complete, valid environment for both registries.
pub fn sample_env() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "TRAINQ_PRODUCTION_ECR_REGISTRY",
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com",
        ),
        (
            "TRAINQ_PRODUCTION_IMAGES",
            r#"{"defect-classifier": ["validation:accuracy", "train:loss"]}"#,
        ),
        ("TRAINQ_PRODUCTION_BUCKETS", "prod-data, prod-data-2"),
        (
            "TRAINQ_PRODUCTION_OUTPUT_S3_URI",
            "s3://prod-models/output/",
        ),
        (
            "TRAINQ_PRODUCTION_CHECKPOINT_S3_URI",
            "s3://prod-models/checkpoints",
        ),
        (
            "TRAINQ_PRODUCTION_ROLE_ARN",
            "arn:aws:iam::111111111111:role/trainq-prod",
        ),
        ("TRAINQ_PRODUCTION_MODEL_GROUP_PREFIX", "prod"),
        ("TRAINQ_PRODUCTION_SENDERS", PRODUCTION_SENDERS),
        ("TRAINQ_PRODUCTION_DATA_PREFIX", "{customer}/"),
        ("TRAINQ_PRODUCTION_POLICY", PRODUCTION_POLICY),
        (
            "TRAINQ_RESEARCH_ECR_REGISTRY",
            "222222222222.dkr.ecr.eu-west-1.amazonaws.com",
        ),
        (
            "TRAINQ_RESEARCH_IMAGES",
            r#"{"defect-classifier": ["validation:accuracy"], "exp-net": [{"name": "f1", "regex": "F1: ([0-9.]+)"}]}"#,
        ),
        ("TRAINQ_RESEARCH_BUCKETS", "research-data"),
        (
            "TRAINQ_RESEARCH_OUTPUT_S3_URI",
            "s3://research-models/output",
        ),
        (
            "TRAINQ_RESEARCH_CHECKPOINT_S3_URI",
            "s3://research-models/checkpoints",
        ),
        (
            "TRAINQ_RESEARCH_ROLE_ARN",
            "arn:aws:iam::222222222222:role/trainq-research",
        ),
        ("TRAINQ_RESEARCH_MODEL_GROUP_PREFIX", "research"),
        ("TRAINQ_RESEARCH_SENDERS", RESEARCH_SENDERS),
        ("TRAINQ_RESEARCH_DATA_PREFIX", "{customer}/"),
        ("TRAINQ_RESEARCH_POLICY", RESEARCH_POLICY),
    ])
}

/// The registries of [`sample_env`].
pub fn sample_registries() -> Registries {
    let env = sample_env();
    Env::from_fn(|k| env.get(k).map(|v| v.to_string()))
        .registries()
        .expect("sample env is valid")
}

/// The manifest `examples/defect-trainer` writes (schema v1): the models of one group are
/// compatible when they all carry it.
pub fn sample_manifest() -> Value {
    json!({"manifest_version": 1,
        "format": {"name": "trainq-defect-mlp", "version": "1.0"},
        "framework": {"name": "defect-trainer", "version": "0.1.0"},
        "inputs": [{"name": "image", "dtype": "uint8", "shape": [32, 32, 1]}],
        "outputs": [{"name": "scores", "dtype": "float32", "shape": [2]}],
        "labels": ["ok", "scratch"]})
}

/// A valid production request body; tests change one field at a time.
pub fn sample_request() -> Value {
    json!({
        "schema_version": 1,
        "request_id": "5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10",
        "customer": "acme",
        "project": "scratch-detect",
        "registry": "production",
        "reason": "data_shift",
        "image": "defect-classifier:1.4.2",
        "dataset": {
            "version": "2026-11-20-a",
            "channels": {"train": "s3://prod-data/acme/train/", "validation": "s3://prod-data/acme/val/"}
        },
        "hyperparameters": {"epochs": "20", "lr": "0.001"},
        "resources": {
            "instance_type": "ml.g5.xlarge", "instance_count": 1, "volume_gb": 50,
            "max_runtime_s": 14400, "spot": true, "fallback_instance_types": ["ml.g4dn.xlarge"]
        },
        "approval": {"metric": "validation:accuracy", "min": 0.95}
    })
}

/// A valid research request body (a sweep trial).
pub fn sample_research_request() -> Value {
    let mut v = sample_request();
    v["registry"] = json!("research");
    v["reason"] = json!("experiment");
    v["request_id"] = json!("7d3e2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    v["dataset"]["channels"] = json!({"train": "s3://research-data/acme/train/"});
    v["experiment"] = json!({"id": "lr-sweep-7", "trial": "lr=0.001"});
    v
}

/// Sets `value` at a dotted `path` of `body` (creating objects on the way).
pub fn set_path(body: &mut Value, path: &str, value: Value) {
    let mut cur = body;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        cur = &mut cur[*part];
    }
    cur[parts[parts.len() - 1]] = value;
}

/// Env lookups from a map, for configs in tests.
pub fn env_from(map: BTreeMap<&'static str, &'static str>) -> Env<impl Fn(&str) -> Option<String>> {
    Env::from_fn(move |k| map.get(k).map(|v| v.to_string()))
}

/// The `request_id` of a sample body.
pub fn request_id_of(body: &Value) -> uuid::Uuid {
    body["request_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("body has a request_id")
}
