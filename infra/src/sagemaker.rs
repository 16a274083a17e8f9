//! The SageMaker training adapter: [`TrainingJobSpec`] → CreateTrainingJob, field by field.

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::{
    AlgorithmSpecification, Channel, CheckpointConfig, DataSource, MetricDefinition,
    OutputDataConfig, ResourceConfig, S3DataDistribution, S3DataSource, S3DataType,
    StoppingCondition, Tag, TrainingInputMode, TrainingInstanceType,
};
use trainq_common::ServiceError;
use trainq_common::cancel::StopAnswer;
use trainq_common::event::{JobStateChange, Transition};
use trainq_common::launch::TrainingJobSpec;
use trainq_common::ports::TrainingService;

use crate::errors::classify;

/// Where the training container finds its checkpoints (SageMaker's default).
pub const CHECKPOINT_LOCAL_PATH: &str = "/opt/ml/checkpoints";

/// [`TrainingService`] over SageMaker (or the devstack's local endpoint, which speaks the same API).
#[derive(Clone)]
pub struct SageMakerTraining {
    client: Client,
}

impl SageMakerTraining {
    /// An adapter over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(format!("training job spec: {e}"))
}

fn to_i32(field: &str, v: u32) -> Result<i32, ServiceError> {
    i32::try_from(v).map_err(|_| invalid(format!("{field} {v} is too large")))
}

impl TrainingService for SageMakerTraining {
    async fn create_training_job(&self, spec: &TrainingJobSpec) -> Result<String, ServiceError> {
        let metric_definitions = spec
            .metric_definitions
            .iter()
            .map(|m| {
                MetricDefinition::builder()
                    .name(&m.name)
                    .regex(&m.regex)
                    .build()
            })
            .collect();
        let algorithm = AlgorithmSpecification::builder()
            .training_image(&spec.image_uri)
            .training_input_mode(TrainingInputMode::File)
            .set_metric_definitions(Some(metric_definitions))
            .build();
        let channels = spec
            .channels
            .iter()
            .map(|(name, uri)| {
                let source = S3DataSource::builder()
                    .s3_data_type(S3DataType::S3Prefix)
                    .s3_uri(uri)
                    .s3_data_distribution_type(S3DataDistribution::FullyReplicated)
                    .build();
                Channel::builder()
                    .channel_name(name)
                    .data_source(DataSource::builder().s3_data_source(source).build())
                    .build()
            })
            .collect();
        let tags = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let stopping = StoppingCondition::builder()
            .max_runtime_in_seconds(to_i32("max_runtime_s", spec.max_runtime_s)?)
            .set_max_wait_time_in_seconds(
                spec.max_wait_s
                    .map(|w| to_i32("max_wait_s", w))
                    .transpose()?,
            )
            .build();
        let resources = ResourceConfig::builder()
            .instance_type(TrainingInstanceType::from(spec.instance_type.as_str()))
            .instance_count(to_i32("instance_count", spec.instance_count)?)
            .volume_size_in_gb(to_i32("volume_gb", spec.volume_gb)?)
            .build();
        let out = self
            .client
            .create_training_job()
            .training_job_name(&spec.job_name)
            .algorithm_specification(algorithm)
            .role_arn(&spec.role_arn)
            .set_hyper_parameters(Some(spec.hyperparameters.clone().into_iter().collect()))
            .set_input_data_config(Some(channels))
            .output_data_config(
                OutputDataConfig::builder()
                    .s3_output_path(&spec.output_s3_uri)
                    .build(),
            )
            .resource_config(resources)
            .stopping_condition(stopping)
            .enable_managed_spot_training(spec.spot)
            .checkpoint_config(
                CheckpointConfig::builder()
                    .s3_uri(&spec.checkpoint_s3_uri)
                    .local_path(CHECKPOINT_LOCAL_PATH)
                    .build(),
            )
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(classify)?;
        out.training_job_arn().map(str::to_owned).ok_or_else(|| {
            ServiceError::Transient("CreateTrainingJob answered without an ARN".into())
        })
    }

    async fn describe_training_job(&self, job_name: &str) -> Result<JobStateChange, ServiceError> {
        let out = self
            .client
            .describe_training_job()
            .training_job_name(job_name)
            .send()
            .await
            .map_err(|e| missing_job_is_not_found(classify(e)))?;
        Ok(to_state_change(job_name, &out))
    }

    async fn stop_training_job(&self, job_name: &str) -> Result<StopAnswer, ServiceError> {
        let result = self
            .client
            .stop_training_job()
            .training_job_name(job_name)
            .send()
            .await;
        match result.map_err(|e| missing_job_is_not_found(classify(e))) {
            Ok(_) => Ok(StopAnswer::Stopping),
            Err(ServiceError::NotFound(_)) => Ok(StopAnswer::NotFound),
            // "The request was rejected because the training job is in status Completed."
            Err(ServiceError::Invalid(_)) => Ok(StopAnswer::NotRunning),
            Err(e) => Err(e),
        }
    }
}

/// SageMaker answers DescribeTrainingJob for a missing job with a `ValidationException`
/// "Requested resource not found" (aws/aws-sdk#165); the domain calls that `NotFound`.
fn missing_job_is_not_found(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::Invalid(m) if m.contains("Requested resource not found") => {
            ServiceError::NotFound(m)
        }
        other => other,
    }
}

/// A metric value as it was printed: SageMaker's `Float` is an `f32`, and widening it keeps
/// its binary error (0.95 → 0.949999988…), which would fail a gate of `min: 0.95`. Its
/// shortest decimal form is what the training log said.
fn metric_value(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// Epoch milliseconds of an SDK timestamp.
fn millis(t: Option<&aws_smithy_types::DateTime>) -> Option<i64> {
    t.and_then(|d| d.to_millis().ok())
}

/// DescribeTrainingJob's answer in the shape of a state-change event.
pub(crate) fn to_state_change(
    name: &str,
    out: &aws_sdk_sagemaker::operation::describe_training_job::DescribeTrainingJobOutput,
) -> JobStateChange {
    JobStateChange {
        event_id: None,
        job_name: name.to_owned(),
        job_arn: out.training_job_arn().map(str::to_owned),
        status: out
            .training_job_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        secondary_status: out.secondary_status().map(|s| s.as_str().to_owned()),
        failure_reason: out.failure_reason().map(str::to_owned),
        transitions: out
            .secondary_status_transitions()
            .iter()
            .map(|t| Transition {
                status: t
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                start_ms: millis(t.start_time()),
                end_ms: millis(t.end_time()),
                message: t.status_message().map(str::to_owned),
            })
            .collect(),
        last_modified_ms: millis(out.last_modified_time()),
        created_ms: millis(out.creation_time()),
        billable_s: out
            .billable_time_in_seconds()
            .and_then(|s| u64::try_from(s).ok()),
        training_s: out
            .training_time_in_seconds()
            .and_then(|s| u64::try_from(s).ok()),
        model_artifact: out
            .model_artifacts()
            .and_then(|m| m.s3_model_artifacts())
            .map(str::to_owned),
        final_metrics: out
            .final_metric_data_list()
            .iter()
            .filter_map(|m| Some((m.metric_name()?.to_owned(), metric_value(m.value()?))))
            .collect(),
        tags: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_keep_their_decimal_form() {
        assert_eq!(metric_value(0.95), 0.95);
        assert_eq!(metric_value(0.99), 0.99);
        assert_eq!(metric_value(1.0e-7), 1.0e-7);
        assert!(metric_value(f32::NAN).is_nan());
    }
}
