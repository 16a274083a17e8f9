//! Checks a parsed request against its registry: allow-lists, SageMaker's limits and trainq's
//! own rules. Runs in the dispatcher and, before sending, in the CLI.

use uuid::Uuid;

use super::ident::{check_label, check_slug, shorten};
use super::{RequestError, TrainingRequest};
use crate::instance_types;
use crate::registry::{Registries, RegistryConfig, split_s3_uri};

/// SageMaker's limits on hyperparameters.
const MAX_HYPERPARAMETERS: usize = 100;
const MAX_HYPERPARAMETER_KEY: usize = 256;
const MAX_HYPERPARAMETER_VALUE: usize = 2500;
/// SageMaker allows at most 20 input channels.
const MAX_CHANNELS: usize = 20;
/// SageMaker's longest MaxRuntimeInSeconds / MaxWaitTimeInSeconds (28 days).
pub(crate) const MAX_RUNTIME_S: u32 = 28 * 24 * 3600;
const MIN_RUNTIME_S: u32 = 60;
const MAX_FALLBACKS: usize = 5;
/// SageMaker's longest image URI (`AlgorithmImage`, `ContainerImage`: 255 characters).
const MAX_IMAGE_URI: usize = 255;
/// SageMaker's longest S3 URI (`S3Uri`: 1,024 characters).
const MAX_S3_URI: usize = 1024;
/// How much longer than its runtime a spot job may wait for capacity, at least. SageMaker
/// counts MaxWaitTimeInSeconds from the job's start, waiting and interruptions included, so
/// with MaxWait = MaxRuntime any wait for spot capacity cuts the training short and the job
/// ends `MaxWaitTimeExceeded` after being billed. One hour covers a typical spot wait and a
/// resume from checkpoint; requests that set `max_wait_s` must leave at least this much.
pub(crate) const SPOT_WAIT_MARGIN_S: u32 = 3600;
const MAX_ATTEMPTS: u32 = 10;
/// The most a request may take as kept in its record (canonical JSON): half the 256 KiB an
/// SQS message may hold, so the record (DynamoDB's items hold 400 KB) keeps room for its
/// attempts, refusals and outbox however long its history grows.
pub const MAX_REQUEST_BYTES: usize = 128 * 1024;

/// A request that passed validation, with its request id resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    /// The request's id: the client's `request_id`, or one derived from the SQS message id.
    pub request_id: Uuid,
    /// The request as sent.
    pub request: TrainingRequest,
}

/// Validates `request` against the registry it names. `fallback_id` becomes the request id
/// when the request carries none (and no `origin.dedupe_key` to derive it from).
pub fn validate(
    request: TrainingRequest,
    registries: &Registries,
    fallback_id: Uuid,
) -> Result<ValidRequest, RequestError> {
    let registry = registries.get(request.registry);
    check_slug("customer", &request.customer, 32)?;
    check_slug("project", &request.project, 32)?;
    let repository = check_image(&request.image, registry, registries)?;
    check_dataset(&request, registry, registries)?;
    check_hyperparameters(&request)?;
    check_resources(&request)?;
    check_size(&request)?;
    if let Some(exp) = &request.experiment {
        check_label("experiment.id", &exp.id, 64, b"")?;
        if let Some(trial) = &exp.trial {
            check_label("experiment.trial", trial, 128, b" ,/")?;
        }
    } else if request.reason == super::Reason::Experiment {
        return Err(RequestError::new(
            "experiment",
            "is required when `reason` is `experiment`",
        ));
    }
    if let Some(gate) = &request.approval {
        let known = registry.metric_definitions(repository);
        if !known.iter().any(|m| m.name == gate.metric) {
            let names: Vec<_> = known.iter().map(|m| m.name.as_str()).collect();
            return Err(RequestError::new(
                "approval.metric",
                format!(
                    "`{}` is not a metric of image `{repository}` (known: {})",
                    shorten(&gate.metric),
                    names.join(", ")
                ),
            ));
        }
        if !gate.min.is_finite() {
            return Err(RequestError::new("approval.min", "must be a finite number"));
        }
    }
    if let Some(max) = request.retry.as_ref().and_then(|r| r.max_attempts)
        && !(1..=MAX_ATTEMPTS).contains(&max)
    {
        return Err(RequestError::new(
            "retry.max_attempts",
            format!("must be between 1 and {MAX_ATTEMPTS} (got {max})"),
        ));
    }
    if let Some(rank) = request.priority {
        range("priority", rank, 0, MAX_PRIORITY_RANK)?;
    }
    if let Some(wait) = request.max_queue_s {
        range("max_queue_s", wait, MIN_QUEUE_S, MAX_QUEUE_S)?;
    }
    Ok(ValidRequest {
        request_id: super::lineage::check(&request, fallback_id)?,
        request,
    })
}

/// Checks `repository:tag` / `repository@sha256:…` and returns the repository.
fn check_image<'a>(
    image: &'a str,
    registry: &RegistryConfig,
    registries: &Registries,
) -> Result<&'a str, RequestError> {
    const FIELD: &str = "image";
    let (repository, reference) = image
        .split_once('@')
        .or_else(|| image.rsplit_once(':'))
        .ok_or_else(|| {
            RequestError::new(
                FIELD,
                format!("must be `repository:tag` (got `{}`)", shorten(image)),
            )
        })?;
    let first = repository.split('/').next().unwrap_or_default();
    if repository.contains('/') && (first.contains('.') || first.contains(':'))
        || image.contains("://")
    {
        return Err(RequestError::new(
            FIELD,
            format!(
                "must be `repository:tag` inside the {} registry, not a full image URI (got `{}`)",
                registry.kind,
                shorten(image)
            ),
        ));
    }
    let reference_ok = if let Some(digest) = reference.strip_prefix("sha256:") {
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        !reference.is_empty()
            && reference.len() <= 128
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if !reference_ok {
        return Err(RequestError::new(
            FIELD,
            format!("has an invalid tag or digest `{}`", shorten(reference)),
        ));
    }
    if registry.images.contains_key(repository) {
        let uri = registry.image_uri(image).encode_utf16().count();
        if uri > MAX_IMAGE_URI {
            return Err(RequestError::new(
                FIELD,
                format!(
                    "makes an image URI of {uri} characters in the {} registry; SageMaker allows at most {MAX_IMAGE_URI}",
                    registry.kind
                ),
            ));
        }
        return Ok(repository);
    }
    let other = registries.get(registry.kind.other());
    let hint = if other.images.contains_key(repository) {
        format!("; it belongs to the {} registry", other.kind)
    } else {
        String::new()
    };
    Err(RequestError::new(
        FIELD,
        format!(
            "repository `{}` is not in the {} registry's allow-list{hint}",
            shorten(repository),
            registry.kind
        ),
    ))
}

fn check_dataset(
    request: &TrainingRequest,
    registry: &RegistryConfig,
    registries: &Registries,
) -> Result<(), RequestError> {
    let dataset = &request.dataset;
    check_label("dataset.version", &dataset.version, 128, b"")?;
    if dataset.channels.is_empty() || dataset.channels.len() > MAX_CHANNELS {
        return Err(RequestError::new(
            "dataset.channels",
            format!(
                "must name 1 to {MAX_CHANNELS} channels (got {})",
                dataset.channels.len()
            ),
        ));
    }
    for (name, uri) in &dataset.channels {
        let field = format!("dataset.channels.{}", shorten(name));
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return Err(RequestError::new(
                field,
                "channel names must be 1-64 characters of A-Z, a-z, 0-9 and `._-`",
            ));
        }
        let length = uri.encode_utf16().count();
        if length > MAX_S3_URI {
            return Err(RequestError::new(
                field,
                format!("is {length} characters; SageMaker allows S3 URIs of at most {MAX_S3_URI}"),
            ));
        }
        if let Some(c) = uri
            .chars()
            .find(|c| c.is_control() || is_line_terminator(*c))
        {
            return Err(RequestError::new(
                field,
                format!(
                    "must not contain control characters (found U+{:04X})",
                    u32::from(c)
                ),
            ));
        }
        let Some((bucket, key)) = split_s3_uri(uri) else {
            return Err(RequestError::new(
                field,
                format!("must be an s3://bucket/prefix URI (got `{}`)", shorten(uri)),
            ));
        };
        if !registry.allowed_buckets.contains(bucket) {
            let other = registries.get(registry.kind.other());
            let hint = if other.allowed_buckets.contains(bucket) {
                format!("; it belongs to the {} registry", other.kind)
            } else {
                String::new()
            };
            return Err(RequestError::new(
                field,
                format!(
                    "bucket `{bucket}` is not allowed for the {} registry{hint} (allowed: {})",
                    registry.kind,
                    list(&registry.allowed_buckets)
                ),
            ));
        }
        if let Some(scope) = &registry.trust.data
            && !scope.contains(&request.customer, &request.project, key)
        {
            let prefix = scope.prefix(&request.customer, &request.project);
            return Err(RequestError::new(
                field,
                format!(
                    "`{}` is outside customer `{}`'s data: the {} registry keeps it under `s3://<bucket>/{prefix}` (buckets: {})",
                    shorten(uri),
                    request.customer,
                    registry.kind,
                    list(&registry.allowed_buckets)
                ),
            ));
        }
    }
    Ok(())
}

/// The entries of an allow-list, for a refusal that says what would be accepted.
fn list(items: &std::collections::BTreeSet<String>) -> String {
    items
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_size(request: &TrainingRequest) -> Result<(), RequestError> {
    let size = serde_json::to_vec(request).map_or(0, |v| v.len());
    if size > MAX_REQUEST_BYTES {
        return Err(RequestError::new(
            "(body)",
            format!(
                "the request takes {size} bytes as kept; at most {MAX_REQUEST_BYTES} (hyperparameters are most of it: long values belong in a file of the dataset)"
            ),
        ));
    }
    Ok(())
}

fn check_hyperparameters(request: &TrainingRequest) -> Result<(), RequestError> {
    let hp = &request.hyperparameters;
    if hp.len() > MAX_HYPERPARAMETERS {
        return Err(RequestError::new(
            "hyperparameters",
            format!("at most {MAX_HYPERPARAMETERS} entries (got {})", hp.len()),
        ));
    }
    // SageMaker counts characters as Java does, in UTF-16 code units.
    for (key, value) in hp {
        let value_len = value.encode_utf16().count();
        if key.is_empty() || key.encode_utf16().count() > MAX_HYPERPARAMETER_KEY {
            return Err(RequestError::new(
                format!("hyperparameters.{}", shorten(key)),
                format!("keys must be 1-{MAX_HYPERPARAMETER_KEY} characters"),
            ));
        }
        // SageMaker's pattern for both is Java's `.*`, which stops at a line terminator.
        if let Some(c) = key
            .chars()
            .chain(value.chars())
            .find(|c| is_line_terminator(*c))
        {
            return Err(RequestError::new(
                format!("hyperparameters.{}", shorten(key)),
                format!(
                    "keys and values must be one line: no line terminator (found U+{:04X})",
                    u32::from(c)
                ),
            ));
        }
        if value_len > MAX_HYPERPARAMETER_VALUE {
            return Err(RequestError::new(
                format!("hyperparameters.{}", shorten(key)),
                format!(
                    "values must be at most {MAX_HYPERPARAMETER_VALUE} characters (got {value_len})"
                ),
            ));
        }
    }
    Ok(())
}

fn check_resources(request: &TrainingRequest) -> Result<(), RequestError> {
    let r = &request.resources;
    let known = |field: &str, name: &str| {
        if instance_types::is_known(name) {
            Ok(())
        } else {
            Err(RequestError::new(
                field,
                format!(
                    "`{}` is not a known SageMaker training instance type",
                    shorten(name)
                ),
            ))
        }
    };
    known("resources.instance_type", &r.instance_type)?;
    range("resources.instance_count", r.instance_count, 1, 20)?;
    range("resources.volume_gb", r.volume_gb, 1, 16_384)?;
    // A spot job needs room to wait within SageMaker's 28 days (see SPOT_WAIT_MARGIN_S).
    let longest_runtime = if r.spot {
        MAX_RUNTIME_S - SPOT_WAIT_MARGIN_S
    } else {
        MAX_RUNTIME_S
    };
    range(
        "resources.max_runtime_s",
        r.max_runtime_s,
        MIN_RUNTIME_S,
        longest_runtime,
    )?;
    match (r.spot, r.max_wait_s) {
        (false, Some(_)) => {
            return Err(RequestError::new(
                "resources.max_wait_s",
                "applies only to spot training (`resources.spot: true`)",
            ));
        }
        (true, Some(wait)) => range(
            "resources.max_wait_s",
            wait,
            r.max_runtime_s + SPOT_WAIT_MARGIN_S,
            MAX_RUNTIME_S,
        )?,
        _ => {}
    }
    if r.fallback_instance_types.len() > MAX_FALLBACKS {
        return Err(RequestError::new(
            "resources.fallback_instance_types",
            format!("at most {MAX_FALLBACKS} entries"),
        ));
    }
    for (i, name) in r.fallback_instance_types.iter().enumerate() {
        let field = format!("resources.fallback_instance_types[{i}]");
        known(&field, name)?;
        if *name == r.instance_type || r.fallback_instance_types[..i].contains(name) {
            return Err(RequestError::new(
                field,
                format!("`{name}` is listed twice"),
            ));
        }
    }
    Ok(())
}

/// The largest priority rank a request may ask for (ranks past the configured classes mean
/// the lowest class).
const MAX_PRIORITY_RANK: u32 = 99;
/// The shortest `max_queue_s`: a minute (the reconcile's granularity).
const MIN_QUEUE_S: u32 = 60;
/// The longest `max_queue_s`: 30 days.
const MAX_QUEUE_S: u32 = 2_592_000;

/// The characters Java's `.` does not match, which AWS's `.*` patterns therefore refuse.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn range(field: &str, value: u32, min: u32, max: u32) -> Result<(), RequestError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(RequestError::new(
            field,
            format!("must be between {min} and {max} (got {value})"),
        ))
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
