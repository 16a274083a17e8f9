//! The dispatcher Lambda's logic: an SQS batch of training requests becomes SageMaker training
//! jobs, each request recorded in the jobs table. Generic over the ports of `trainq-common`, so
//! the same code runs on in-memory fakes (unit tests), against moto and the local SageMaker
//! endpoint (integration tests) and in AWS.
//!
//! Per message: parse → validate → check the sender (SQS's `SenderId`) against the registry's
//! allow-list → record the request `Queued` in the waiting room
//! (conditional write) → a round of admission: the waiting requests that fit the pools' free
//! capacity, in order of priority class, fair share and age, each take a slot in the capacity
//! ledger, are claimed `Launching` with a lease, and launched (CreateTrainingJob within the
//! account's call rate) and recorded. A wake-up message (sent when a slot frees) runs a round
//! alone. The batch response names only the messages to deliver again: those whose round met
//! throttling or whose record could not be written.

mod admission;
mod alerts;
mod backoff;
mod batch;
pub mod config;
mod enqueue;
mod ids;
mod launch;
mod outcome;
mod reject;
mod slots;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use trainq_common::ports::{AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService};
use trainq_infra::lambda::batch_response;

pub use config::DispatcherConfig;
pub use outcome::Outcome;

/// The dispatcher: the ports it talks to and its configuration, built once per cold start.
pub struct Dispatcher<S, T, A, Q, L> {
    store: S,
    training: T,
    alerts: A,
    queue: Q,
    ledger: L,
    config: DispatcherConfig,
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// A dispatcher over the given ports.
    pub fn new(
        store: S,
        training: T,
        alerts: A,
        queue: Q,
        ledger: L,
        config: DispatcherConfig,
    ) -> Self {
        Self {
            store,
            training,
            alerts,
            queue,
            ledger,
            config,
        }
    }

    /// Handles one SQS batch: its messages are taken in concurrently, then one round of
    /// admission serves them all. The response names the messages to deliver again; every
    /// other message is done (queued, launched, duplicate or rejected).
    pub async fn handle_batch(&self, event: &SqsEvent) -> SqsBatchResponse {
        let outcomes = self.handle_messages(&event.records).await;
        batch_response(
            event
                .records
                .iter()
                .zip(outcomes.iter().map(|o| o.redeliver())),
        )
    }

    /// Handles one message (a batch of one); never panics, whatever the body.
    pub async fn handle_message(&self, message: &SqsMessage) -> Outcome {
        let mut outcomes = self.handle_messages(std::slice::from_ref(message)).await;
        outcomes.pop().unwrap_or(Outcome::Busy)
    }
}

/// SQS's `SenderId` of a message: who sent it (an IAM user id, or a role id and session).
/// SQS sets it; nothing in the body can.
pub(crate) fn sender_of(message: &SqsMessage) -> Option<&str> {
    message.attributes.get("SenderId").map(String::as_str)
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
