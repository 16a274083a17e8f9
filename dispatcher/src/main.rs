//! The dispatcher Lambda's entry point: load config, build clients once, run the runtime.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use trainq_common::config::Env;
use trainq_dispatcher::{Dispatcher, DispatcherConfig};
use trainq_infra::{
    DynamoCapacityLedger, DynamoJobStore, EventBridgeAlerts, SageMakerTraining, SqsRequestQueue,
    aws, telemetry,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    // One per process: the dashboard's cold starts.
    trainq_common::metrics::emit_with(
        &[("Function", "dispatcher")],
        &[(trainq_common::metrics::Metric::ColdStart, 1.0)],
    );
    // Fail fast at cold start, naming the variable, rather than on the first message.
    let config = DispatcherConfig::from_env(&Env::process())
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk = aws::load_from_env().await;
    let dispatcher = Dispatcher::new(
        DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.jobs_table),
        SageMakerTraining::new(aws_sdk_sagemaker::Client::new(&sdk)),
        EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&sdk), &config.alerts_bus)
            .with_runbook(&config.runbook_url),
        SqsRequestQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.requests_queue_url),
        DynamoCapacityLedger::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.scheduler.capacity_table,
        ),
        config,
    );
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(dispatcher.handle_batch(&event.payload).await)
    }))
    .await
}
