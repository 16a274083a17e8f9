//! The demo's requests and what each must end as.

use serde_json::{Value, json};
use trainq_common::state::JobState;
use uuid::Uuid;

/// Where the demo's data lives (per registry: the devstack's buckets).
pub(super) const PRODUCTION_DATA: &str = "s3://trainq-prod-data/acme/2026-11-20/";
pub(super) const RESEARCH_DATA: &str = "s3://trainq-research-data/acme/2026-11-20/";
/// The instance type whose spot capacity the demo takes away.
pub(super) const SCARCE_TYPE: &str = "ml.p3.2xlarge";

/// What a case must end as.
#[derive(Debug, Clone)]
pub(super) struct Expect {
    pub(super) state: JobState,
    /// The model package's approval status, when registered.
    pub(super) approval: Option<&'static str>,
    /// Attempts the request must have used.
    pub(super) attempts: usize,
    /// The last attempt resumed from a checkpoint the first one wrote.
    pub(super) resumed: bool,
}

/// One request of the demo.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) label: String,
    pub(super) request_id: Uuid,
    pub(super) body: String,
    pub(super) expect: Expect,
}

fn request(id: Uuid, registry: &str, data: &str, hyperparameters: Value) -> Value {
    json!({
        "schema_version": 1,
        "request_id": id.to_string(),
        "customer": "acme",
        "project": "scratch-detect",
        "registry": registry,
        "reason": if registry == "research" { "experiment" } else { "data_shift" },
        "image": "defect-classifier:1.4.2",
        "dataset": {"version": "2026-11-20", "channels": {"train": format!("{data}train/"), "validation": format!("{data}val/")}},
        "hyperparameters": hyperparameters,
        "resources": {"instance_type": "ml.g5.xlarge", "max_runtime_s": 900, "spot": true,
                      "fallback_instance_types": ["ml.g4dn.xlarge"]},
        "approval": {"metric": "validation:accuracy", "min": 0.9}
    })
}

fn registered(approval: &'static str) -> Expect {
    Expect {
        state: JobState::Registered,
        approval: Some(approval),
        attempts: 1,
        resumed: false,
    }
}

/// The scenario: a production data-shift retrain, a research sweep on the same queue, a
/// request whose first attempt loses its spot capacity, a malformed request, and a model held
/// by its approval gate.
pub(super) fn cases() -> Vec<Case> {
    let hp = |epochs: u32, lr: &str| json!({"epochs": epochs.to_string(), "lr": lr, "epoch_delay_ms": "300"});
    let mut cases = Vec::new();
    let mut add = |label: &str, body: Value, expect: Expect| {
        let request_id = body["request_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(Uuid::new_v4);
        cases.push(Case {
            label: label.to_owned(),
            request_id,
            body: body.to_string(),
            expect,
        });
    };

    add(
        "production retrain (data shift)",
        request(Uuid::new_v4(), "production", PRODUCTION_DATA, hp(8, "0.05")),
        registered("Approved"),
    );

    let sweep = format!("lr-sweep-{}", &Uuid::new_v4().simple().to_string()[..6]);
    for lr in ["0.02", "0.05", "0.1"] {
        let mut body = request(Uuid::new_v4(), "research", RESEARCH_DATA, hp(6, lr));
        body["experiment"] = json!({"id": sweep, "trial": format!("lr={lr}")});
        add(
            &format!("research sweep lr={lr}"),
            body,
            registered("Approved"),
        );
    }

    let mut scarce = request(Uuid::new_v4(), "production", PRODUCTION_DATA, hp(8, "0.05"));
    scarce["resources"]["instance_type"] = json!(SCARCE_TYPE);
    add(
        "spot capacity lost, next rung",
        scarce,
        Expect {
            attempts: 2,
            resumed: true,
            ..registered("Approved")
        },
    );

    let mut malformed = request(Uuid::new_v4(), "research", PRODUCTION_DATA, hp(1, "0.05"));
    malformed["image"] = json!("docker.io/library/python:3.12");
    add(
        "malformed (foreign image, production data)",
        malformed,
        Expect {
            state: JobState::Rejected,
            approval: None,
            attempts: 0,
            resumed: false,
        },
    );

    let mut held = request(
        Uuid::new_v4(),
        "production",
        PRODUCTION_DATA,
        hp(1, "0.005"),
    );
    held["approval"]["min"] = json!(0.97);
    add(
        "held by its gate (accuracy ≥ 0.97)",
        held,
        registered("PendingManualApproval"),
    );
    cases
}
