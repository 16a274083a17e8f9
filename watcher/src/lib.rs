//! The watcher Lambda: reacts to "SageMaker Training Job State Change" events. This is the
//! skeleton the watcher issue fills in: for now it only logs the events it receives.

use serde_json::Value;
use tracing::info;

/// Handles one EventBridge event (skeleton: logs its detail type and job name).
pub async fn handle_event(event: &Value) {
    let job = event
        .pointer("/detail/TrainingJobName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    info!(detail_type = ?event.get("detail-type"), job_name = job, "event received");
}
