//! Model registration: where a completed request's model goes (a package group per registry,
//! customer and project), what the package carries, and whether the policy's gate (see
//! [`crate::approval`]) lets it through. Pure: the watcher builds the spec here and hands it to the
//! [`crate::ports::ModelRegistry`] port.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::approval::{Champion, Compatibility, GateDecision, decide};
use crate::aws_text;
use crate::naming::{self, model_package_group_name};
use crate::record::{Attempt, JobRecord};
use crate::registry::RegistryConfig;
use crate::request::TrainingRequest;

/// SageMaker's limits on `CustomerMetadataProperties` (botocore's `CustomerMetadataMap`).
const MAX_METADATA_ENTRIES: usize = 50;
const MAX_METADATA_KEY: usize = 128;
const MAX_METADATA_VALUE: usize = 256;
/// SageMaker's limit on `ModelPackageDescription` (`EntityDescription`).
const MAX_DESCRIPTION: usize = 1024;

/// Prefix of the metadata keys that carry final metrics (`metric:validation:accuracy`).
pub const METRIC_KEY_PREFIX: &str = "metric:";

/// The final metrics a package was registered with, from its metadata (`metric:<name>`);
/// values that are not numbers are left out.
pub fn metrics_of<'a>(
    metadata: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, f64> {
    metadata
        .into_iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix(METRIC_KEY_PREFIX)?.to_owned(),
                v.parse().ok()?,
            ))
        })
        .collect()
}

/// A model package's approval status, as SageMaker spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    /// Deployable.
    Approved,
    /// Waits for a person (`trainq models approve`).
    PendingManualApproval,
}

impl ApprovalStatus {
    /// SageMaker's `ModelApprovalStatus` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "Approved",
            Self::PendingManualApproval => "PendingManualApproval",
        }
    }
}

/// Everything CreateModelPackage (and the group it goes into) needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPackageSpec {
    /// The model package group: `<registry prefix>-<customer>-<project>`.
    pub group: String,
    /// The group's description, used when it is created.
    pub group_description: String,
    /// Tags of the group: request-independent (`trainq:registry`, customer, project).
    pub group_tags: Vec<(String, String)>,
    /// The package description; it names the job, which is how a package already registered
    /// for this job is found again (see [`Self::job_name`]).
    pub description: String,
    /// The training job whose model this is: the registration's idempotency key.
    pub job_name: String,
    /// CreateModelPackage's `ClientToken`, derived from the job name (AWS allows 36
    /// characters; the job name has up to 46).
    pub client_token: String,
    /// The image, in the request's own registry.
    pub image_uri: String,
    /// `model.tar.gz` of the completed job.
    pub model_data_url: String,
    /// From the approval gate.
    pub approval: ApprovalStatus,
    /// `CustomerMetadataProperties`: request id, job, dataset, experiment, final metrics.
    pub metadata: BTreeMap<String, String>,
    /// The job's end (epoch ms): no package for it can be older, which bounds the lookup.
    pub not_before_ms: i64,
}

/// Why a completed request cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistrationError {
    /// The record keeps no validated request.
    #[error("the record keeps no request")]
    NoRequest,
    /// No attempt of the record completed.
    #[error("no attempt of the request completed")]
    NoCompletedAttempt,
    /// The completed attempt has no model artifact.
    #[error("job `{0}` completed without a model artifact")]
    NoArtifact(String),
    /// The registry config given is not the request's (a research request must never reach a
    /// production group).
    #[error("a `{request}` request cannot be registered in the `{given}` registry")]
    WrongRegistry {
        /// The request's registry.
        request: &'static str,
        /// The registry config passed in.
        given: &'static str,
    },
}

/// The completed attempt of a record (the newest one with status `Completed`).
pub fn completed_attempt(record: &JobRecord) -> Option<&Attempt> {
    record
        .attempts
        .iter()
        .rev()
        .find(|a| a.status.as_deref() == Some("Completed"))
}

/// The model package group of `request` in `registry`.
pub fn group_of(request: &TrainingRequest, registry: &RegistryConfig) -> String {
    model_package_group_name(
        &registry.model_package_group_prefix,
        &request.customer,
        &request.project,
    )
}

/// Where a request's model in service (the champion) may be: its group, then the group
/// version 1 named for it (groups cannot be renamed; see
/// [`crate::naming::legacy_model_package_group_name`]), newest approved package first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChampionLookup {
    /// Groups to look in, in order; the first with a champion wins.
    pub groups: Vec<String>,
    /// The job being registered: its own package (an earlier try) is not its champion.
    pub job_name: String,
    /// The request's customer: a package that names another is not its champion.
    pub customer: String,
    /// The request's project, likewise.
    pub project: String,
}

impl ChampionLookup {
    /// The lookup for `request`'s job `job_name` in `registry`.
    pub fn of(request: &TrainingRequest, registry: &RegistryConfig, job_name: &str) -> Self {
        let group = group_of(request, registry);
        let legacy = crate::naming::legacy_model_package_group_name(
            &registry.model_package_group_prefix,
            &request.customer,
            &request.project,
        );
        let mut groups = vec![group];
        if legacy != groups[0] {
            groups.push(legacy);
        }
        Self {
            groups,
            job_name: job_name.to_owned(),
            customer: request.customer.clone(),
            project: request.project.clone(),
        }
    }

    /// Whether a package may be the champion, by what its customer metadata says
    /// (`trainq:customer`, `trainq:project`): it must not be another customer's or project's
    /// (a version-1 group may hold both).
    pub fn admits(&self, customer: Option<&str>, project: Option<&str>) -> bool {
        customer.is_none_or(|c| c == self.customer) && project.is_none_or(|p| p == self.project)
    }
}

/// What the watcher found out before registering a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// The group's model in service.
    pub champion: Option<Champion>,
    /// The new model's manifest against the one in service's (`None`: not checked).
    pub compatibility: Option<Compatibility>,
    /// `sha256:…` of the new model's manifest.
    pub manifest_digest: Option<String>,
}

/// The package to register for a completed record, and the gate's decision.
pub fn package_spec(
    record: &JobRecord,
    registry: &RegistryConfig,
    evidence: &Evidence,
) -> Result<(ModelPackageSpec, GateDecision), RegistrationError> {
    let request = record
        .request
        .as_ref()
        .ok_or(RegistrationError::NoRequest)?;
    if request.registry != registry.kind {
        return Err(RegistrationError::WrongRegistry {
            request: request.registry.as_str(),
            given: registry.kind.as_str(),
        });
    }
    let attempt = completed_attempt(record).ok_or(RegistrationError::NoCompletedAttempt)?;
    let model_data_url = attempt
        .model_artifact
        .clone()
        .ok_or_else(|| RegistrationError::NoArtifact(attempt.job_name.clone()))?;
    let gate = registry
        .approval
        .gate_for(&request.customer, &request.project);
    let mut decision = decide(
        gate,
        request.approval.as_ref(),
        &attempt.final_metrics,
        evidence.champion.as_ref(),
    );
    if let Some(verdict) = &evidence.compatibility {
        decision = decision.with_compatibility(verdict.clone(), registry.approval.manifest);
    }

    // Keys and values in the characters AWS accepts (no commas, quotes, `≥`…); the held
    // reason in full goes into the description, which allows punctuation and symbols.
    let mut metadata = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        let key = aws_text::tag_value(k, MAX_METADATA_KEY);
        let value = aws_text::tag_value(v, MAX_METADATA_VALUE);
        if let (Some(key), Some(value)) = (key, value)
            && metadata.len() < MAX_METADATA_ENTRIES
        {
            metadata.insert(key, value);
        }
    };
    put("trainq:request-id", &record.request_id.to_string());
    put("trainq:job-name", &attempt.job_name);
    put("trainq:attempt", &attempt.number.to_string());
    put("trainq:instance-type", &attempt.instance_type);
    put("trainq:registry", request.registry.as_str());
    put("trainq:customer", &request.customer);
    put("trainq:project", &request.project);
    put("trainq:dataset-version", &request.dataset.version);
    if let Some(origin) = &request.origin {
        if let Some(key) = &origin.dedupe_key {
            put("trainq:dedupe-key", key);
        }
        if let Some(signal) = &origin.signal {
            put("trainq:signal", signal);
        }
    }
    for (channel, digest) in &request.dataset.digests {
        put(&format!("trainq:data-digest:{channel}"), digest);
    }
    put("trainq:image", &request.image);
    if let Some(exp) = &request.experiment {
        put("trainq:experiment", &exp.id);
        if let Some(trial) = &exp.trial {
            put("trainq:trial", trial);
        }
    }
    if let Some(why) = &decision.held {
        put("trainq:held-by-gate", why);
    }
    if let Some(c) = evidence.champion.as_ref() {
        put("trainq:champion", &c.package_arn);
    }
    if let Some(digest) = &evidence.manifest_digest {
        put("trainq:manifest-digest", digest);
    }
    if let Some(verdict) = &decision.compatibility {
        put("trainq:compatibility", &verdict.label());
    }
    for (name, value) in &attempt.final_metrics {
        put(&format!("{METRIC_KEY_PREFIX}{name}"), &value.to_string());
    }

    let group = group_of(request, registry);
    let spec = ModelPackageSpec {
        group_description: format!(
            "trainq {} models of {}/{}",
            request.registry, request.customer, request.project
        ),
        group_tags: vec![
            ("trainq:registry".into(), request.registry.as_str().into()),
            ("trainq:customer".into(), request.customer.clone()),
            ("trainq:project".into(), request.project.clone()),
        ],
        description: package_description(
            &attempt.job_name,
            &request.dataset.version,
            decision.held.as_deref(),
        ),
        client_token: naming::registration_client_token(&attempt.job_name),
        job_name: attempt.job_name.clone(),
        image_uri: registry.image_uri(&request.image),
        model_data_url,
        approval: decision.status,
        metadata,
        not_before_ms: attempt_end_ms(attempt),
        group,
    };
    Ok((spec, decision))
}

/// The package description: it starts with the job name, which the lookup matches on, and
/// says in full why the gate held the model, if it did.
pub fn package_description(job_name: &str, dataset_version: &str, held: Option<&str>) -> String {
    let mut text = format!("{job_name}: trained by trainq on dataset {dataset_version}");
    if let Some(why) = held {
        text.push_str(&format!(". Held by its approval gate: {why}"));
    }
    aws_text::description(&text, MAX_DESCRIPTION)
}

/// Whether a package description says it holds `job_name`'s model.
pub fn describes_job(description: &str, job_name: &str) -> bool {
    description
        .strip_prefix(job_name)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// The attempt's end in epoch ms, less a margin for clocks; 0 (no bound) when unknown.
fn attempt_end_ms(attempt: &Attempt) -> i64 {
    const CLOCK_MARGIN_MS: i64 = 10 * 60 * 1000;
    attempt
        .ended_at
        .as_deref()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |t| (t.unix_timestamp() * 1000 - CLOCK_MARGIN_MS).max(0))
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
