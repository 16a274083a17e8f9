//! The faults of a chaos run, one kind per function: duplicated deliveries, dying invocations,
//! SageMaker playing its part (completions, lost spot capacity), and a misbehaving event
//! transport (duplicates, reordering, drops).

use std::collections::BTreeSet;

use aws_sdk_sagemaker::types::TrainingJobStatus;
use serde_json::json;
use trainq_common::chaos;

use super::{ChaosConfig, Figures, Sent, percent};
use crate::esm::{acknowledge, receive, to_event};
use crate::world::{AwsDispatcher, AwsWatcher, World};

/// Sends every request one to three times.
pub(super) async fn send_with_duplicates(
    w: &World,
    config: &ChaosConfig,
    sent: &[Sent],
    figures: &mut Figures,
) {
    let (mut bodies, mut impostors) = (Vec::new(), Vec::new());
    for s in sent {
        let copies = 1 + percent(config.seed, "copies", &s.id.to_string()) % 3;
        let to = if s.impostor {
            &mut impostors
        } else {
            &mut bodies
        };
        for _ in 0..copies {
            to.push(s.body.as_str());
        }
    }
    figures.deliveries_sent = bodies.len() + impostors.len();
    w.send_all(bodies).await;
    w.send_all_with(&w.sqs_as("research").await, impostors)
        .await;
}

/// A few dispatcher invocations; one whose fault point fired "died": nothing acknowledged.
pub(super) async fn dispatch_round(w: &World, dispatcher: &AwsDispatcher, figures: &mut Figures) {
    for _ in 0..5 {
        let messages = receive(&w.sqs, &w.names.queue_url, 0).await;
        if messages.is_empty() {
            return;
        }
        chaos::take_crashed();
        let response = dispatcher
            .handle_batch(&to_event(&messages, &w.names.queue_arn))
            .await;
        figures.dispatcher_invocations += 1;
        if chaos::take_crashed() {
            figures.dead_invocations += 1;
        } else {
            acknowledge(&w.sqs, &w.names.queue_url, &messages, &response).await;
        }
    }
}

/// A manifest that breaks the model in service: a third class.
fn incompatible_manifest() -> serde_json::Value {
    let mut m = trainq_common::testing::sample_manifest();
    m["labels"] = json!(["ok", "scratch", "dent"]);
    m["outputs"][0]["shape"] = json!([3]);
    m
}

/// SageMaker's part: every job running gets an ending — completed with metrics, or, for a
/// share, its spot capacity lost (and a share of the completed models incompatible); the first
/// attempt of the requests an operator will retry fails by its code (not retried by itself).
pub(super) async fn sagemaker_round(
    w: &World,
    config: &ChaosConfig,
    finished: &mut BTreeSet<String>,
    figures: &mut Figures,
) {
    let running = w
        .list_jobs(Some(TrainingJobStatus::InProgress))
        .await
        .expect("ListTrainingJobs");
    for job in &running {
        let name = job.training_job_name().unwrap_or_default().to_owned();
        if !finished.insert(name.clone()) {
            continue;
        }
        let first_of_retried =
            trainq_common::naming::parse_job_name(&name).is_some_and(|(id, attempt)| {
                attempt == 1 && percent(config.seed, "retry", &id.to_string()) < config.retry_pct
            });
        let ending = if first_of_retried {
            json!({"status": "Failed", "failure_reason": "AlgorithmError: train.py exited with code 1",
                   "billable_s": 5, "training_s": 10})
        } else if percent(config.seed, "spot", &name) < config.spot_loss_pct {
            figures.spot_losses += 1;
            json!({"status": "Stopped", "secondary_status": "MaxWaitTimeExceeded", "billable_s": 20, "training_s": 60})
        } else {
            let accuracy = 0.9 + percent(config.seed, "accuracy", &name) as f64 / 1000.0;
            let mut done = json!({"status": "Completed", "billable_s": 30, "training_s": 100,
                   "metrics": {"validation:accuracy": accuracy}});
            if percent(config.seed, "incompatible", &name) < config.incompatible_pct {
                done["manifest"] = incompatible_manifest();
                figures.incompatible_jobs.insert(name.clone());
            }
            done
        };
        w.finish_job(&name, ending).await;
    }
}

/// The event transport at its worst: each event dropped, or delivered and sent again for a
/// later, out-of-order second delivery, and every batch shuffled; then the watcher, which may
/// die like the dispatcher.
pub(super) async fn events_round(
    w: &World,
    watcher: &AwsWatcher,
    config: &ChaosConfig,
    figures: &mut Figures,
) {
    for _ in 0..5 {
        let mut messages = receive(&w.sqs, &w.names.events_queue_url, 0).await;
        if messages.is_empty() {
            return;
        }
        let mut deliver = Vec::new();
        let mut dropped = Vec::new();
        for m in messages.drain(..) {
            let key = m.message_id().unwrap_or_default().to_owned();
            if percent(config.seed, "drop", &key) < config.drop_pct {
                dropped.push(m);
                continue;
            }
            if percent(config.seed, "duplicate", &key) < config.duplicate_pct {
                figures.events_duplicated += 1;
                w.sqs
                    .send_message()
                    .queue_url(&w.names.events_queue_url)
                    .message_body(m.body().unwrap_or_default())
                    .send()
                    .await
                    .expect("SendMessage");
            }
            deliver.push(m);
        }
        figures.events_dropped += dropped.len();
        let none = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        acknowledge(&w.sqs, &w.names.events_queue_url, &dropped, &none).await;
        // Reordered: newest first within the batch.
        deliver.reverse();
        if deliver.is_empty() {
            continue;
        }
        chaos::take_crashed();
        let response = watcher
            .handle_batch(&to_event(&deliver, &w.names.events_queue_arn))
            .await;
        figures.watcher_invocations += 1;
        figures.events_delivered += deliver.len();
        if chaos::take_crashed() {
            figures.dead_invocations += 1;
        } else {
            acknowledge(&w.sqs, &w.names.events_queue_url, &deliver, &response).await;
        }
    }
}
