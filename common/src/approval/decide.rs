//! The decision: every check the policy (and the request) asks for, each with the figures a
//! person needs to act on it; approved only when there is a policy gate and every check passed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bound, Champion, Compatibility, GatePolicy, ManifestRule};
use crate::registration::ApprovalStatus;
use crate::request::Approval;

/// Which rule a check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The registry's (customer's, project's) gate.
    Policy,
    /// The request's own gate (it can only tighten).
    Request,
    /// No worse than the model in service by more than the policy's margin.
    Champion,
}

/// One check of the gate, as recorded on the record and the package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCheck {
    /// Which rule.
    pub check: CheckKind,
    /// The metric.
    pub metric: String,
    /// The model's value (absent: not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// What it had to be.
    pub bound: Bound,
    /// Whether it passed.
    pub passed: bool,
    /// The champion's package, for a champion check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion: Option<String>,
}

impl GateCheck {
    /// Why it failed, in words; `None` when it passed.
    pub fn failure(&self) -> Option<String> {
        if self.passed {
            return None;
        }
        let whose = match self.check {
            CheckKind::Policy => "the policy's gate".to_owned(),
            CheckKind::Request => "the request's gate".to_owned(),
            CheckKind::Champion => format!(
                "the model in service ({}) within the policy's margin",
                self.champion.as_deref().unwrap_or("unknown")
            ),
        };
        Some(match self.value {
            Some(v) => format!(
                "`{}` = {v} misses {whose}: it must be {}",
                self.metric, self.bound
            ),
            None if self.check == CheckKind::Champion => format!(
                "the model in service ({}) reports no `{}` to compare with",
                self.champion.as_deref().unwrap_or("unknown"),
                self.metric
            ),
            None => format!(
                "`{}` was not reported by the job; {whose} needs it {}",
                self.metric, self.bound
            ),
        })
    }
}

/// What the gate decided.
#[derive(Debug, Clone, PartialEq)]
pub struct GateDecision {
    /// The status the package is registered with.
    pub status: ApprovalStatus,
    /// Why the model was held for a person (a `Model Held By Gate` alert); `None` when it
    /// passed or there is no policy gate (a person approves every such model).
    pub held: Option<String>,
    /// Every check made.
    pub checks: Vec<GateCheck>,
    /// What the manifest check found, when it was made.
    pub compatibility: Option<Compatibility>,
}

impl GateDecision {
    /// The decision with the manifest check applied: a verdict that holds under `rule` keeps
    /// the model for a person (even without a policy gate, so that person knows why).
    pub fn with_compatibility(mut self, verdict: Compatibility, rule: ManifestRule) -> Self {
        if let Some(why) = verdict.hold(rule) {
            self.status = ApprovalStatus::PendingManualApproval;
            self.held = Some(match self.held.take() {
                Some(before) => format!("{why}; {before}"),
                None => why,
            });
        }
        self.compatibility = Some(verdict);
        self
    }

    /// Whether the manifest showed a breaking change (a `Model Incompatible` alert).
    pub fn incompatible(&self) -> bool {
        self.compatibility
            .as_ref()
            .is_some_and(Compatibility::is_incompatible)
    }

    /// The failed checks' figures as alert facts (the first failure's, and which failed).
    pub fn facts(&self) -> Vec<(String, String)> {
        let mut facts = Vec::new();
        if let Some(verdict) = &self.compatibility {
            facts.push(("compatibility".to_owned(), verdict.label()));
            if let Compatibility::Incompatible {
                champion,
                differences,
            } = verdict
            {
                let fields: Vec<&str> = differences.iter().map(|d| d.field.as_str()).collect();
                facts.push(("incompatible_fields".to_owned(), fields.join(",")));
                facts.push(("champion".to_owned(), champion.clone()));
            }
        }
        let failed: Vec<&GateCheck> = self.checks.iter().filter(|c| !c.passed).collect();
        let Some(first) = failed.first() else {
            return facts;
        };
        let kinds: Vec<String> = failed
            .iter()
            .map(|c| {
                serde_json::to_value(c.check)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        facts.extend([
            ("failed_checks".to_owned(), kinds.join(",")),
            ("metric".to_owned(), first.metric.clone()),
            ("required".to_owned(), first.bound.to_string()),
        ]);
        if let Some(v) = first.value {
            facts.push(("value".to_owned(), v.to_string()));
        }
        if let Some(c) = failed.iter().find_map(|c| c.champion.clone())
            && !facts.iter().any(|(k, _)| k == "champion")
        {
            facts.push(("champion".to_owned(), c));
        }
        facts
    }
}

/// Applies the policy's gate, the request's (if any) and the champion comparison (if the
/// policy asks for it) to the model's final `metrics`.
pub fn decide(
    policy: Option<&GatePolicy>,
    request: Option<&Approval>,
    metrics: &BTreeMap<String, f64>,
    champion: Option<&Champion>,
) -> GateDecision {
    let Some(policy) = policy else {
        return GateDecision {
            status: ApprovalStatus::PendingManualApproval,
            held: None,
            checks: Vec::new(),
            compatibility: None,
        };
    };
    let value = |metric: &str| metrics.get(metric).copied();
    let check = |kind, metric: &str, bound: Bound| {
        let v = value(metric);
        GateCheck {
            check: kind,
            metric: metric.to_owned(),
            value: v,
            bound,
            passed: v.is_some_and(|v| bound.passes(v)),
            champion: None,
        }
    };
    let mut checks = vec![check(CheckKind::Policy, &policy.metric, policy.bound)];
    if let Some(gate) = request {
        checks.push(check(
            CheckKind::Request,
            &gate.metric,
            Bound::AtLeast(gate.min),
        ));
    }
    if let (Some(margin), Some(champion)) = (policy.champion_margin, champion) {
        let theirs = champion.metrics.get(&policy.metric).copied();
        let bound = policy.bound.within(theirs.unwrap_or(f64::NAN), margin);
        let mut c = check(CheckKind::Champion, &policy.metric, bound);
        c.champion = Some(champion.package_arn.clone());
        if theirs.is_none() {
            c.value = None;
            c.passed = false;
        }
        checks.push(c);
    }
    let failures: Vec<String> = checks.iter().filter_map(GateCheck::failure).collect();
    GateDecision {
        status: if failures.is_empty() {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::PendingManualApproval
        },
        held: (!failures.is_empty()).then(|| failures.join("; ")),
        checks,
        compatibility: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bound: Bound, margin: Option<f64>) -> GatePolicy {
        GatePolicy {
            metric: "validation:accuracy".into(),
            bound,
            champion_margin: margin,
        }
    }

    fn metrics(v: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("validation:accuracy".to_owned(), v)])
    }

    fn champion(v: Option<f64>) -> Champion {
        Champion {
            package_arn: "arn:champ/3".into(),
            metrics: v.map_or_else(BTreeMap::new, metrics),
            model_data_url: None,
        }
    }

    #[test]
    fn the_policy_decides_and_a_request_only_tightens() {
        let p = policy(Bound::AtLeast(0.9), None);
        assert_eq!(
            decide(Some(&p), None, &metrics(0.9), None).status,
            ApprovalStatus::Approved
        );
        let held = decide(Some(&p), None, &metrics(0.85), None);
        assert_eq!(held.status, ApprovalStatus::PendingManualApproval);
        assert_eq!(
            held.held.as_deref(),
            Some("`validation:accuracy` = 0.85 misses the policy's gate: it must be ≥ 0.9")
        );
        // A request cannot loosen the policy...
        let loose = Approval {
            metric: "validation:accuracy".into(),
            min: -1e9,
        };
        assert!(
            decide(Some(&p), Some(&loose), &metrics(0.85), None)
                .held
                .is_some()
        );
        // ...but can tighten it.
        let tight = Approval {
            metric: "validation:accuracy".into(),
            min: 0.95,
        };
        let d = decide(Some(&p), Some(&tight), &metrics(0.93), None);
        assert!(d.held.unwrap().contains("the request's gate"));
        // Without a policy gate a person approves, whatever the request says.
        let d = decide(None, Some(&loose), &metrics(0.99), None);
        assert_eq!(
            (d.status, d.held),
            (ApprovalStatus::PendingManualApproval, None)
        );
        let missing = decide(Some(&p), None, &BTreeMap::new(), None);
        assert!(missing.held.unwrap().contains("was not reported"));
        assert!(
            decide(Some(&p), None, &metrics(f64::NAN), None)
                .held
                .is_some()
        );
    }

    #[test]
    fn a_model_worse_than_the_one_in_service_by_more_than_the_margin_is_held() {
        let p = policy(Bound::AtLeast(0.8), Some(0.02));
        let champ = champion(Some(0.93));
        assert_eq!(
            decide(Some(&p), None, &metrics(0.91), Some(&champ)).status,
            ApprovalStatus::Approved,
            "within the margin"
        );
        let d = decide(Some(&p), None, &metrics(0.90), Some(&champ));
        assert_eq!(d.status, ApprovalStatus::PendingManualApproval);
        let why = d.held.clone().unwrap();
        assert!(why.contains("the model in service (arn:champ/3)"), "{why}");
        let facts: BTreeMap<_, _> = d.facts().into_iter().collect();
        assert_eq!(facts["failed_checks"], "champion");
        assert_eq!(facts["champion"], "arn:champ/3");
        assert_eq!(facts["value"], "0.9");
        // Lower is better: the margin goes the other way.
        let loss = GatePolicy {
            metric: "validation:accuracy".into(),
            bound: Bound::AtMost(1.0),
            champion_margin: Some(0.1),
        };
        assert!(
            decide(
                Some(&loss),
                None,
                &metrics(0.95),
                Some(&champion(Some(0.9)))
            )
            .held
            .is_none()
        );
        assert!(
            decide(
                Some(&loss),
                None,
                &metrics(1.05),
                Some(&champion(Some(0.9)))
            )
            .held
            .is_some()
        );
        // The first model of a group has no champion; a champion without the metric holds.
        assert!(decide(Some(&p), None, &metrics(0.9), None).held.is_none());
        let d = decide(Some(&p), None, &metrics(0.99), Some(&champion(None)));
        assert!(d.held.unwrap().contains("reports no `validation:accuracy`"));
    }
}
