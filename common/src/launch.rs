//! The launch plan: what CreateTrainingJob is asked for one attempt of a request. The
//! SageMaker adapter maps it field by field; nothing else decides how a job is configured.

use std::collections::BTreeMap;

use crate::naming;
use crate::registry::{MetricDefinition, RegistryConfig};
use crate::request::ValidRequest;
use crate::request::validate::{MAX_RUNTIME_S, SPOT_WAIT_MARGIN_S};

/// One rung of the fallback ladder: an instance type, on spot or on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// The instance type.
    pub instance_type: String,
    /// Managed spot or on demand.
    pub spot: bool,
}

impl Rung {
    /// The first rung: the request's own instance type and spot choice.
    pub fn first(request: &ValidRequest) -> Self {
        Self {
            instance_type: request.request.resources.instance_type.clone(),
            spot: request.request.resources.spot,
        }
    }
}

/// Everything CreateTrainingJob needs for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingJobSpec {
    /// Deterministic job name (the launch's idempotency key).
    pub job_name: String,
    /// Full image URI in the request's registry.
    pub image_uri: String,
    /// The registry's execution role.
    pub role_arn: String,
    /// Hyperparameters as sent.
    pub hyperparameters: BTreeMap<String, String>,
    /// Channel name → S3 prefix.
    pub channels: BTreeMap<String, String>,
    /// Where the model artifact goes.
    pub output_s3_uri: String,
    /// The request's checkpoint prefix, shared by all attempts.
    pub checkpoint_s3_uri: String,
    /// Instance type of this attempt.
    pub instance_type: String,
    /// Instance count.
    pub instance_count: u32,
    /// Volume per instance in GB.
    pub volume_gb: u32,
    /// MaxRuntimeInSeconds.
    pub max_runtime_s: u32,
    /// Managed spot training.
    pub spot: bool,
    /// MaxWaitTimeInSeconds (spot only; ≥ `max_runtime_s`).
    pub max_wait_s: Option<u32>,
    /// Metric definitions of the image's repository.
    pub metric_definitions: Vec<MetricDefinition>,
    /// Tags: `trainq:request-id`, `trainq:customer`, `trainq:project`, `trainq:registry`,
    /// `trainq:attempt`, plus the experiment when there is one.
    pub tags: Vec<(String, String)>,
}

/// The plan for attempt `attempt` of `valid` on `rung`, in `registry` (the request's own).
pub fn plan(
    valid: &ValidRequest,
    registry: &RegistryConfig,
    attempt: u32,
    rung: &Rung,
) -> TrainingJobSpec {
    let req = &valid.request;
    let res = &req.resources;
    let repository = req
        .image
        .split_once('@')
        .or_else(|| req.image.rsplit_once(':'))
        .map_or(req.image.as_str(), |(repo, _)| repo);
    // Twice the runtime by default, and never less than the runtime plus the margin a spot
    // job needs to wait for capacity (validation keeps both within SageMaker's 28 days).
    let max_wait_s = rung.spot.then(|| {
        res.max_wait_s
            .unwrap_or_else(|| res.max_runtime_s.saturating_mul(2))
            .max(res.max_runtime_s.saturating_add(SPOT_WAIT_MARGIN_S))
            .min(MAX_RUNTIME_S)
    });
    let mut tags = vec![
        ("trainq:request-id".to_owned(), valid.request_id.to_string()),
        ("trainq:customer".to_owned(), req.customer.clone()),
        ("trainq:project".to_owned(), req.project.clone()),
        ("trainq:registry".to_owned(), req.registry.to_string()),
        ("trainq:attempt".to_owned(), attempt.to_string()),
    ];
    if let Some(exp) = &req.experiment {
        tags.push(("trainq:experiment".to_owned(), exp.id.clone()));
    }
    TrainingJobSpec {
        job_name: naming::job_name(valid.request_id, attempt),
        image_uri: registry.image_uri(&req.image),
        role_arn: registry.execution_role_arn.clone(),
        hyperparameters: req.hyperparameters.clone(),
        channels: req.dataset.channels.clone(),
        output_s3_uri: naming::output_uri(registry, &req.customer, &req.project),
        checkpoint_s3_uri: naming::checkpoint_uri(
            registry,
            &req.customer,
            &req.project,
            valid.request_id,
        ),
        instance_type: rung.instance_type.clone(),
        instance_count: res.instance_count,
        volume_gb: res.volume_gb,
        max_runtime_s: res.max_runtime_s,
        spot: rung.spot,
        max_wait_s,
        metric_definitions: registry.metric_definitions(repository).to_vec(),
        tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{parse, validate};
    use crate::testing::{sample_registries, sample_request, sample_research_request};
    use uuid::Uuid;

    fn valid(body: serde_json::Value) -> ValidRequest {
        validate(
            parse(&body.to_string()).unwrap(),
            &sample_registries(),
            Uuid::nil(),
        )
        .unwrap()
    }

    #[test]
    fn a_spot_plan_waits_at_least_as_long_as_it_runs() {
        let v = valid(sample_request());
        let regs = sample_registries();
        let spec = plan(&v, &regs.production, 1, &Rung::first(&v));
        assert!(spec.spot);
        assert_eq!(spec.max_wait_s, Some(28_800));
        assert_eq!(spec.job_name, format!("tq-{}-1", v.request_id.simple()));
        assert_eq!(
            spec.image_uri,
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1.4.2"
        );
        assert_eq!(spec.metric_definitions.len(), 2);
        assert!(spec.tags.contains(&("trainq:attempt".into(), "1".into())));
        assert!(
            spec.checkpoint_s3_uri
                .starts_with("s3://prod-models/checkpoints/acme/scratch-detect/")
        );
    }

    #[test]
    fn an_on_demand_rung_has_no_max_wait() {
        let v = valid(sample_request());
        let rung = Rung {
            instance_type: "ml.g4dn.xlarge".into(),
            spot: false,
        };
        let spec = plan(&v, &sample_registries().production, 3, &rung);
        assert_eq!((spec.spot, spec.max_wait_s), (false, None));
        assert_eq!(spec.instance_type, "ml.g4dn.xlarge");
    }

    #[test]
    fn attempts_share_the_checkpoint_prefix() {
        let v = valid(sample_request());
        let regs = sample_registries();
        let a = plan(&v, &regs.production, 1, &Rung::first(&v));
        let b = plan(&v, &regs.production, 2, &Rung::first(&v));
        assert_eq!(a.checkpoint_s3_uri, b.checkpoint_s3_uri);
        assert_ne!(a.job_name, b.job_name);
    }

    #[test]
    fn research_plans_use_research_resources_only() {
        let v = valid(sample_research_request());
        let regs = sample_registries();
        let spec = plan(&v, &regs.research, 1, &Rung::first(&v));
        assert!(spec.image_uri.starts_with("222222222222."));
        assert!(spec.role_arn.contains("trainq-research"));
        assert!(spec.output_s3_uri.starts_with("s3://research-models/"));
        assert!(spec.checkpoint_s3_uri.starts_with("s3://research-models/"));
        assert!(
            spec.tags
                .contains(&("trainq:experiment".into(), "lr-sweep-7".into()))
        );
    }
}
