//! The requests queue adapter.

use aws_sdk_sqs::Client;
use trainq_common::ServiceError;
use trainq_common::ports::RequestQueue;

use crate::errors::classify;

/// SQS's longest per-message delay (15 minutes).
const MAX_DELAY_S: u32 = 900;

/// [`RequestQueue`] over SQS.
#[derive(Clone)]
pub struct SqsRequestQueue {
    client: Client,
    queue_url: String,
}

impl SqsRequestQueue {
    /// An adapter for the queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl RequestQueue for SqsRequestQueue {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay_s: u32,
    ) -> Result<(), ServiceError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_s).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn send(&self, body: &str) -> Result<(), ServiceError> {
        self.send_delayed(body, 0).await
    }

    async fn send_delayed(&self, body: &str, delay_s: u32) -> Result<(), ServiceError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay_s.min(MAX_DELAY_S)).unwrap_or(0))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
