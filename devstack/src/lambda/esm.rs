//! The SQS event source mapping, as Lambda runs it: receive up to a batch of messages (long
//! polling), invoke the function with them, delete the ones its response does not name in
//! `batchItemFailures`; if the invocation fails, delete nothing (the messages come back after
//! the queue's visibility timeout, and the redrive policy dead-letters them after
//! `maxReceiveCount` deliveries, which SQS itself counts).

use std::collections::HashMap;
use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};

/// Receives up to `max` messages (1–10), waiting up to `wait_s` for the first.
pub async fn receive(
    sqs: &Client,
    queue_url: &str,
    max: i32,
    wait_s: i32,
) -> Result<Vec<Message>, String> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max.clamp(1, 10))
        .wait_time_seconds(wait_s)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map(|out| out.messages.unwrap_or_default())
        .map_err(|e| format!("ReceiveMessage {queue_url}: {e}"))
}

/// The Lambda event for received messages.
pub fn to_event(messages: &[Message], queue_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id.clone();
            r.receipt_handle = m.receipt_handle.clone();
            r.body = m.body.clone();
            r.md5_of_body = m.md5_of_body.clone();
            r.attributes = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect::<HashMap<_, _>>();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(queue_arn.to_owned());
            r
        })
        .collect();
    event
}

/// Deletes every message of `messages` not named in `response`; returns how many.
pub async fn acknowledge(
    sqs: &Client,
    queue_url: &str,
    messages: &[Message],
    response: &SqsBatchResponse,
) -> Result<usize, String> {
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let entries: Vec<_> = messages
        .iter()
        .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    let n = entries.len();
    if n > 0 {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| format!("DeleteMessageBatch {queue_url}: {e}"))?;
    }
    Ok(n)
}

/// One mapping: a queue feeding a function.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN (the records' `eventSourceARN`).
    pub queue_arn: String,
    /// Messages per invocation (1–10).
    pub batch_size: i32,
}

impl Mapping {
    /// Polls forever: one batch at a time, invoking `invoke` with the event. `Err` from
    /// `invoke` is a failed invocation: the whole batch is left to come back.
    pub async fn run<F, Fut>(&self, sqs: &Client, mut invoke: F)
    where
        F: FnMut(SqsEvent) -> Fut,
        Fut: Future<Output = Result<SqsBatchResponse, String>>,
    {
        loop {
            let messages = match receive(sqs, &self.queue_url, self.batch_size, 5).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "event source mapping could not receive");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            match invoke(to_event(&messages, &self.queue_arn)).await {
                Ok(response) => {
                    if let Err(e) = acknowledge(sqs, &self.queue_url, &messages, &response).await {
                        tracing::warn!(error = %e, "event source mapping could not delete");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, messages = messages.len(), "invocation failed; the batch will come back")
                }
            }
        }
    }
}
