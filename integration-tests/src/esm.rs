//! The SQS event source mapping, as Lambda runs it: receive up to 10 messages, invoke the
//! function with them, delete the ones not named in `batchItemFailures`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};

/// Receives one batch (waiting up to `wait_s` for the first message).
pub async fn receive(sqs: &Client, queue_url: &str, wait_s: i32) -> Vec<Message> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_s)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default()
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

/// Deletes every message of `messages` not named in `response`. Returns how many were deleted.
pub async fn acknowledge(
    sqs: &Client,
    queue_url: &str,
    messages: &[Message],
    response: &SqsBatchResponse,
) -> usize {
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let entries: Vec<_> = messages
        .iter()
        .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("entry")
        })
        .collect();
    let n = entries.len();
    if n > 0 {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("DeleteMessageBatch");
    }
    n
}

/// Polls the queue and invokes `handler` until the queue is empty (nothing visible or in
/// flight) or `limit` passes. Returns the number of invocations.
pub async fn run_until_drained<H, Fut>(
    sqs: &Client,
    queue_url: &str,
    queue_arn: &str,
    limit: Duration,
    mut handler: H,
) -> usize
where
    H: FnMut(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    let deadline = Instant::now() + limit;
    let mut invocations = 0;
    loop {
        let messages = receive(sqs, queue_url, 1).await;
        if !messages.is_empty() {
            let response = handler(to_event(&messages, queue_arn)).await;
            acknowledge(sqs, queue_url, &messages, &response).await;
            invocations += 1;
        } else if depth(sqs, queue_url).await == 0 {
            return invocations;
        }
        assert!(
            Instant::now() < deadline,
            "queue not drained within {limit:?}"
        );
    }
}

/// Visible plus in-flight messages.
pub async fn depth(sqs: &Client, queue_url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    attrs.values().filter_map(|v| v.parse::<u64>().ok()).sum()
}
