//! Configuration read once at cold start from environment variables, failing fast with an
//! error that names the variable. Reading goes through a lookup function so tests need not
//! touch the process environment.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use thiserror::Error;

use crate::policy::PolicyJson;
use crate::registry::{MetricDefinition, Registries, RegistryConfig, RegistryKind, split_s3_uri};
use crate::trust::{DataScope, RegistryTrust, Senders};

/// A configuration variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("configuration variable `{variable}` {problem}")]
pub struct ConfigError {
    /// The environment variable's name.
    pub variable: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// A problem with `variable`.
    pub fn new(variable: &str, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Reads variables through a lookup function (`std::env::var(..).ok()` in production).
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

impl Env<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// An environment backed by `lookup` (tests use a map).
    pub fn from_fn(lookup: F) -> Self {
        Self { lookup }
    }

    /// A required, non-empty variable.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        match (self.lookup)(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            Some(_) => Err(ConfigError::new(name, "is empty")),
            None => Err(ConfigError::new(name, "is not set")),
        }
    }

    /// An optional variable: `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// An optional number with a default.
    pub fn number_or(&self, name: &str, default: u64) -> Result<u64, ConfigError> {
        match (self.lookup)(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(name, format!("must be a whole number (got `{v}`)"))),
        }
    }

    /// An optional whole number within `min..=max`, with a default.
    pub fn number_in(
        &self,
        name: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        let v = self.number_or(name, u64::from(default))?;
        u32::try_from(v)
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                ConfigError::new(name, format!("must be between {min} and {max} (got {v})"))
            })
    }

    /// Both registries from `TRAINQ_PRODUCTION_*` and `TRAINQ_RESEARCH_*`; also checks that
    /// they share no bucket, so separation cannot be configured away by accident.
    pub fn registries(&self) -> Result<Registries, ConfigError> {
        let production = self.registry(RegistryKind::Production)?;
        let research = self.registry(RegistryKind::Research)?;
        let shared: Vec<_> = production
            .allowed_buckets
            .intersection(&research.allowed_buckets)
            .collect();
        if let Some(bucket) = shared.first() {
            return Err(ConfigError::new(
                "TRAINQ_RESEARCH_BUCKETS",
                format!(
                    "lists `{bucket}`, which is also a production bucket; registries must not share buckets"
                ),
            ));
        }
        let (p, r) = (
            &production.model_package_group_prefix,
            &research.model_package_group_prefix,
        );
        // `prod` and `prod-x` would let a production customer `x-…` name a research group.
        if p.starts_with(r.as_str()) || r.starts_with(p.as_str()) {
            return Err(ConfigError::new(
                "TRAINQ_RESEARCH_MODEL_GROUP_PREFIX",
                format!(
                    "`{r}` overlaps the production prefix `{p}`; neither may start with the other"
                ),
            ));
        }
        Ok(Registries {
            production,
            research,
        })
    }

    fn registry(&self, kind: RegistryKind) -> Result<RegistryConfig, ConfigError> {
        let var = |suffix: &str| format!("TRAINQ_{}_{suffix}", kind.as_str().to_uppercase());
        let images_var = var("IMAGES");
        let buckets_var = var("BUCKETS");
        let allowed_buckets: BTreeSet<String> = self
            .required(&buckets_var)?
            .split(',')
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        if let Some(bad) = allowed_buckets
            .iter()
            .find(|b| split_s3_uri(&format!("s3://{b}/")).is_none())
        {
            return Err(ConfigError::new(
                &buckets_var,
                format!("has an invalid bucket name `{bad}`"),
            ));
        }
        let policy_var = var("POLICY");
        let policy = match self.optional(&policy_var) {
            None => PolicyJson::default(),
            Some(json) => PolicyJson::parse(&policy_var, &json)?,
        };
        let config = RegistryConfig {
            kind,
            ecr_registry: self.required(&var("ECR_REGISTRY"))?,
            images: parse_images(&images_var, &self.required(&images_var)?)?,
            allowed_buckets,
            output_s3_uri: self.s3_uri(&var("OUTPUT_S3_URI"))?,
            checkpoint_s3_uri: self.s3_uri(&var("CHECKPOINT_S3_URI"))?,
            execution_role_arn: self.required(&var("ROLE_ARN"))?,
            model_package_group_prefix: self.group_prefix(&var("MODEL_GROUP_PREFIX"))?,
            trust: RegistryTrust::new(
                Senders::parse(&var("SENDERS"), &self.required(&var("SENDERS"))?)?,
                self.data_scope(&var("DATA_PREFIX"))?,
                policy.customer_senders(),
                &policy_var,
            )?,
            approval: policy.approval(&policy_var)?,
        };
        check_gate_metrics(&policy_var, &config)?;
        if !config.execution_role_arn.starts_with("arn:") {
            return Err(ConfigError::new(
                &var("ROLE_ARN"),
                "must be an IAM role ARN",
            ));
        }
        Ok(config)
    }

    /// `_DATA_PREFIX`: where a customer's data lives, if the registry says.
    fn data_scope(&self, name: &str) -> Result<Option<DataScope>, ConfigError> {
        self.optional(name)
            .map(|t| DataScope::parse(name, &t))
            .transpose()
    }

    /// A model package group prefix: 1–20 of `A-Za-z0-9-`, starting with a letter or digit
    /// (group names are `<prefix>-<customer>-<project>`, at most 63 characters).
    fn group_prefix(&self, name: &str) -> Result<String, ConfigError> {
        let v = self.required(name)?;
        // No `--` and no hyphen at either end: group names use `--` between customer and
        // project, and must split back one way (naming::model_package_group_name).
        let ok = v.len() <= 20
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !v.contains("--")
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(v)
        } else {
            Err(ConfigError::new(
                name,
                format!(
                    "must be 1–20 of `A-Za-z0-9` with single inner hyphens, starting and ending with a letter or digit (got `{v}`)"
                ),
            ))
        }
    }

    fn s3_uri(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.required(name)?;
        match split_s3_uri(&value) {
            Some(_) => Ok(value.trim_end_matches('/').to_owned()),
            None => Err(ConfigError::new(
                name,
                format!("must be an s3://bucket/prefix URI (got `{value}`)"),
            )),
        }
    }
}

/// Every gate of the policy must name a metric some image of the registry reports: a gate on
/// a metric no job reports would hold every model, silently.
fn check_gate_metrics(variable: &str, config: &RegistryConfig) -> Result<(), ConfigError> {
    let known: BTreeSet<&str> = config
        .images
        .values()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    let policy = &config.approval;
    let gates = policy.gate.iter().chain(
        policy
            .customers
            .values()
            .flat_map(|c| c.gate.iter().chain(c.projects.values())),
    );
    for gate in gates {
        if !known.contains(gate.metric.as_str()) {
            return Err(ConfigError::new(
                variable,
                format!(
                    "gates on `{}`, which no image of the {} registry reports (known: {})",
                    gate.metric,
                    config.kind,
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `{"repository": ["metric", {"name": "m", "regex": "r"}], …}`: a bare metric name uses
/// trainq's `name=value` log convention.
fn parse_images(
    variable: &str,
    json: &str,
) -> Result<BTreeMap<String, Vec<MetricDefinition>>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Metric {
        Name(String),
        Full(MetricDefinition),
    }
    let raw: BTreeMap<String, Vec<Metric>> = serde_json::from_str(json).map_err(|e| {
        ConfigError::new(
            variable,
            format!("must be a JSON object of repository → metric names ({e})"),
        )
    })?;
    if raw.is_empty() {
        return Err(ConfigError::new(
            variable,
            "must allow at least one repository",
        ));
    }
    raw.into_iter()
        .map(|(repo, metrics)| {
            let defs: Vec<MetricDefinition> = metrics
                .into_iter()
                .map(|m| match m {
                    Metric::Name(n) => MetricDefinition::conventional(&n),
                    Metric::Full(d) => d,
                })
                .collect();
            check_metric_definitions(variable, &repo, &defs)?;
            Ok((repo, defs))
        })
        .collect()
}

/// SageMaker's limits on `AlgorithmSpecification.MetricDefinitions` (botocore:
/// `MetricDefinitionList` ≤ 40, `MetricName` 1–255, `MetricRegex` 1–500): a definition
/// beyond them would make every CreateTrainingJob of the repository fail, so the
/// configuration is refused when it loads.
fn check_metric_definitions(
    variable: &str,
    repository: &str,
    defs: &[MetricDefinition],
) -> Result<(), ConfigError> {
    const MAX_DEFINITIONS: usize = 40;
    const MAX_NAME: usize = 255;
    const MAX_REGEX: usize = 500;
    let refuse = |why: String| {
        Err(ConfigError::new(
            variable,
            format!("repository `{repository}`: {why}"),
        ))
    };
    if defs.len() > MAX_DEFINITIONS {
        return refuse(format!(
            "{} metric definitions; SageMaker allows at most {MAX_DEFINITIONS}",
            defs.len()
        ));
    }
    for d in defs {
        let name = d.name.encode_utf16().count();
        if !(1..=MAX_NAME).contains(&name) {
            return refuse(format!(
                "metric name `{}` must be 1–{MAX_NAME} characters (is {name})",
                d.name
            ));
        }
        let regex = d.regex.encode_utf16().count();
        if !(1..=MAX_REGEX).contains(&regex) {
            return refuse(format!(
                "the regex of metric `{}` must be 1–{MAX_REGEX} characters (is {regex})",
                d.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{sample_env, sample_registries};

    fn registries_with(
        change: impl FnOnce(&mut BTreeMap<&'static str, &'static str>),
    ) -> Result<Registries, ConfigError> {
        let mut env = sample_env();
        change(&mut env);
        Env::from_fn(|k| env.get(k).map(|v| v.to_string())).registries()
    }

    #[test]
    fn a_complete_environment_loads_both_registries() {
        let r = sample_registries();
        assert_eq!(r.production.output_s3_uri, "s3://prod-models/output");
        assert!(r.production.allowed_buckets.contains("prod-data-2"));
        assert_eq!(
            r.research.metric_definitions("exp-net")[0].regex,
            "F1: ([0-9.]+)"
        );
        assert_eq!(
            r.production.metric_definitions("defect-classifier").len(),
            2
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let e = registries_with(|env| {
            env.remove("TRAINQ_RESEARCH_ROLE_ARN");
        })
        .unwrap_err();
        assert_eq!(e.variable, "TRAINQ_RESEARCH_ROLE_ARN");
        assert_eq!(
            e.to_string(),
            "configuration variable `TRAINQ_RESEARCH_ROLE_ARN` is not set"
        );
    }

    #[test]
    fn malformed_variables_are_named() {
        let cases: [(&str, &str); 8] = [
            ("TRAINQ_PRODUCTION_IMAGES", "not json"),
            ("TRAINQ_PRODUCTION_IMAGES", "{}"),
            ("TRAINQ_PRODUCTION_OUTPUT_S3_URI", "/tmp/out"),
            ("TRAINQ_PRODUCTION_BUCKETS", "Bad_Bucket"),
            ("TRAINQ_PRODUCTION_ROLE_ARN", "trainq-prod"),
            ("TRAINQ_PRODUCTION_MODEL_GROUP_PREFIX", "-prod"),
            ("TRAINQ_PRODUCTION_MODEL_GROUP_PREFIX", "prod-"),
            ("TRAINQ_PRODUCTION_MODEL_GROUP_PREFIX", "prod--x"),
        ];
        for (var, value) in cases {
            let e = registries_with(|env| {
                env.insert(var, value);
            })
            .unwrap_err();
            assert_eq!(e.variable, var, "{e}");
        }
    }

    #[test]
    fn registries_may_not_share_a_bucket() {
        let e = registries_with(|env| {
            env.insert("TRAINQ_RESEARCH_BUCKETS", "research-data,prod-data");
        })
        .unwrap_err();
        assert_eq!(e.variable, "TRAINQ_RESEARCH_BUCKETS");
        assert!(e.problem.contains("prod-data"));
    }

    #[test]
    fn registries_may_not_share_model_groups() {
        let e = registries_with(|env| {
            env.insert("TRAINQ_RESEARCH_MODEL_GROUP_PREFIX", "prod-r");
        })
        .unwrap_err();
        assert_eq!(e.variable, "TRAINQ_RESEARCH_MODEL_GROUP_PREFIX");
        assert!(e.problem.contains("overlaps"), "{e}");
    }

    #[test]
    fn metric_definitions_beyond_sagemakers_limits_are_refused_at_load() {
        let many: &'static str = Box::leak(
            format!(
                "{{\"defect-classifier\": [{}]}}",
                (0..41)
                    .map(|i| format!("\"m{i}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .into_boxed_str(),
        );
        let e = registries_with(|env| {
            env.insert("TRAINQ_PRODUCTION_IMAGES", many);
        })
        .unwrap_err();
        assert_eq!(e.variable, "TRAINQ_PRODUCTION_IMAGES");
        assert!(e.problem.contains("at most 40"), "{e}");
        let long_regex: &'static str = Box::leak(
            format!(
                "{{\"defect-classifier\": [{{\"name\": \"m\", \"regex\": \"{}\"}}]}}",
                "x".repeat(501)
            )
            .into_boxed_str(),
        );
        let e = registries_with(|env| {
            env.insert("TRAINQ_PRODUCTION_IMAGES", long_regex);
        })
        .unwrap_err();
        assert!(e.problem.contains("1–500"), "{e}");
    }

    #[test]
    fn numbers_default_and_refuse_garbage() {
        let env = Env::from_fn(|k| (k == "BAD").then(|| "ten".to_owned()));
        assert_eq!(env.number_or("UNSET", 7), Ok(7));
        assert_eq!(env.number_or("BAD", 7).unwrap_err().variable, "BAD");
        let env = Env::from_fn(|k| (k == "BIG").then(|| "5000".to_owned()));
        assert_eq!(env.number_in("UNSET", 7, 1, 10), Ok(7));
        let e = env.number_in("BIG", 7, 1, 3600).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration variable `BIG` must be between 1 and 3600 (got 5000)"
        );
    }
}
