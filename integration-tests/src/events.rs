//! Requests with ids of their own, and the state-change events the local endpoint publishes:
//! taken off the watcher's queue and delivered again, duplicated or reordered, as an
//! at-least-once, unordered transport may.

use serde_json::{Value, json};
use trainq_common::testing::request_id_of;
use uuid::Uuid;

use crate::esm;
use crate::world::World;

/// `body` with a request id of its own: every test's endpoint publishes to moto's one default
/// bus, so job names must not repeat across tests.
pub fn fresh(mut body: Value) -> Value {
    body["request_id"] = json!(Uuid::new_v4().to_string());
    body
}

impl World {
    /// Sends `body` and runs the dispatcher until the queue is empty; returns the request id.
    pub async fn launch(&self, body: &Value) -> Uuid {
        self.submit_and_drain(body).await;
        request_id_of(body)
    }

    /// The state-change events of `job` now waiting on the watcher's queue, oldest first,
    /// removed from the queue (other tests' jobs share the default bus and are dropped).
    pub async fn take_events(&self, job: &str) -> Vec<Value> {
        let queue = &self.names.events_queue_url;
        let mut events = Vec::new();
        loop {
            let messages = esm::receive(&self.sqs, queue, 1).await;
            if messages.is_empty() {
                events.sort_by_key(|e: &Value| e["detail"]["LastModifiedTime"].as_i64());
                return events;
            }
            let response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
            esm::acknowledge(&self.sqs, queue, &messages, &response).await;
            for m in messages {
                let event: Value = serde_json::from_str(m.body().unwrap_or("null")).unwrap();
                if event["detail"]["TrainingJobName"] == job {
                    events.push(event);
                }
            }
        }
    }

    /// Puts `events` on the watcher's queue, in this order.
    pub async fn deliver_events(&self, events: &[&Value]) {
        for e in events {
            self.sqs
                .send_message()
                .queue_url(&self.names.events_queue_url)
                .message_body(e.to_string())
                .send()
                .await
                .expect("SendMessage");
        }
    }
}

impl World {
    /// Runs the pipeline (the watcher on its events, the dispatcher on retries) until the
    /// request's record is in one of `states`; panics after `limit`.
    pub async fn run_until(
        &self,
        id: Uuid,
        states: &[trainq_common::JobState],
        limit: std::time::Duration,
    ) -> trainq_common::JobRecord {
        let dispatcher = self.dispatcher();
        crate::poll::until(
            &format!("request {id} to reach {states:?}"),
            limit,
            || async {
                self.drain_events().await;
                self.drain(&dispatcher).await;
                self.record(id).await.filter(|r| states.contains(&r.state))
            },
        )
        .await
    }
}
