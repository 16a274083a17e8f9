//! The SQS event source mapping as the tests drive it: devstack's mapping
//! ([`trainq_devstack::lambda::esm`]), one batch at a time, until a queue is drained.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::Message;
pub use trainq_devstack::lambda::esm::to_event;

/// Receives one batch of up to 10 (waiting up to `wait_s` for the first message).
pub async fn receive(sqs: &Client, queue_url: &str, wait_s: i32) -> Vec<Message> {
    trainq_devstack::lambda::esm::receive(sqs, queue_url, 10, wait_s)
        .await
        .expect("ReceiveMessage")
}

/// Deletes every message not named in `response`; returns how many were deleted.
pub async fn acknowledge(
    sqs: &Client,
    queue_url: &str,
    messages: &[Message],
    response: &SqsBatchResponse,
) -> usize {
    trainq_devstack::lambda::esm::acknowledge(sqs, queue_url, messages, response)
        .await
        .expect("DeleteMessageBatch")
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
