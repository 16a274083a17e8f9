//! The local SageMaker endpoint through the real SDK: the behaviour moto lacks (reused names,
//! validation, stop, throttling, quotas) and forwarding of everything else to moto.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::operation::create_training_job::CreateTrainingJobError;
use aws_sdk_sagemaker::types::TrainingJobStatus;
use serde_json::json;
use trainq_integration_tests::training_jobs::minimal_job;
use trainq_integration_tests::world::World;

fn create(
    w: &World,
    name: &str,
    spot: bool,
    max_wait: Option<i32>,
) -> aws_sdk_sagemaker::operation::create_training_job::builders::CreateTrainingJobFluentBuilder {
    minimal_job(&w.sagemaker, name, spot, max_wait)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_job_name_is_resource_in_use() {
    let w = World::new().await;
    create(&w, "tq-reuse-1", false, None)
        .send()
        .await
        .expect("first create");
    let err = create(&w, "tq-reuse-1", false, None)
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    assert!(
        matches!(service, CreateTrainingJobError::ResourceInUse(_)),
        "{service:?}"
    );
    assert_eq!(w.stats().await["jobs_created"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_validation_is_enforced() {
    let w = World::new().await;
    w.allow_contract_refusals();
    let err = create(&w, "tq-spot-1", true, Some(60))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().contains("MaxWaitTimeInSeconds"));
    let err = create(&w, "bad_name", false, None)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
        ),
        "the model's rule, in AWS's words: {err:?}"
    );
    create(&w, "tq-spot-2", true, Some(7200))
        .send()
        .await
        .expect("valid spot job");
    let contract = w.endpoint.contract_stats();
    assert_eq!(
        contract.refused, 1,
        "the name was refused at the front door: {contract:?}"
    );
    assert_eq!(
        contract.refused_by_operation["sagemaker:CreateTrainingJob"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_described_listed_and_stopped() {
    let w = World::new().await;
    for i in 0..3 {
        create(&w, &format!("tq-list-{i}"), false, None)
            .send()
            .await
            .unwrap();
    }
    let page = w
        .sagemaker
        .list_training_jobs()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.training_job_summaries().len(), 2);
    assert!(page.next_token().is_some());
    assert_eq!(w.training_jobs().await.len(), 3);

    let job = w.describe_job("tq-list-1").await;
    assert_eq!(
        job.training_job_status(),
        Some(&TrainingJobStatus::InProgress)
    );
    assert_eq!(job.secondary_status_transitions().len(), 1);

    w.sagemaker
        .stop_training_job()
        .training_job_name("tq-list-1")
        .send()
        .await
        .unwrap();
    let job = w.describe_job("tq-list-1").await;
    assert_eq!(job.training_job_status(), Some(&TrainingJobStatus::Stopped));
    let again = w
        .sagemaker
        .stop_training_job()
        .training_job_name("tq-list-1")
        .send()
        .await;
    assert_eq!(
        again.unwrap_err().into_service_error().code(),
        Some("ValidationException")
    );
    let missing = w
        .sagemaker
        .describe_training_job()
        .training_job_name("tq-none-1")
        .send()
        .await;
    assert!(missing.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_quotas_answer_as_aws_does() {
    let w = World::new().await;
    w.set_faults(json!({"throttle_rate": 0.5, "quotas": {"ml.m5.large": 1}}))
        .await;
    let mut codes = Vec::new();
    for i in 0..4 {
        let r = create(&w, &format!("tq-fault-{i}"), false, None)
            .send()
            .await;
        codes.push(
            r.err()
                .and_then(|e| e.into_service_error().code().map(str::to_owned)),
        );
    }
    // Every second call is throttled; the first creates a job, which fills the quota.
    let code = |c: &str| Some(c.to_owned());
    assert_eq!(
        codes,
        [
            None,
            code("ThrottlingException"),
            code("ResourceLimitExceeded"),
            code("ThrottlingException")
        ]
    );
    let stats = w.stats().await;
    assert_eq!(
        (stats["throttled"].clone(), stats["quota_refused"].clone()),
        (json!(2), json!(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_and_on_demand_quotas_are_separate_and_the_peak_is_counted() {
    let w = World::new().await;
    // AWS's quotas: "ml.m5.large for spot training job usage" apart from on-demand's.
    w.set_faults(json!({"quotas": {"ml.m5.large/spot": 1, "ml.m5.large/on-demand": 2}}))
        .await;
    let code = |r: Result<_, aws_sdk_sagemaker::error::SdkError<CreateTrainingJobError>>| {
        r.err()
            .and_then(|e| e.into_service_error().code().map(str::to_owned))
    };
    assert_eq!(
        code(create(&w, "tq-pool-s1", true, Some(7200)).send().await),
        None
    );
    assert_eq!(
        code(create(&w, "tq-pool-s2", true, Some(7200)).send().await).as_deref(),
        Some("ResourceLimitExceeded"),
        "one spot instance"
    );
    for name in ["tq-pool-d1", "tq-pool-d2"] {
        assert_eq!(code(create(&w, name, false, None).send().await), None);
    }
    assert_eq!(
        code(create(&w, "tq-pool-d3", false, None).send().await).as_deref(),
        Some("ResourceLimitExceeded"),
        "two on-demand instances"
    );
    let stats = w.stats().await;
    assert_eq!(
        stats["peak_running"],
        json!({"ml.m5.large/spot": 1, "ml.m5.large/on-demand": 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_operations_are_forwarded_to_moto() {
    let w = World::new().await;
    let group = format!(
        "trainq-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    w.sagemaker
        .create_model_package_group()
        .model_package_group_name(&group)
        .send()
        .await
        .expect("forwarded create");
    let listed = w
        .sagemaker
        .list_model_package_groups()
        .name_contains(&group)
        .send()
        .await
        .expect("forwarded list");
    let names: Vec<_> = listed
        .model_package_group_summary_list()
        .iter()
        .filter_map(|g| g.model_package_group_name())
        .collect();
    assert_eq!(names, [group.as_str()]);
    assert_eq!(
        w.stats().await["create_calls"],
        json!(0),
        "not a training-job call"
    );
}
