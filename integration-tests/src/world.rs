//! One test's world: a front door of its own (the local SageMaker endpoint, which checks
//! every call against AWS's contract and forwards the rest to the shared moto), SDK clients
//! that go through it, and freshly created resources with unique names.
//!
//! A world that ends with a call AWS would have refused fails its test (see [`Drop`] below),
//! unless the test said it sends such calls on purpose ([`World::allow_contract_refusals`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use serde_json::Value;
use trainq_common::config::Env;
use trainq_common::naming::model_package_group_name;
use trainq_common::ports::JobStore;
use trainq_common::testing::{self, sample_env};
use trainq_common::{JobRecord, RegistryKind};
use trainq_devstack::sagemaker::{LocalSageMaker, RunnerConfig, bind_loopback};
use trainq_dispatcher::{Dispatcher, DispatcherConfig};
use trainq_infra::{
    DynamoCapacityLedger, DynamoJobStore, EventBridgeAlerts, SageMakerModelRegistry,
    SageMakerTraining, SqsRequestQueue,
};
use trainq_watcher::{ReconcileReport, Watcher, WatcherConfig};
use uuid::Uuid;

pub use crate::resources::Names;
use crate::{moto, resources};

/// Region of every test resource.
pub const REGION: &str = "eu-west-1";

/// Access keys of the world's principals and the user ids SQS reports as their `SenderId`:
/// `testing` (the world's own calls) is the on-call engineer, allowed for both registries.
pub const SENDERS: [(&str, &str); 3] = [
    ("testing", testing::ONCALL_SENDER),
    ("backend", testing::PRODUCTION_SENDER),
    ("research", testing::RESEARCH_SENDER),
];

/// The dispatcher over the real adapters.
pub type AwsDispatcher<S = DynamoJobStore> =
    Dispatcher<S, SageMakerTraining, EventBridgeAlerts, SqsRequestQueue, DynamoCapacityLedger>;

/// The watcher over the real adapters.
pub type AwsWatcher = Watcher<
    DynamoJobStore,
    SageMakerTraining,
    EventBridgeAlerts,
    SqsRequestQueue,
    SageMakerModelRegistry,
    DynamoCapacityLedger,
>;

/// A test's world.
pub struct World {
    /// Shared SDK configuration (the world's front door, test credentials, no SDK retries so
    /// call counts are exact).
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
    refusals_allowed: AtomicBool,
}

impl World {
    /// Starts the endpoint and creates the resources.
    pub async fn new() -> Self {
        let listener = bind_loopback(0).await.expect("bind");
        Self::with_endpoint(LocalSageMaker::spawn(listener, moto::url()).expect("endpoint")).await
    }

    /// A world whose endpoint runs the jobs of `defect-classifier` images with `trainer` (the
    /// defect trainer's executable), each in a directory of its own under `work_dir`.
    pub async fn running(trainer: &str, work_dir: &std::path::Path) -> Self {
        let runner = RunnerConfig {
            work_dir: work_dir.to_owned(),
            images: [("defect-classifier".to_owned(), vec![trainer.to_owned()])].into(),
            stop_grace_s: 5,
        };
        let listener = bind_loopback(0).await.expect("bind");
        let endpoint = LocalSageMaker::spawn_running(listener, moto::url(), runner)
            .await
            .expect("endpoint");
        Self::with_endpoint(endpoint).await
    }

    async fn with_endpoint(endpoint: LocalSageMaker) -> Self {
        // The world's own calls are the on-call engineer's (allowed for both registries);
        // `sqs_as` sends as the others.
        for (key, user_id) in SENDERS {
            endpoint.set_sender(key, user_id);
        }
        let sdk = Self::sdk_as("testing", &endpoint.url()).await;
        let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let eventbridge = aws_sdk_eventbridge::Client::new(&sdk);
        let suffix = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let names = resources::create(&sqs, &dynamodb, &eventbridge, &suffix).await;
        Self {
            sdk,
            sqs,
            dynamodb,
            eventbridge,
            sagemaker,
            endpoint,
            names,
            http: reqwest::Client::new(),
            refusals_allowed: AtomicBool::new(false),
        }
    }

    /// An SDK configuration signing with `access_key`, through `front_door`.
    async fn sdk_as(access_key: &str, front_door: &str) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                access_key,
                "testing",
                None,
                None,
                "trainq-tests",
            ))
            .endpoint_url(front_door)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .load()
            .await
    }

    /// An SQS client that sends as the principal of `access_key` (see [`SENDERS`]; any other
    /// key is a principal the registries do not know).
    pub async fn sqs_as(&self, access_key: &str) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&Self::sdk_as(access_key, &self.endpoint.url()).await)
    }

    /// Says that this test sends calls AWS refuses on purpose: the world does not fail the
    /// test for them when it ends.
    pub fn allow_contract_refusals(&self) {
        self.refusals_allowed.store(true, Ordering::Relaxed);
    }

    /// The Lambdas' environment for this world, with `overrides` applied: this world's
    /// resources and model group prefixes, and short defer delays so redeliveries stay within
    /// a test's patience. (AWS endpoints and credentials are the caller's to add.)
    pub fn lambda_env(&self, overrides: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = sample_env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (production, research) = &self.names.group_prefixes;
        for (k, v) in [
            ("TRAINQ_JOBS_TABLE", self.names.table.as_str()),
            ("TRAINQ_CAPACITY_TABLE", &self.names.capacity_table),
            ("TRAINQ_CREATE_RATE_PER_S", "100"),
            // SageMaker's largest instance count, so requests at every limit fit a pool.
            ("TRAINQ_POOL_LIMITS", "*/spot=20, */on-demand=20"),
            ("TRAINQ_ALERTS_BUS", &self.names.alerts_bus),
            ("TRAINQ_REQUESTS_QUEUE_URL", &self.names.queue_url),
            ("TRAINQ_PRODUCTION_MODEL_GROUP_PREFIX", production),
            ("TRAINQ_RESEARCH_MODEL_GROUP_PREFIX", research),
            ("TRAINQ_DEFER_BASE_S", "1"),
            ("TRAINQ_DEFER_MAX_S", "2"),
        ]
        .into_iter()
        .chain(overrides.iter().copied())
        {
            env.insert(k.to_owned(), v.to_owned());
        }
        env
    }

    /// The dispatcher's configuration for this world, with `overrides` applied.
    pub fn dispatcher_config(&self, overrides: &[(&str, &str)]) -> DispatcherConfig {
        let env = self.lambda_env(overrides);
        DispatcherConfig::from_env(&Env::from_fn(move |k| env.get(k).cloned()))
            .expect("valid test config")
    }

    /// The watcher's configuration for this world, with `overrides` applied.
    pub fn watcher_config(&self, overrides: &[(&str, &str)]) -> WatcherConfig {
        let env = self.lambda_env(overrides);
        WatcherConfig::from_env(&Env::from_fn(move |k| env.get(k).cloned()))
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
            self.ledger(),
            config,
        )
    }

    /// The capacity ledger adapter.
    pub fn ledger(&self) -> DynamoCapacityLedger {
        DynamoCapacityLedger::new(self.dynamodb.clone(), &self.names.capacity_table)
    }

    /// A dispatcher with the default test configuration.
    pub fn dispatcher(&self) -> AwsDispatcher {
        self.dispatcher_with(self.store(), self.dispatcher_config(&[]))
    }

    /// The watcher over the real adapters, configured with `config`.
    pub fn watcher_with(&self, config: WatcherConfig) -> AwsWatcher {
        Watcher::new(
            self.store(),
            SageMakerTraining::new(self.sagemaker.clone()),
            EventBridgeAlerts::new(self.eventbridge.clone(), &self.names.alerts_bus),
            SqsRequestQueue::new(self.sqs.clone(), &self.names.queue_url),
            SageMakerModelRegistry::new(
                self.sagemaker.clone(),
                trainq_infra::artifacts::s3_client(&self.sdk),
            ),
            self.ledger(),
            config,
        )
    }

    /// The watcher with the default test configuration.
    pub fn watcher(&self) -> AwsWatcher {
        self.watcher_with(self.watcher_config(&[]))
    }

    /// One reconcile run that treats every record as stale (threshold 0 s).
    pub async fn reconcile(&self) -> ReconcileReport {
        self.watcher_with(self.watcher_config(&[("TRAINQ_RECONCILE_AFTER_S", "0")]))
            .reconcile()
            .await
    }

    /// This world's model package group of the sample customer and project in `registry`.
    pub fn sample_group(&self, registry: RegistryKind) -> String {
        let (production, research) = &self.names.group_prefixes;
        let prefix = match registry {
            RegistryKind::Production => production,
            RegistryKind::Research => research,
        };
        model_package_group_name(prefix, "acme", "scratch-detect")
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

    /// Deletes this world's job-events rule. Every world's rule sees every training job's
    /// events on the shared default bus; a long run that creates several worlds retires each
    /// when done, so moto stops copying events into queues nobody reads.
    pub async fn retire_job_events(&self) {
        let rule = &self.names.events_rule;
        let _ = self
            .eventbridge
            .remove_targets()
            .rule(rule)
            .ids("watcher")
            .send()
            .await;
        let _ = self.eventbridge.delete_rule().name(rule).send().await;
    }

    /// Ends a running job on the local endpoint (`POST /_devstack/jobs/{name}/finish`).
    pub async fn finish_job(&self, name: &str, mut finish: Value) {
        // A completed job writes its model with the sample manifest unless the test says
        // otherwise (`"manifest": null` for none).
        if finish["status"] == "Completed" && finish.get("manifest").is_none() {
            finish["manifest"] = testing::sample_manifest();
        }
        if !finish["manifest"].is_null() {
            // The model goes where SageMaker would put it, in the registry's model bucket.
            let described = self.describe_job(name).await;
            let artifact = described
                .model_artifacts()
                .and_then(|a| a.s3_model_artifacts())
                .unwrap_or_default()
                .to_owned();
            if let Some((bucket, _)) = trainq_common::registry::split_s3_uri(&artifact) {
                self.ensure_bucket(bucket).await;
            }
        }
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

    /// Sends request bodies to the requests queue, ten per SendMessageBatch.
    pub async fn send_all<'a>(&self, bodies: impl IntoIterator<Item = &'a str>) {
        self.send_all_with(&self.sqs, bodies).await;
    }

    /// As [`Self::send_all`], with `sqs` (e.g. another principal's, [`Self::sqs_as`]).
    pub async fn send_all_with<'a>(
        &self,
        sqs: &aws_sdk_sqs::Client,
        bodies: impl IntoIterator<Item = &'a str>,
    ) {
        let bodies: Vec<&str> = bodies.into_iter().collect();
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(*body)
                        .build()
                        .expect("id and body set")
                })
                .collect();
            sqs.send_message_batch()
                .queue_url(&self.names.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("SendMessageBatch");
        }
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
        self.list_jobs(None)
            .await
            .expect("ListTrainingJobs")
            .iter()
            .map(|s| s.training_job_name().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every training job on the endpoint (with `status`, when given), all pages.
    pub async fn list_jobs(
        &self,
        status: Option<aws_sdk_sagemaker::types::TrainingJobStatus>,
    ) -> Result<Vec<aws_sdk_sagemaker::types::TrainingJobSummary>, String> {
        let mut jobs = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sagemaker
                .list_training_jobs()
                .set_status_equals(status.clone())
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| trainq_infra::errors::describe(&e))?;
            jobs.extend(out.training_job_summaries().iter().cloned());
            token = out.next_token;
            if token.is_none() {
                return Ok(jobs);
            }
        }
    }
}

/// Every call a world's clients made went through its front door: a refusal nobody expected
/// means trainq (or the test) made a call AWS would refuse, so the test fails here even if
/// the code under test coped with the error.
impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() || self.refusals_allowed.load(Ordering::Relaxed) {
            return;
        }
        let stats = self.endpoint.contract_stats();
        assert!(
            stats.refused == 0 && stats.unapplied_patterns.is_empty(),
            "calls AWS would refuse were made: {:#?}",
            stats
        );
    }
}
