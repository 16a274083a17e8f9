//! `TRAINQ_<REGISTRY>_POLICY`: a registry's policy document, parsed once at cold start and
//! split into its trust part (who may send a customer's requests) and its approval part (the
//! gates of the registry, its customers and their projects).
//!
//! ```json
//! {"gate": {"metric": "validation:accuracy", "min": 0.9, "champion_margin": 0.02},
//!  "manifest": "required",
//!  "customers": {"acme": {"senders": ["AROAEXAMPLEBACKEND:acme-*"],
//!                         "gate": {"metric": "validation:accuracy", "min": 0.95},
//!                         "projects": {"scratch-detect": {"gate": {"metric": "validation:loss", "max": 0.2}}}}}}
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::approval::policy_json::GateJson;
use crate::approval::{ApprovalPolicy, CustomerGates, ManifestRule};
use crate::config::ConfigError;

/// The policy document.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyJson {
    #[serde(default)]
    gate: Option<GateJson>,
    #[serde(default)]
    manifest: ManifestRule,
    #[serde(default)]
    customers: BTreeMap<String, CustomerJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerJson {
    #[serde(default)]
    senders: Option<Vec<String>>,
    #[serde(default)]
    gate: Option<GateJson>,
    #[serde(default)]
    projects: BTreeMap<String, ProjectJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectJson {
    gate: GateJson,
}

impl PolicyJson {
    /// Parses the document; the error names the variable and the path inside it.
    pub(crate) fn parse(variable: &str, json: &str) -> Result<Self, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| {
            ConfigError::new(
                variable,
                format!("is not a trainq policy: `{}`: {}", e.path(), e.inner()),
            )
        })
    }

    /// Customers that name their own senders.
    pub(crate) fn customer_senders(&self) -> BTreeMap<String, Vec<String>> {
        self.customers
            .iter()
            .filter_map(|(name, c)| c.senders.clone().map(|s| (name.clone(), s)))
            .collect()
    }

    /// The gates, checked.
    pub(crate) fn approval(&self, variable: &str) -> Result<ApprovalPolicy, ConfigError> {
        let gate =
            |g: &Option<GateJson>, at: &str| g.clone().map(|g| g.check(variable, at)).transpose();
        let customers = self
            .customers
            .iter()
            .map(|(name, c)| {
                let projects = c
                    .projects
                    .iter()
                    .map(|(p, j)| {
                        let at = format!("customers.{name}.projects.{p}.gate");
                        Ok((p.clone(), j.gate.clone().check(variable, &at)?))
                    })
                    .collect::<Result<_, ConfigError>>()?;
                let customer_gate = gate(&c.gate, &format!("customers.{name}.gate"))?;
                Ok((
                    name.clone(),
                    CustomerGates {
                        gate: customer_gate,
                        projects,
                    },
                ))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(ApprovalPolicy {
            gate: gate(&self.gate, "gate")?,
            customers,
            manifest: self.manifest,
        })
    }
}
