//! The dispatcher Lambda's logic: an SQS batch of training requests becomes SageMaker training
//! jobs, each request recorded in the jobs table. Generic over the ports of `trainq-common`, so
//! the same code runs on in-memory fakes (unit tests), against moto and the local SageMaker
//! endpoint (integration tests) and in AWS.
//!
//! Per message: parse → validate → claim the request (conditional write, with a launch lease)
//! → CreateTrainingJob → record the attempt. The batch response names only the messages to
//! deliver again: deferred ones (throttling, quota, transient faults) and those whose record
//! could not be written.

mod backoff;
pub mod config;
mod launch;
mod outcome;
mod reject;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use tracing::{Instrument, info_span, warn};
use trainq_common::naming::request_id_for_message;
use trainq_common::ports::{AlertSink, JobStore, RequestQueue, TrainingService};
use trainq_common::request::{parse, peek_request_id, validate};
use trainq_infra::lambda::batch_response;
use uuid::Uuid;

pub use config::DispatcherConfig;
pub use outcome::Outcome;

/// The dispatcher: the ports it talks to and its configuration, built once per cold start.
pub struct Dispatcher<S, T, A, Q> {
    store: S,
    training: T,
    alerts: A,
    queue: Q,
    config: DispatcherConfig,
}

impl<S, T, A, Q> Dispatcher<S, T, A, Q>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
{
    /// A dispatcher over the given ports.
    pub fn new(store: S, training: T, alerts: A, queue: Q, config: DispatcherConfig) -> Self {
        Self {
            store,
            training,
            alerts,
            queue,
            config,
        }
    }

    /// Handles one SQS batch, its messages concurrently. The response names the messages to
    /// deliver again; every other message is done (launched, duplicate or rejected).
    pub async fn handle_batch(&self, event: &SqsEvent) -> SqsBatchResponse {
        let outcomes = join_all(event.records.iter().map(|m| self.handle_message(m))).await;
        batch_response(
            event
                .records
                .iter()
                .zip(outcomes.iter().map(|o| o.redeliver())),
        )
    }

    /// Handles one message; never panics, whatever the body.
    pub async fn handle_message(&self, message: &SqsMessage) -> Outcome {
        let body = message.body.as_deref().unwrap_or_default();
        let fallback_id = match &message.message_id {
            Some(id) => request_id_for_message(id),
            None => {
                warn!("message without a message id; its request cannot be deduplicated");
                Uuid::new_v4()
            }
        };
        let checked =
            parse(body).and_then(|request| validate(request, &self.config.registries, fallback_id));
        let request_id = match &checked {
            Ok(valid) => valid.request_id,
            Err(_) => peek_request_id(body).unwrap_or(fallback_id),
        };
        let span = info_span!(
            "request",
            request_id = %request_id,
            job_name = tracing::field::Empty,
            message_id = message.message_id.as_deref().unwrap_or_default(),
        );
        async {
            let outcome = match checked {
                Ok(valid) => self.launch(valid, message).await,
                Err(error) => self.reject(request_id, body, error, message).await,
            };
            outcome.log();
            outcome
        }
        .instrument(span)
        .await
    }
}

/// `ApproximateReceiveCount` of a message (1 on first delivery).
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests;
