//! Logs are structured JSON and every line about a request carries its request id and, once
//! known, its job name. In a test binary of its own: tracing caches per-callsite interest
//! process-wide, so a capturing subscriber must not race other tests' threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::{Value, json};
use trainq_common::ServiceError;
use trainq_common::config::Env;
use trainq_common::fakes::{
    FakeTraining, MemoryJobStore, MemoryLedger, RecordingAlerts, RecordingQueue,
};
use trainq_common::naming;
use trainq_common::testing::{sample_env, sample_request};
use trainq_dispatcher::{Dispatcher, DispatcherConfig};

/// A writer that keeps everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn message(message_id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(message_id.to_owned());
    m.receipt_handle = Some(format!("rh-{message_id}"));
    m.body = Some(body.to_owned());
    m.attributes = HashMap::from([
        ("ApproximateReceiveCount".to_owned(), "1".to_owned()),
        (
            "SenderId".to_owned(),
            trainq_common::testing::ONCALL_SENDER.to_owned(),
        ),
    ]);
    m
}

#[tokio::test]
async fn every_log_line_about_a_request_carries_its_id_and_job_name() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        // The Lambdas' own writer: every line passes the credential redaction.
        .with_writer(move || trainq_infra::redact::Redacting(writer.clone()))
        .init();

    let (store, training, alerts, queue, ledger) = (
        MemoryJobStore::default(),
        FakeTraining::default(),
        RecordingAlerts::default(),
        RecordingQueue::default(),
        MemoryLedger::default(),
    );
    let mut env = sample_env();
    env.extend([
        ("TRAINQ_JOBS_TABLE", "jobs"),
        ("TRAINQ_ALERTS_BUS", "trainq-alerts"),
        ("TRAINQ_REQUESTS_QUEUE_URL", "http://queue"),
        ("TRAINQ_CAPACITY_TABLE", "capacity"),
    ]);
    let config =
        DispatcherConfig::from_env(&Env::from_fn(|k| env.get(k).map(|v| v.to_string()))).unwrap();
    let d = Dispatcher::new(&store, &training, &alerts, &queue, &ledger, config);
    training
        .faults
        .lock()
        .unwrap()
        .push_back(ServiceError::Throttled("slow down".into()));
    let body = sample_request();
    d.handle_message(&message("m1", &body.to_string())).await;
    d.handle_message(&message("m2", "not json")).await;
    // Credentials pasted where they do not belong, in requests that are refused (the reason
    // quotes what it refuses) or launched.
    let secrets = [
        ("m3", "image", json!("AKIAIOSFODNN7EXAMPLE:latest")),
        (
            "m4",
            "hyperparameters",
            json!({"api_token": "tok-8f3k2j9x"}),
        ),
        (
            "m5",
            "aws_secret_access_key",
            json!("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ),
    ];
    for (id, field, value) in &secrets {
        let mut b = sample_request();
        b["request_id"] = json!(uuid::Uuid::new_v4().to_string());
        b[*field] = value.clone();
        d.handle_message(&message(id, &b.to_string())).await;
    }
    let raw = "{\"password\": \"hunter22-secret\", broken";
    d.handle_message(&message("m6", raw)).await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{text}");
    for line in &lines {
        assert!(
            line["span"]["request_id"].is_string(),
            "line without request id: {line}"
        );
    }
    let deferred = lines
        .iter()
        .find(|l| l["fields"]["message"] == "deferred")
        .unwrap();
    assert_eq!(deferred["span"]["request_id"], body["request_id"]);
    let id = body["request_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(deferred["span"]["job_name"], json!(naming::job_name(id, 1)));
    let rejected = lines
        .iter()
        .find(|l| l["fields"]["message"] == "rejected")
        .unwrap();
    assert!(
        rejected["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "tok-8f3k2j9x",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "hunter22-secret",
    ] {
        assert!(
            !text.contains(secret),
            "`{secret}` reached the logs:\n{text}"
        );
    }
    assert!(
        text.contains("[redacted]"),
        "the refusal still says where: {text}"
    );
    assert!(!text.contains("broken"), "raw bodies are never logged");
}
