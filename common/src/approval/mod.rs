//! Approval owned by policy, not by the request. Each registry's policy (and, more specific,
//! a customer's or a project's) names the gate a model must pass to be approved without a
//! person: a metric, its direction and bound, and optionally a margin within which it must
//! match the model in service (the group's latest `Approved` package, the champion). A
//! request may add its own gate (it only tightens: every check must pass), never loosen the
//! policy's. Without a policy gate nothing is approved automatically. And whatever the
//! metrics, a model is approved automatically only if its manifest shows it can replace the
//! model in service ([`Compatibility`]).

mod compat;
mod decide;
mod policy;

pub use compat::{Compatibility, ManifestRule};
pub use decide::{CheckKind, GateCheck, GateDecision, decide};
pub use policy::{ApprovalPolicy, Bound, CustomerGates, GatePolicy};

/// The gates as the policy document writes them (parsed in [`crate::policy`]).
pub(crate) mod policy_json {
    pub(crate) use super::policy::GateJson;
}

use std::collections::BTreeMap;

/// The model in service of a group: its latest `Approved` package.
#[derive(Debug, Clone, PartialEq)]
pub struct Champion {
    /// Its package ARN.
    pub package_arn: String,
    /// The final metrics it was registered with (`metric:<name>` metadata).
    pub metrics: BTreeMap<String, f64>,
    /// Its `model.tar.gz`, whose manifest the new model's is compared with.
    pub model_data_url: Option<String>,
}
