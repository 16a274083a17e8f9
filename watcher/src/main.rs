//! The watcher Lambda's entry point: load config, build clients once, run the runtime.
//!
//! One function, two triggers: the SQS event source mapping of the job-events queue (a batch
//! of state-change events) and the reconcile schedule (an EventBridge "Scheduled Event").

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use trainq_common::config::Env;
use trainq_infra::{
    DynamoCapacityLedger, DynamoJobStore, EventBridgeAlerts, SageMakerModelRegistry,
    SageMakerTraining, SqsRequestQueue, artifacts, aws, telemetry,
};
use trainq_watcher::{Invocation, Watcher, WatcherConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    // One per process: the dashboard's cold starts.
    trainq_common::metrics::emit_with(
        &[("Function", "watcher")],
        &[(trainq_common::metrics::Metric::ColdStart, 1.0)],
    );
    let config = WatcherConfig::from_env(&Env::process())
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk = aws::load_from_env().await;
    let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
    let watcher = Watcher::new(
        DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.jobs_table),
        SageMakerTraining::new(sagemaker.clone()),
        EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&sdk), &config.alerts_bus)
            .with_runbook(&config.runbook_url),
        SqsRequestQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.requests_queue_url),
        SageMakerModelRegistry::new(sagemaker, artifacts::s3_client(&sdk)),
        DynamoCapacityLedger::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.scheduler.capacity_table,
        ),
        config,
    );
    let watcher = &watcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let response = match Invocation::of(event.payload)? {
            Invocation::Events(batch) => serde_json::to_value(watcher.handle_batch(&batch).await)?,
            Invocation::Reconcile => serde_json::to_value(watcher.reconcile().await)?,
        };
        Ok::<Value, Error>(response)
    }))
    .await
}
