//! A record's size stays bounded however long a request's history grows: twenty operator
//! retries and a job interrupted fifty times keep the item well under DynamoDB's 400 KB, and
//! `trainq jobs show` still has every fact.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use trainq_integration_tests::cli_stack::{FLAGS, Stack, stderr, stdout};
use trainq_integration_tests::poll;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

/// What DynamoDB counts for an item: attribute names and values (numbers as their digits),
/// lists and maps with 3 bytes of their own and 1 per element.
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value(e)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, e)| 1 + k.len() + value(e)).sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_operator_retries_and_fifty_interruptions_stay_well_under_the_item_limit() {
    let s = Stack::start(TRAINER, |_| {}).await;
    // No data yet: every attempt fails at download (a user failure: not retried by itself).
    let flags: Vec<&str> = FLAGS
        .iter()
        .map(|f| if *f == "epochs=3" { "epochs=300" } else { f })
        .collect();
    // Slow epochs: each new checkpoint is seen (and interrupted) before the next.
    let out = s.trainq(&[&["submit"][..], &flags, &["--hp", "epoch_delay_ms=100"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    s.wait_state(&id, "Failed").await;
    for n in 2..=21 {
        let retried = s.trainq(&["jobs", "retry", &id]);
        assert!(retried.status.success(), "{}", stderr(&retried));
        poll::until(
            &format!("attempt {n} to fail"),
            Duration::from_secs(60),
            || async {
                let r: Value =
                    serde_json::from_slice(&s.trainq(&["jobs", "show", &id, "--json"]).stdout)
                        .ok()?;
                (r["state"] == "Failed" && r["attempts"].as_array()?.len() == n).then_some(())
            },
        )
        .await;
    }
    // Now with data, on spot, interrupted after each of its first fifty checkpoints.
    s.upload_data().await;
    s.set_faults(&json!({"spot_interruptions": {"ml.g5.xlarge": 50}}))
        .await;
    assert!(s.trainq(&["jobs", "retry", &id]).status.success());
    let record = poll::until(
        "the interrupted attempt to complete",
        Duration::from_secs(240),
        || async {
            let r: Value =
                serde_json::from_slice(&s.trainq(&["jobs", "show", &id, "--json"]).stdout).ok()?;
            (r["state"] == "Registered" || r["state"] == "Failed").then_some(r)
        },
    )
    .await;
    assert_eq!(record["state"], "Registered", "{}", record["reason"]);

    // Every fact the CLI shows is there: 22 attempts, 21 of them retried by hand, and all
    // fifty interruptions of the last.
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 22);
    let by_hand = attempts
        .iter()
        .filter(|a| a["retried_by"].is_string())
        .count();
    assert_eq!(by_hand, 21);
    let last = attempts.last().unwrap();
    let interruptions = last["secondary_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "Interrupted")
        .count();
    assert_eq!(interruptions, 50, "{last}");
    assert!(
        attempts.iter().all(|a| a["elided_statuses"].is_null()),
        "nothing left out"
    );
    let text = stdout(&s.trainq(&["jobs", "show", &id]));
    assert_eq!(text.matches("retried by").count(), 21, "{text}");

    // The item, as DynamoDB counts it: well under 400 KB.
    let stack = s.devstack.stack();
    let sdk = trainq_devstack::stack::sdk_config(&stack.endpoints["default"], &stack.region).await;
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&stack.jobs_table)
        .key("request_id", AttributeValue::S(id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let size = item_size(&item);
    eprintln!("item of 22 attempts and 50 interruptions: {size} bytes");
    assert!(size < 100_000, "{size} bytes");
    s.devstack.stop().await;
}
