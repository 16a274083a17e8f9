//! The backend's client: put training requests on the requests queue, with the id rule that
//! makes retraining on a data shift idempotent. `trainq submit` and `trainq sweep` use it too.
//!
//! ```no_run
//! # async fn demo(sqs: aws_sdk_sqs::Client, request: trainq_common::TrainingRequest) -> Result<(), trainq_common::ServiceError> {
//! let client = trainq_infra::client::TrainqClient::new(sqs, "https://sqs.eu-west-1.amazonaws.com/123456789012/trainq-requests");
//! // The same (customer, project, dataset version) is trained once, however often it is sent.
//! let id = client.enqueue(request, Some("2026-11-20-a")).await?;
//! println!("request {id}");
//! # Ok(()) }
//! ```

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use trainq_common::naming::{apply_dedupe_key, client_request_id};
use trainq_common::{ServiceError, TrainingRequest};
use uuid::Uuid;

use crate::errors::{classify, classify_code};

/// SQS takes at most 10 messages per batch.
/// The most messages one SendMessageBatch takes (SQS's limit).
pub const BATCH: usize = 10;

/// Sends training requests.
#[derive(Clone)]
pub struct TrainqClient {
    sqs: Client,
    queue_url: String,
}

/// A request on its way: its id and the SQS message carrying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The request id.
    pub request_id: Uuid,
    /// The SQS message id.
    pub message_id: String,
}

impl TrainqClient {
    /// A client for the requests queue at `queue_url`.
    pub fn new(sqs: Client, queue_url: impl Into<String>) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// Enqueues `request` and returns its request id: UUIDv5 of (customer, project,
    /// `dedupe_key`) when a key is given, else the request's own id, else a new one.
    pub async fn enqueue(
        &self,
        request: TrainingRequest,
        dedupe_key: Option<&str>,
    ) -> Result<Uuid, ServiceError> {
        Ok(self.submit(request, dedupe_key).await?.request_id)
    }

    /// As [`Self::enqueue`], also returning the SQS message id: the record names the message
    /// it took its request from (or, when it was refused, lists it among its refusals), which
    /// is how a follower tells its own message's fate from an earlier one's under the id.
    pub async fn submit(
        &self,
        mut request: TrainingRequest,
        dedupe_key: Option<&str>,
    ) -> Result<Submitted, ServiceError> {
        let request_id = client_request_id(&request, dedupe_key);
        request.request_id = Some(request_id);
        if let Some(key) = dedupe_key {
            apply_dedupe_key(&mut request, key);
        }
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body(&request)?)
            .send()
            .await
            .map_err(classify)?;
        Ok(Submitted {
            request_id,
            message_id: sent.message_id.unwrap_or_default(),
        })
    }

    /// Enqueues many requests in batches of 10 (each gets an id as in [`Self::enqueue`],
    /// without a dedupe key); returns their ids in order. Stops at the first refused message.
    pub async fn enqueue_all(
        &self,
        requests: Vec<TrainingRequest>,
    ) -> Result<Vec<Uuid>, ServiceError> {
        let mut ids = Vec::with_capacity(requests.len());
        let mut requests = requests;
        for r in &mut requests {
            let id = client_request_id(r, None);
            r.request_id = Some(id);
            ids.push(id);
        }
        for chunk in requests.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body(r)?)
                        .build()
                        .map_err(|e| ServiceError::Invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(classify)?;
            if let Some(failed) = out.failed().first() {
                return Err(classify_code(
                    Some(failed.code()),
                    format!(
                        "{}: {}",
                        failed.code(),
                        failed.message().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(ids)
    }
}

fn body(request: &TrainingRequest) -> Result<String, ServiceError> {
    serde_json::to_string(request)
        .map_err(|e| ServiceError::Invalid(format!("request to JSON: {e}")))
}
