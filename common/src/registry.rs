//! The two registries that share one queue: `production` and `research`. Each has its own ECR
//! registry, image allow-list, buckets, output and checkpoint locations, execution role and
//! model package groups, and a request may only use its own registry's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::approval::ApprovalPolicy;
use crate::trust::RegistryTrust;

/// Which registry a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryKind {
    /// Models that ship to customers.
    Production,
    /// Researchers' experiments.
    Research,
}

impl RegistryKind {
    /// Both kinds, production first.
    pub const ALL: [RegistryKind; 2] = [RegistryKind::Production, RegistryKind::Research];

    /// The lowercase name used in messages, tags and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Research => "research",
        }
    }

    /// The other registry.
    pub fn other(self) -> Self {
        match self {
            Self::Production => Self::Research,
            Self::Research => Self::Production,
        }
    }
}

impl fmt::Display for RegistryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How SageMaker extracts a metric from the training log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricDefinition {
    /// Metric name, e.g. `validation:accuracy`.
    pub name: String,
    /// Regex whose first group is the value.
    pub regex: String,
}

impl MetricDefinition {
    /// The definition for trainq's log convention: a line containing `<name>=<number>`.
    pub fn conventional(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            regex: format!(
                "{}=([-+]?[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?)",
                regex_escape(name)
            ),
        }
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One registry's resources, read once at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// Which registry this is.
    pub kind: RegistryKind,
    /// ECR registry host, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub ecr_registry: String,
    /// Allowed image repositories and the metric definitions of each.
    pub images: BTreeMap<String, Vec<MetricDefinition>>,
    /// Buckets the registry's requests may read data from.
    pub allowed_buckets: BTreeSet<String>,
    /// Where model artifacts go: `s3://bucket/prefix`.
    pub output_s3_uri: String,
    /// Where checkpoints go: `s3://bucket/prefix` (one sub-prefix per request).
    pub checkpoint_s3_uri: String,
    /// The SageMaker execution role for this registry's jobs.
    pub execution_role_arn: String,
    /// Prefix of this registry's model package group names.
    pub model_package_group_prefix: String,
    /// Who may send this registry's requests, and where its customers' data may live.
    pub trust: RegistryTrust,
    /// The gates its models must pass to be approved without a person.
    pub approval: ApprovalPolicy,
}

impl RegistryConfig {
    /// The full image URI for `repository[:tag|@digest]` in this registry.
    pub fn image_uri(&self, image: &str) -> String {
        format!("{}/{}", self.ecr_registry, image)
    }

    /// The metric definitions of an allowed repository (empty when unknown).
    pub fn metric_definitions(&self, repository: &str) -> &[MetricDefinition] {
        self.images.get(repository).map_or(&[], Vec::as_slice)
    }
}

/// Both registries.
#[derive(Debug, Clone, PartialEq)]
pub struct Registries {
    /// The production registry.
    pub production: RegistryConfig,
    /// The research registry.
    pub research: RegistryConfig,
}

impl Registries {
    /// The config of `kind`.
    pub fn get(&self, kind: RegistryKind) -> &RegistryConfig {
        match kind {
            RegistryKind::Production => &self.production,
            RegistryKind::Research => &self.research,
        }
    }
}

/// Splits `s3://bucket/key` into bucket and key; `None` if it is not an S3 URI with a bucket.
pub fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    valid_bucket.then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        assert_eq!(
            split_s3_uri("s3://data-bkt/a/b/"),
            Some(("data-bkt", "a/b/"))
        );
        assert_eq!(split_s3_uri("s3://data-bkt"), Some(("data-bkt", "")));
        assert_eq!(split_s3_uri("https://x/y"), None);
        assert_eq!(split_s3_uri("s3://UPPER/x"), None);
        assert_eq!(split_s3_uri("s3:///x"), None);
    }

    #[test]
    fn conventional_metric_regex_escapes_the_name() {
        let m = MetricDefinition::conventional("validation:accuracy");
        assert!(m.regex.starts_with("validation:accuracy=("), "{}", m.regex);
        assert!(
            MetricDefinition::conventional("a.b")
                .regex
                .starts_with("a\\.b=")
        );
    }
}
