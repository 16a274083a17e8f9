//! Publishing "SageMaker Training Job State Change" events to moto's default event bus, as
//! SageMaker publishes them to the account's default bus in AWS.

use serde_json::{Value, json};

/// The `detail-type` SageMaker uses.
const DETAIL_TYPE: &str = "SageMaker Training Job State Change";

/// Sends events with EventBridge's JSON protocol (PutEvents) to moto.
pub(super) struct EventPublisher {
    client: reqwest::Client,
    moto_url: String,
}

impl EventPublisher {
    pub(super) fn new(moto_url: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            moto_url: moto_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Publishes one state change; failures are logged (AWS does not retry them for us either).
    pub(super) async fn publish(&self, detail: Value) {
        let arn = detail.get("TrainingJobArn").cloned().unwrap_or(Value::Null);
        // arn:aws:sagemaker:<region>:<account>:training-job/<name>
        let region = arn
            .as_str()
            .and_then(|a| a.split(':').nth(3))
            .unwrap_or("us-east-1")
            .to_owned();
        let body = json!({"Entries": [{
            "Source": "aws.sagemaker",
            "DetailType": DETAIL_TYPE,
            "Detail": detail.to_string(),
            "Resources": [arn],
            "EventBusName": "default",
        }]});
        let result = self
            .client
            .post(&self.moto_url)
            .header("X-Amz-Target", "AWSEvents.PutEvents")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=devstack/20260101/{region}/events/aws4_request"
                ),
            )
            .body(body.to_string())
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "PutEvents to moto failed"),
            Err(e) => tracing::warn!(error = %e, "PutEvents to moto failed"),
        }
    }
}
