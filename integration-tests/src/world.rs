//! One test's world: a local SageMaker endpoint of its own, SDK clients, and freshly created
//! resources with unique names in the shared moto.

use std::collections::HashMap;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use trainq_common::JobRecord;
use trainq_common::config::Env;
use trainq_common::ports::JobStore;
use trainq_common::testing::sample_env;
use trainq_devstack::sagemaker::{LocalSageMaker, bind_loopback};
use trainq_dispatcher::{Dispatcher, DispatcherConfig};
use trainq_infra::dynamo::index;
use trainq_infra::{DynamoJobStore, EventBridgeAlerts, SageMakerTraining, SqsRequestQueue};
use trainq_watcher::Watcher;
use uuid::Uuid;

use crate::moto;

/// Region of every test resource.
pub const REGION: &str = "eu-west-1";

/// The dispatcher over the real adapters.
pub type AwsDispatcher<S = DynamoJobStore> =
    Dispatcher<S, SageMakerTraining, EventBridgeAlerts, SqsRequestQueue>;

/// Names of one test's resources.
#[derive(Debug, Clone)]
pub struct Names {
    /// Jobs table.
    pub table: String,
    /// Requests queue URL.
    pub queue_url: String,
    /// Requests queue ARN.
    pub queue_arn: String,
    /// Dead-letter queue URL.
    pub dlq_url: String,
    /// Alerts bus name.
    pub alerts_bus: String,
    /// Queue that receives every alert (via an EventBridge rule), for assertions.
    pub alerts_queue_url: String,
    /// The watcher's queue: target of the rule on SageMaker training job state changes.
    pub events_queue_url: String,
    /// Its ARN.
    pub events_queue_arn: String,
}

/// A test's world.
pub struct World {
    /// Shared SDK configuration (moto endpoint, test credentials, no SDK retries so call
    /// counts are exact).
    pub sdk: SdkConfig,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// EventBridge client.
    pub eventbridge: aws_sdk_eventbridge::Client,
    /// SageMaker client pointed at the local endpoint.
    pub sagemaker: aws_sdk_sagemaker::Client,
    /// The local SageMaker endpoint.
    pub endpoint: LocalSageMaker,
    /// Resource names.
    pub names: Names,
    http: reqwest::Client,
}

impl World {
    /// Starts the endpoint and creates the resources.
    pub async fn new() -> Self {
        let moto_url = moto::url();
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "trainq-tests",
            ))
            .endpoint_url(moto_url)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .load()
            .await;
        let endpoint = LocalSageMaker::spawn(bind_loopback(0).await.expect("bind"), moto_url)
            .expect("endpoint");
        let sagemaker = aws_sdk_sagemaker::Client::from_conf(
            aws_sdk_sagemaker::config::Builder::from(&sdk)
                .endpoint_url(endpoint.url())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let eventbridge = aws_sdk_eventbridge::Client::new(&sdk);
        let suffix = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let names = create_resources(&sqs, &dynamodb, &eventbridge, &suffix).await;
        Self {
            sdk,
            sqs,
            dynamodb,
            eventbridge,
            sagemaker,
            endpoint,
            names,
            http: reqwest::Client::new(),
        }
    }

    /// The dispatcher's environment for this world, with `overrides` applied. Short defer
    /// delays keep redeliveries within a test's patience.
    pub fn dispatcher_config(&self, overrides: &[(&str, &str)]) -> DispatcherConfig {
        let mut env: HashMap<String, String> = sample_env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        env.insert("TRAINQ_JOBS_TABLE".into(), self.names.table.clone());
        env.insert("TRAINQ_ALERTS_BUS".into(), self.names.alerts_bus.clone());
        env.insert(
            "TRAINQ_REQUESTS_QUEUE_URL".into(),
            self.names.queue_url.clone(),
        );
        env.insert("TRAINQ_DEFER_BASE_S".into(), "1".into());
        env.insert("TRAINQ_DEFER_MAX_S".into(), "2".into());
        for (k, v) in overrides {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        DispatcherConfig::from_env(&Env::from_fn(move |k| env.get(k).cloned()))
            .expect("valid test config")
    }

    /// The jobs table adapter.
    pub fn store(&self) -> DynamoJobStore {
        DynamoJobStore::new(self.dynamodb.clone(), &self.names.table)
    }

    /// A dispatcher over `store` and the real adapters.
    pub fn dispatcher_with<S: JobStore>(
        &self,
        store: S,
        config: DispatcherConfig,
    ) -> AwsDispatcher<S> {
        Dispatcher::new(
            store,
            SageMakerTraining::new(self.sagemaker.clone()),
            EventBridgeAlerts::new(self.eventbridge.clone(), &self.names.alerts_bus),
            SqsRequestQueue::new(self.sqs.clone(), &self.names.queue_url),
            config,
        )
    }

    /// A dispatcher with the default test configuration.
    pub fn dispatcher(&self) -> AwsDispatcher {
        self.dispatcher_with(self.store(), self.dispatcher_config(&[]))
    }

    /// The watcher over the real adapters.
    pub fn watcher(
        &self,
    ) -> Watcher<DynamoJobStore, SageMakerTraining, EventBridgeAlerts, SqsRequestQueue> {
        Watcher::new(
            self.store(),
            SageMakerTraining::new(self.sagemaker.clone()),
            EventBridgeAlerts::new(self.eventbridge.clone(), &self.names.alerts_bus),
            SqsRequestQueue::new(self.sqs.clone(), &self.names.queue_url),
        )
    }

    /// Runs the watcher's event source mapping until its queue is empty.
    pub async fn drain_events(&self) -> usize {
        let watcher = self.watcher();
        let watcher = &watcher;
        crate::esm::run_until_drained(
            &self.sqs,
            &self.names.events_queue_url,
            &self.names.events_queue_arn,
            std::time::Duration::from_secs(60),
            |event| async move { watcher.handle_batch(&event).await },
        )
        .await
    }

    /// Ends a running job on the local endpoint (`POST /_devstack/jobs/{name}/finish`).
    pub async fn finish_job(&self, name: &str, finish: Value) {
        let status = self
            .http
            .post(format!(
                "{}/_devstack/jobs/{name}/finish",
                self.endpoint.url()
            ))
            .body(finish.to_string())
            .send()
            .await
            .expect("POST finish")
            .status();
        assert!(status.is_success(), "finish {name}: {status}");
    }

    /// Sends a request body; returns the message id.
    pub async fn send(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.names.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage")
            .message_id
            .unwrap_or_default()
    }

    /// Runs the event source mapping with `dispatcher` until the requests queue is empty.
    pub async fn drain<S: JobStore>(&self, dispatcher: &AwsDispatcher<S>) -> usize {
        crate::esm::run_until_drained(
            &self.sqs,
            &self.names.queue_url,
            &self.names.queue_arn,
            std::time::Duration::from_secs(60),
            |event| async move { dispatcher.handle_batch(&event).await },
        )
        .await
    }

    /// Sends `body`, runs the default dispatcher until the queue is empty, and returns the
    /// request's record.
    pub async fn submit_and_drain(&self, body: &Value) -> JobRecord {
        self.send(&body.to_string()).await;
        self.drain(&self.dispatcher()).await;
        let id = trainq_common::testing::request_id_of(body);
        self.record(id).await.expect("a record for every request")
    }

    /// DescribeTrainingJob on the local endpoint.
    pub async fn describe_job(
        &self,
        name: &str,
    ) -> aws_sdk_sagemaker::operation::describe_training_job::DescribeTrainingJobOutput {
        self.sagemaker
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
            .expect("DescribeTrainingJob")
    }

    /// A training job's tags as (key, value) pairs.
    pub async fn job_tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .sagemaker
            .list_tags()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTags");
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The stored record of a request.
    pub async fn record(&self, id: Uuid) -> Option<JobRecord> {
        self.store().get(id).await.expect("GetItem")
    }

    /// Replaces the endpoint's fault settings.
    pub async fn set_faults(&self, faults: Value) {
        let status = self
            .http
            .put(format!("{}/_devstack/faults", self.endpoint.url()))
            .body(faults.to_string())
            .send()
            .await
            .expect("PUT faults")
            .status();
        assert!(status.is_success(), "PUT faults: {status}");
    }

    /// The endpoint's counters.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_devstack/stats", self.endpoint.url()))
            .send()
            .await
            .expect("GET stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// Names of all training jobs on the endpoint (via ListTrainingJobs, paginated).
    pub async fn training_jobs(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sagemaker
                .list_training_jobs()
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .expect("ListTrainingJobs");
            names.extend(
                out.training_job_summaries()
                    .iter()
                    .map(|s| s.training_job_name().unwrap_or_default().to_owned()),
            );
            token = out.next_token;
            if token.is_none() {
                return names;
            }
        }
    }

    /// Alerts received so far on the observer queue (each an EventBridge event), removing them.
    pub async fn take_alerts(&self) -> Vec<Value> {
        let mut alerts = Vec::new();
        loop {
            let messages = crate::esm::receive(&self.sqs, &self.names.alerts_queue_url, 1).await;
            if messages.is_empty() {
                return alerts;
            }
            for m in &messages {
                alerts.push(serde_json::from_str(m.body().unwrap_or("null")).expect("alert JSON"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.names.alerts_queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }

    /// Waits until `n` alerts of `detail_type` have arrived; returns those.
    pub async fn wait_for_alerts(&self, detail_type: &str, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut seen: Vec<Value> = Vec::new();
        loop {
            seen.extend(self.take_alerts().await);
            let matching: Vec<Value> = seen
                .iter()
                .filter(|a| a["detail-type"] == detail_type)
                .cloned()
                .collect();
            if matching.len() >= n {
                return matching;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {n} `{detail_type}` alerts; got {seen:?}"
            );
        }
    }
}

async fn create_resources(
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    eventbridge: &aws_sdk_eventbridge::Client,
    suffix: &str,
) -> Names {
    let table = format!("trainq-jobs-{suffix}");
    create_jobs_table(dynamodb, &table).await;

    let dlq_url = create_queue(sqs, &format!("trainq-dlq-{suffix}"), HashMap::new()).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"}).to_string();
    let queue_url = create_queue(
        sqs,
        &format!("trainq-requests-{suffix}"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "2".into()),
        ]),
    )
    .await;
    let requests_arn = queue_arn(sqs, &queue_url).await;

    let alerts_bus = format!("trainq-alerts-{suffix}");
    eventbridge
        .create_event_bus()
        .name(&alerts_bus)
        .send()
        .await
        .expect("CreateEventBus");
    let alerts_queue_url = create_queue(
        sqs,
        &format!("trainq-alert-observer-{suffix}"),
        HashMap::new(),
    )
    .await;
    let alerts_queue_arn = queue_arn(sqs, &alerts_queue_url).await;
    eventbridge
        .put_rule()
        .name("all-alerts")
        .event_bus_name(&alerts_bus)
        .event_pattern(json!({"source": ["trainq"]}).to_string())
        .send()
        .await
        .expect("PutRule");
    eventbridge
        .put_targets()
        .rule("all-alerts")
        .event_bus_name(&alerts_bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("observer")
                .arn(alerts_queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("PutTargets");
    // SageMaker (the local endpoint) publishes to the default bus; the rule is the template's.
    let events_queue_url =
        create_queue(sqs, &format!("trainq-job-events-{suffix}"), HashMap::new()).await;
    let events_queue_arn = queue_arn(sqs, &events_queue_url).await;
    let rule = format!("trainq-job-events-{suffix}");
    let pattern = json!({
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"TrainingJobName": [{"prefix": "tq-"}]}
    });
    eventbridge
        .put_rule()
        .name(&rule)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("PutRule");
    eventbridge
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("watcher")
                .arn(&events_queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("PutTargets");
    Names {
        table,
        queue_url,
        queue_arn: requests_arn,
        dlq_url,
        alerts_bus,
        alerts_queue_url,
        events_queue_url,
        events_queue_arn,
    }
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    sqs.create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url")
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}

/// The jobs table as the template defines it: key `request_id`, three indexes.
async fn create_jobs_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attr")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key")
    };
    let gsi = |name: &str, hash: &str, range: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key(range, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .expect("gsi")
    };
    dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            [
                "request_id",
                "state",
                "updated_at",
                "customer_project",
                "created_at",
                "experiment_id",
            ]
            .map(attr)
            .to_vec(),
        ))
        .key_schema(key("request_id", KeyType::Hash))
        .global_secondary_indexes(gsi(index::BY_STATE, "state", "updated_at"))
        .global_secondary_indexes(gsi(index::BY_PROJECT, "customer_project", "created_at"))
        .global_secondary_indexes(gsi(index::BY_EXPERIMENT, "experiment_id", "created_at"))
        .send()
        .await
        .expect("CreateTable");
}
