//! IAM exercised, not only linted: the dispatcher and the watcher run with exactly the
//! permissions their template roles grant. The template is deployed into moto as it goes to
//! AWS; each function's role policies, as IAM holds them, are bound to the access key the
//! function signs with; the front door authorizes every call against them (the call's
//! implied permissions included: `iam:PassRole` with `iam:PassedToService`,
//! `sagemaker:AddTags`). A request then goes from the stack's queue to a registered model;
//! and with one statement removed from a role, the call it allowed is refused.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use serde_json::{Value, json};
use trainq_common::config::Env;
use trainq_common::naming::job_name;
use trainq_common::ports::JobStore;
use trainq_common::state::JobState;
use trainq_common::testing::{request_id_of, sample_request};
use trainq_devstack::contract::ACCOUNT_ID;
use trainq_devstack::contract::iam::Identity;
use trainq_dispatcher::{Dispatcher, DispatcherConfig};
use trainq_infra::{
    DynamoCapacityLedger, DynamoJobStore, EventBridgeAlerts, SageMakerModelRegistry,
    SageMakerTraining, SqsRequestQueue,
};
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::stacks::{
    deploy_for_aws, disable_mappings, fresh_prefix, function_env, role_policies,
};
use trainq_integration_tests::world::{REGION, World};
use trainq_watcher::{Watcher, WatcherConfig};

const DISPATCHER_KEY: &str = "AKIATRAINQDISPATCHER";
const WATCHER_KEY: &str = "AKIATRAINQWATCHER000";

/// The SDK as a function signed in with `key`, through the world's front door.
async fn sdk_as(w: &World, key: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, "secret", None, None, "role"))
        .endpoint_url(w.endpoint.url())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// One deployed stack, its functions' identities bound at the world's front door.
struct Deployed {
    prefix: String,
    outputs: std::collections::BTreeMap<String, String>,
    dispatcher_policies: Vec<Value>,
}

impl Deployed {
    async fn new(w: &World) -> Self {
        let prefix = fresh_prefix();
        let outputs = deploy_for_aws(w, &prefix).await;
        disable_mappings(w, &prefix).await;
        // moto cannot deliver to an SNS target (PutEvents answers HTTP 500 for every event
        // the rule matches; DESIGN §7): the alerts-to-topic rule's target goes, so the
        // functions' alerts reach the bus as they would in AWS.
        w.eventbridge
            .remove_targets()
            .rule(format!("{prefix}-alerts-to-topic"))
            .event_bus_name(&outputs["AlertsBusName"])
            .ids("alerts-topic")
            .send()
            .await
            .expect("RemoveTargets");
        let dispatcher_policies = role_policies(w, &format!("{prefix}-dispatcher")).await;
        let watcher_policies = role_policies(w, &format!("{prefix}-watcher")).await;
        assert!(!dispatcher_policies.is_empty() && !watcher_policies.is_empty());
        let deployed = Self {
            prefix,
            outputs,
            dispatcher_policies,
        };
        deployed.bind(
            w,
            "dispatcher",
            DISPATCHER_KEY,
            deployed.dispatcher_policies.clone(),
        );
        deployed.bind(w, "watcher", WATCHER_KEY, watcher_policies);
        deployed
    }

    fn bind(&self, w: &World, function: &str, key: &str, policies: Vec<Value>) {
        let role = format!("{}-{function}", self.prefix);
        let principal = format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{role}");
        w.endpoint.set_identity(
            key,
            Identity {
                principal,
                policies,
            },
        );
    }

    /// The function's configuration, from the environment the stack gives it.
    async fn env(&self, w: &World, function: &str) -> impl Fn(&str) -> Option<String> + use<> {
        let mut env = function_env(w, &format!("{}-{function}", self.prefix)).await;
        // Redeliveries within a test's patience.
        env.insert("TRAINQ_DEFER_BASE_S".into(), "1".into());
        env.insert("TRAINQ_DEFER_MAX_S".into(), "2".into());
        move |k: &str| env.get(k).cloned()
    }

    async fn dispatcher(
        &self,
        w: &World,
    ) -> Dispatcher<
        DynamoJobStore,
        SageMakerTraining,
        EventBridgeAlerts,
        SqsRequestQueue,
        DynamoCapacityLedger,
    > {
        let config =
            DispatcherConfig::from_env(&Env::from_fn(self.env(w, "dispatcher").await)).unwrap();
        let sdk = sdk_as(w, DISPATCHER_KEY).await;
        Dispatcher::new(
            DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.jobs_table),
            SageMakerTraining::new(aws_sdk_sagemaker::Client::new(&sdk)),
            EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&sdk), &config.alerts_bus),
            SqsRequestQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.requests_queue_url),
            DynamoCapacityLedger::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &config.scheduler.capacity_table,
            ),
            config,
        )
    }

    async fn watcher(
        &self,
        w: &World,
    ) -> Watcher<
        DynamoJobStore,
        SageMakerTraining,
        EventBridgeAlerts,
        SqsRequestQueue,
        SageMakerModelRegistry,
        DynamoCapacityLedger,
    > {
        let config = WatcherConfig::from_env(&Env::from_fn(self.env(w, "watcher").await)).unwrap();
        let sdk = sdk_as(w, WATCHER_KEY).await;
        let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
        Watcher::new(
            DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.jobs_table),
            SageMakerTraining::new(sagemaker.clone()),
            EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&sdk), &config.alerts_bus),
            SqsRequestQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.requests_queue_url),
            SageMakerModelRegistry::new(sagemaker, trainq_infra::artifacts::s3_client(&sdk)),
            DynamoCapacityLedger::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &config.scheduler.capacity_table,
            ),
            config,
        )
    }

    /// Sends a request for the stack's buckets to its queue and runs the dispatcher on it.
    async fn launch(&self, w: &World) -> uuid::Uuid {
        let mut body = fresh(sample_request());
        body["dataset"]["channels"] = json!({"train": "s3://acme-prod-data/acme/train/"});
        w.sqs
            .send_message()
            .queue_url(&self.outputs["RequestsQueueUrl"])
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
        let dispatcher = self.dispatcher(w).await;
        let dispatcher = &dispatcher;
        trainq_integration_tests::esm::run_until_drained(
            &w.sqs,
            &self.outputs["RequestsQueueUrl"],
            &self.outputs["RequestsQueueArn"],
            std::time::Duration::from_secs(60),
            |event| async move { dispatcher.handle_batch(&event).await },
        )
        .await;
        request_id_of(&body)
    }

    async fn record(&self, w: &World, id: uuid::Uuid) -> trainq_common::JobRecord {
        DynamoJobStore::new(w.dynamodb.clone(), &self.outputs["JobsTableName"])
            .get(id)
            .await
            .unwrap()
            .expect("a record")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_roles_grant_what_a_request_needs_from_queue_to_registered_model() {
    let w = World::new().await;
    let stack = Deployed::new(&w).await;

    let id = stack.launch(&w).await;
    assert_eq!(stack.record(&w, id).await.state, JobState::InProgress);
    w.finish_job(
        &job_name(id, 1),
        json!({"status": "Completed", "billable_s": 5, "training_s": 10, "metrics": {"validation:accuracy": 0.98}}),
    )
    .await;
    // Describe can lag the event (and does on a loaded machine): the watcher then leaves the
    // event for a redelivery minutes away. This test is about permissions, so it lets
    // SageMaker's word settle first (the lag itself: attempt_truth.rs, watcher_records.rs).
    trainq_integration_tests::poll::until(
        "DescribeTrainingJob to say Completed",
        std::time::Duration::from_secs(30),
        || async {
            let d = w.describe_job(&job_name(id, 1)).await;
            (d.training_job_status().map(|s| s.as_str()) == Some("Completed")).then_some(())
        },
    )
    .await;
    let watcher = stack.watcher(&w).await;
    let watcher = &watcher;
    // The endpoint publishes the job's events as SageMaker does, a moment after the change:
    // drain until the record has taken the completion (or the deadline says why not).
    let record = trainq_integration_tests::poll::until(
        "the completion recorded and the model registered",
        std::time::Duration::from_secs(60),
        || async {
            trainq_integration_tests::esm::run_until_drained(
                &w.sqs,
                &stack.outputs["JobEventsQueueUrl"],
                &stack.outputs["JobEventsQueueArn"],
                std::time::Duration::from_secs(60),
                |event| async move { watcher.handle_batch(&event).await },
            )
            .await;
            let record = stack.record(&w, id).await;
            eprintln!(
                "iam: {} {:?} {:?}",
                record.state,
                record.reason,
                record.attempts.first().map(|a| a.status.clone())
            );
            (record.state == JobState::Registered).then_some(record)
        },
    )
    .await;
    assert_eq!(record.state, JobState::Registered, "{:?}", record.reason);

    let contract = w.endpoint.contract_stats();
    assert_eq!(contract.refused, 0, "{:#?}", contract.recent);
    assert!(
        contract.authorized >= 8,
        "the functions' calls were authorized: {contract:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_its_pass_role_statement_cannot_launch() {
    let w = World::new().await;
    w.allow_contract_refusals();
    let stack = Deployed::new(&w).await;
    let without: Vec<Value> = stack
        .dispatcher_policies
        .iter()
        .map(|policy| {
            let mut policy = policy.clone();
            if let Some(Value::Array(statements)) = policy.get_mut("Statement") {
                statements.retain(|s| s["Sid"] != "PassTrainingRoles");
            }
            policy
        })
        .collect();
    assert_ne!(
        without, stack.dispatcher_policies,
        "the statement was there to remove"
    );
    stack.bind(&w, "dispatcher", DISPATCHER_KEY, without);

    let id = stack.launch(&w).await;
    let record = stack.record(&w, id).await;
    assert_eq!(record.state, JobState::Failed, "{record:?}");
    let reason = record.reason.unwrap_or_default();
    assert!(reason.contains("iam:PassRole"), "{reason}");
    let contract = w.endpoint.contract_stats();
    assert_eq!(
        contract
            .refused_by_operation
            .get("sagemaker:CreateTrainingJob"),
        Some(&1),
        "{contract:?}"
    );
    assert!(
        contract.recent.iter().any(|r| r.contains(&format!(
            "AccessDeniedException: User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{0}-dispatcher/{0}-dispatcher \
             is not authorized to perform: iam:PassRole on resource: arn:aws:iam::{ACCOUNT_ID}:role/{0}-production-training",
            stack.prefix
        ))),
        "{:#?}",
        contract.recent
    );
    assert!(w.training_jobs().await.is_empty(), "nothing was launched");
}
