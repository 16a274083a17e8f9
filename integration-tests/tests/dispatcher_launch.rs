//! The dispatcher over the wire: requests on a real (moto) SQS queue become training jobs on
//! the local SageMaker endpoint, recorded in a real (moto) DynamoDB table.

use serde_json::json;
use trainq_common::naming;
use trainq_common::state::JobState;
use trainq_common::testing::{request_id_of, sample_request, sample_research_request};
use trainq_integration_tests::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_request_launches_with_production_resources() {
    let w = World::new().await;
    let body = sample_request();
    let id = request_id_of(&body);
    let record = w.submit_and_drain(&body).await;
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(
        record.customer_project.as_deref(),
        Some("acme#scratch-detect")
    );
    assert!(record.enqueued_at.is_some());
    let attempt = &record.attempts[0];
    let job_name = naming::job_name(id, 1);
    assert_eq!(attempt.job_name, job_name);
    assert!(attempt.job_arn.as_deref().unwrap().ends_with(&job_name));

    let job = w.describe_job(&job_name).await;
    let algo = job.algorithm_specification().unwrap();
    assert_eq!(
        algo.training_image(),
        Some("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1.4.2")
    );
    let metrics: Vec<_> = algo
        .metric_definitions()
        .iter()
        .filter_map(|m| m.name())
        .collect();
    assert_eq!(metrics, ["validation:accuracy", "train:loss"]);
    assert_eq!(
        job.role_arn(),
        Some("arn:aws:iam::111111111111:role/trainq-prod")
    );
    assert_eq!(job.enable_managed_spot_training(), Some(true));
    let stop = job.stopping_condition().unwrap();
    assert_eq!(
        (
            stop.max_runtime_in_seconds(),
            stop.max_wait_time_in_seconds()
        ),
        (Some(14_400), Some(28_800))
    );
    assert_eq!(
        job.checkpoint_config().unwrap().s3_uri().unwrap(),
        format!(
            "s3://prod-models/checkpoints/acme/scratch-detect/{}/",
            id.simple()
        )
    );
    assert_eq!(
        job.output_data_config().unwrap().s3_output_path().unwrap(),
        "s3://prod-models/output/acme/scratch-detect/"
    );
    assert_eq!(
        job.hyper_parameters()
            .unwrap()
            .get("lr")
            .map(String::as_str),
        Some("0.001")
    );
    let channels: Vec<_> = job
        .input_data_config()
        .iter()
        .filter_map(|c| c.channel_name())
        .collect();
    assert_eq!(channels, ["train", "validation"]);

    let tags = w.job_tags(job.training_job_arn().unwrap()).await;
    let expected = [
        ("trainq:request-id", id.to_string()),
        ("trainq:customer", "acme".into()),
        ("trainq:project", "scratch-detect".into()),
        ("trainq:registry", "production".into()),
        ("trainq:attempt", "1".into()),
    ];
    for (key, value) in expected {
        assert!(
            tags.contains(&(key.to_owned(), value.clone())),
            "tag {key}={value} in {tags:?}"
        );
    }
    assert_eq!(w.stats().await["create_calls"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_research_request_launches_with_research_resources_only() {
    let w = World::new().await;
    let body = sample_research_request();
    let record = w.submit_and_drain(&body).await;
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.experiment_id.as_deref(), Some("lr-sweep-7"));

    let job = w
        .describe_job(&naming::job_name(request_id_of(&body), 1))
        .await;
    let image = job
        .algorithm_specification()
        .unwrap()
        .training_image()
        .unwrap();
    assert!(image.starts_with("222222222222.dkr.ecr."), "{image}");
    assert_eq!(
        job.role_arn(),
        Some("arn:aws:iam::222222222222:role/trainq-research")
    );
    let output = job.output_data_config().unwrap().s3_output_path().unwrap();
    assert!(output.starts_with("s3://research-models/"), "{output}");
    let checkpoints = job.checkpoint_config().unwrap().s3_uri().unwrap();
    assert!(
        checkpoints.starts_with("s3://research-models/"),
        "{checkpoints}"
    );
    for channel in job.input_data_config() {
        let uri = channel
            .data_source()
            .unwrap()
            .s3_data_source()
            .unwrap()
            .s3_uri()
            .unwrap();
        assert!(uri.starts_with("s3://research-data/"), "{uri}");
    }
    let tags = w.job_tags(job.training_job_arn().unwrap()).await;
    assert!(
        tags.contains(&("trainq:experiment".into(), "lr-sweep-7".into())),
        "{tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_request_has_no_max_wait() {
    let w = World::new().await;
    let mut body = sample_request();
    body["resources"]["spot"] = json!(false);
    assert_eq!(w.submit_and_drain(&body).await.state, JobState::InProgress);
    let job = w
        .describe_job(&naming::job_name(request_id_of(&body), 1))
        .await;
    assert_eq!(job.enable_managed_spot_training(), Some(false));
    assert_eq!(
        job.stopping_condition().unwrap().max_wait_time_in_seconds(),
        None
    );
}
