//! The gate part of a registry's policy (`gate`, and `customers.<c>.gate`,
//! `customers.<c>.projects.<p>.gate` in `TRAINQ_<REGISTRY>_POLICY`): the most specific gate
//! applies.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Which way a metric must go, and how far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// At least this (accuracy, F1).
    AtLeast(f64),
    /// At most this (loss, error rate).
    AtMost(f64),
}

impl Bound {
    /// Whether `value` is within the bound (NaN never is).
    pub fn passes(self, value: f64) -> bool {
        match self {
            Self::AtLeast(min) => value >= min,
            Self::AtMost(max) => value <= max,
        }
    }

    /// The bound's number.
    pub fn threshold(self) -> f64 {
        match self {
            Self::AtLeast(v) | Self::AtMost(v) => v,
        }
    }

    /// The same direction, `margin` more lenient than `value` (a champion's metric).
    pub fn within(self, value: f64, margin: f64) -> Self {
        match self {
            Self::AtLeast(_) => Self::AtLeast(value - margin),
            Self::AtMost(_) => Self::AtMost(value + margin),
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Six decimals at most: a champion's value less a margin is `0.9199999999999999`.
        let shown = |v: f64| {
            let text = format!("{v:.6}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        match self {
            Self::AtLeast(v) => write!(f, "≥ {}", shown(*v)),
            Self::AtMost(v) => write!(f, "≤ {}", shown(*v)),
        }
    }
}

/// A gate set by policy.
#[derive(Debug, Clone, PartialEq)]
pub struct GatePolicy {
    /// The metric, e.g. `validation:accuracy`.
    pub metric: String,
    /// Its bound.
    pub bound: Bound,
    /// When set, the model must also be no worse than the champion by more than this.
    pub champion_margin: Option<f64>,
}

/// A registry's approval policy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalPolicy {
    /// The registry's gate.
    pub gate: Option<GatePolicy>,
    /// Customer (and project) gates, more specific than the registry's.
    pub customers: BTreeMap<String, CustomerGates>,
    /// Whether a model needs a manifest to be approved automatically.
    pub manifest: super::ManifestRule,
}

/// One customer's gates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerGates {
    /// The customer's gate.
    pub gate: Option<GatePolicy>,
    /// Its projects' gates.
    pub projects: BTreeMap<String, GatePolicy>,
}

impl ApprovalPolicy {
    /// The gate of `customer`'s `project`: the project's, else the customer's, else the
    /// registry's.
    pub fn gate_for(&self, customer: &str, project: &str) -> Option<&GatePolicy> {
        let c = self.customers.get(customer);
        c.and_then(|c| c.projects.get(project))
            .or_else(|| c.and_then(|c| c.gate.as_ref()))
            .or(self.gate.as_ref())
    }
}

/// A gate as written in the policy JSON: `{"metric", "min" | "max", "champion_margin"?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateJson {
    metric: String,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    champion_margin: Option<f64>,
}

impl GateJson {
    /// Checks the gate; `at` names where it is in the policy for the error.
    pub(crate) fn check(self, variable: &str, at: &str) -> Result<GatePolicy, ConfigError> {
        let refuse = |why: &str| Err(ConfigError::new(variable, format!("`{at}`: {why}")));
        if self.metric.trim().is_empty() {
            return refuse("`metric` must name a metric");
        }
        let bound = match (self.min, self.max) {
            (Some(v), None) if v.is_finite() => Bound::AtLeast(v),
            (None, Some(v)) if v.is_finite() => Bound::AtMost(v),
            (Some(_), None) | (None, Some(_)) => {
                return refuse("the bound must be a finite number");
            }
            _ => return refuse("give exactly one of `min` (higher is better) or `max`"),
        };
        if let Some(m) = self.champion_margin
            && !(m.is_finite() && m >= 0.0)
        {
            return refuse("`champion_margin` must be a number ≥ 0");
        }
        Ok(GatePolicy {
            metric: self.metric,
            bound,
            champion_margin: self.champion_margin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(json: &str) -> Result<GatePolicy, ConfigError> {
        serde_json::from_str::<GateJson>(json)
            .unwrap()
            .check("P", "gate")
    }

    #[test]
    fn gates_have_one_direction_and_a_sane_margin() {
        let g =
            gate(r#"{"metric": "validation:loss", "max": 0.3, "champion_margin": 0.01}"#).unwrap();
        assert_eq!(g.bound, Bound::AtMost(0.3));
        assert!(g.bound.passes(0.3) && !g.bound.passes(0.31) && !g.bound.passes(f64::NAN));
        assert_eq!(Bound::AtLeast(0.97 - 0.05).to_string(), "≥ 0.92");
        assert_eq!(Bound::AtMost(2.0).to_string(), "≤ 2");
        for bad in [
            r#"{"metric": "m", "min": 0.1, "max": 0.2}"#,
            r#"{"metric": "m"}"#,
            r#"{"metric": "", "min": 0.1}"#,
            r#"{"metric": "m", "min": 0.1, "champion_margin": -1}"#,
        ] {
            let e = gate(bad).unwrap_err();
            assert_eq!(e.variable, "P", "{bad}");
            assert!(e.problem.starts_with("`gate`"), "{e}");
        }
    }

    #[test]
    fn the_most_specific_gate_applies() {
        let g = |v| GatePolicy {
            metric: "m".into(),
            bound: Bound::AtLeast(v),
            champion_margin: None,
        };
        let policy = ApprovalPolicy {
            gate: Some(g(0.5)),
            customers: BTreeMap::from([(
                "acme".into(),
                CustomerGates {
                    gate: Some(g(0.8)),
                    projects: BTreeMap::from([("scratch".into(), g(0.9))]),
                },
            )]),
            manifest: Default::default(),
        };
        let threshold = |c, p| policy.gate_for(c, p).map(|g| g.bound.threshold());
        assert_eq!(threshold("acme", "scratch"), Some(0.9));
        assert_eq!(threshold("acme", "dent"), Some(0.8));
        assert_eq!(threshold("globex", "scratch"), Some(0.5));
        assert_eq!(ApprovalPolicy::default().gate_for("a", "b"), None);
    }
}
