//! The compatibility gate: the new model's manifest against the one in service's. An
//! incompatible change (format or its major version, inputs, outputs, labels) is never
//! approved automatically; nor is a model without a manifest where the policy requires one, or
//! one whose model in service has no manifest to compare with.

use serde::{Deserialize, Serialize};

use crate::manifest::{Difference, ReadManifest, differences};

/// Whether a registry requires a manifest (`"manifest"` in its policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestRule {
    /// A model without a manifest is held for a person (the default).
    #[default]
    Required,
    /// A model without a manifest is judged by its metrics alone (e.g. research).
    Optional,
}

/// What the manifest check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Compatibility {
    /// It can replace the model in service.
    Compatible {
        /// The package it was compared with.
        champion: String,
    },
    /// The group's first model: nothing to compare with.
    FirstModel,
    /// It would break the service that loads the model in service.
    Incompatible {
        /// The package it was compared with.
        champion: String,
        /// What changed.
        differences: Vec<Difference>,
    },
    /// The job wrote no (readable) manifest.
    Missing {
        /// Why not.
        why: String,
    },
    /// The model in service has no readable manifest to compare with.
    Unknown {
        /// The package in service.
        champion: String,
        /// Why its manifest could not be read.
        why: String,
    },
}

impl Compatibility {
    /// Judges `new` (the job's manifest, or why there is none) against the model in service
    /// (`None`: the group has none; else its package and its manifest, or why there is none).
    pub fn judge(
        new: Result<&ReadManifest, String>,
        champion: Option<(&str, Result<&ReadManifest, String>)>,
    ) -> Self {
        let new = match new {
            Ok(m) => m,
            Err(why) => return Self::Missing { why },
        };
        let Some((arn, current)) = champion else {
            return Self::FirstModel;
        };
        let champion = arn.to_owned();
        match current {
            Err(why) => Self::Unknown { champion, why },
            Ok(current) => {
                let differences = differences(&current.manifest, &new.manifest);
                if differences.is_empty() {
                    Self::Compatible { champion }
                } else {
                    Self::Incompatible {
                        champion,
                        differences,
                    }
                }
            }
        }
    }

    /// Why it keeps the model from automatic approval under `rule`; `None` when it does not.
    pub fn hold(&self, rule: ManifestRule) -> Option<String> {
        match self {
            Self::Compatible { .. } | Self::FirstModel => None,
            Self::Missing { .. } if rule == ManifestRule::Optional => None,
            Self::Missing { why } => Some(format!(
                "no usable model manifest ({why}); the policy requires one to approve automatically"
            )),
            Self::Unknown { champion, why } => Some(format!(
                "the model in service ({champion}) has no manifest to compare with ({why})"
            )),
            Self::Incompatible {
                champion,
                differences,
            } => {
                let changes: Vec<String> = differences
                    .iter()
                    .map(|d| format!("{} was `{}`, is `{}`", d.field, d.was, d.now))
                    .collect();
                Some(format!(
                    "incompatible with the model in service ({champion}): {}",
                    changes.join("; ")
                ))
            }
        }
    }

    /// A short word for the package's metadata and tables (in the characters metadata allows).
    pub fn label(&self) -> String {
        match self {
            Self::Compatible { .. } => "compatible".into(),
            Self::FirstModel => "first-model".into(),
            Self::Incompatible { differences, .. } => format!(
                "incompatible: {}",
                differences
                    .iter()
                    .map(|d| d.field.as_str())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
            Self::Missing { .. } => "no-manifest".into(),
            Self::Unknown { .. } => "unknown".into(),
        }
    }

    /// Whether the change is a known breaking one (the `Model Incompatible` alert).
    pub fn is_incompatible(&self) -> bool {
        matches!(self, Self::Incompatible { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(labels: &[&str]) -> ReadManifest {
        let v = json!({"manifest_version": 1,
            "format": {"name": "m", "version": "1.0"},
            "inputs": [{"name": "x", "dtype": "uint8", "shape": [2]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [labels.len()]}],
            "labels": labels});
        ReadManifest::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn each_verdict_holds_or_passes_as_the_rule_says() {
        let ok = read(&["ok", "scratch"]);
        let three = read(&["ok", "scratch", "dent"]);
        let r = ManifestRule::Required;
        let first = Compatibility::judge(Ok(&ok), None);
        assert_eq!((first.hold(r), first.label()), (None, "first-model".into()));
        let same = Compatibility::judge(Ok(&ok), Some(("arn:1", Ok(&ok))));
        assert_eq!(same.hold(r), None);
        let broken = Compatibility::judge(Ok(&three), Some(("arn:1", Ok(&ok))));
        assert!(broken.is_incompatible());
        assert_eq!(broken.label(), "incompatible: outputs + labels");
        let why = broken.hold(r).unwrap();
        assert!(
            why.contains("(arn:1)")
                && why.contains("labels was `ok, scratch`, is `ok, scratch, dent`"),
            "{why}"
        );
        let missing = Compatibility::judge(Err("no manifest.json in model.tar.gz".into()), None);
        assert!(missing.hold(r).unwrap().contains("requires one"));
        assert_eq!(missing.hold(ManifestRule::Optional), None);
        let unknown = Compatibility::judge(Ok(&ok), Some(("arn:1", Err("none".into()))));
        assert!(
            unknown.hold(ManifestRule::Optional).is_some(),
            "an unknown champion holds even when manifests are optional"
        );
    }
}
