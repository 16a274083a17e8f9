//! A minimal CreateTrainingJob, as a client outside trainq sends it (the endpoint's own tests,
//! another stack sharing the `tq-` prefix).

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::operation::create_training_job::builders::CreateTrainingJobFluentBuilder;
use aws_sdk_sagemaker::types::{
    AlgorithmSpecification, OutputDataConfig, ResourceConfig, StoppingCondition, TrainingInputMode,
    TrainingInstanceType,
};

/// A valid one-instance `ml.m5.large` job `name` of the defect-classifier image (spot when
/// asked, with `max_wait` seconds), ready to send.
pub fn minimal_job(
    sagemaker: &Client,
    name: &str,
    spot: bool,
    max_wait: Option<i32>,
) -> CreateTrainingJobFluentBuilder {
    sagemaker
        .create_training_job()
        .training_job_name(name)
        .algorithm_specification(
            AlgorithmSpecification::builder()
                .training_image("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1")
                .training_input_mode(TrainingInputMode::File)
                .build(),
        )
        .role_arn("arn:aws:iam::111111111111:role/trainq-prod")
        .output_data_config(
            OutputDataConfig::builder()
                .s3_output_path("s3://prod-models/output/")
                .build(),
        )
        .resource_config(
            ResourceConfig::builder()
                .instance_type(TrainingInstanceType::MlM5Large)
                .instance_count(1)
                .volume_size_in_gb(10)
                .build(),
        )
        .stopping_condition(
            StoppingCondition::builder()
                .max_runtime_in_seconds(3600)
                .set_max_wait_time_in_seconds(max_wait)
                .build(),
        )
        .enable_managed_spot_training(spot)
}
