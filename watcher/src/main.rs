//! The watcher Lambda's entry point (skeleton until the watcher issue).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use trainq_infra::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        trainq_watcher::handle_event(&event.payload).await;
        Ok::<(), Error>(())
    }))
    .await
}
