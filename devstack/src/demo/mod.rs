//! `trainq-devstack demo`: a scenario through the running local stack — a production
//! data-shift retrain, a research sweep on the same queue, a request whose first attempt loses
//! its spot capacity and finishes on the next rung from its checkpoint, a malformed request,
//! and a model held by its approval gate — with progress while it runs, the final table, the
//! registered models, and a verdict: it succeeds only if every outcome is the expected one.

mod report;
mod scenario;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde_json::json;
use trainq_common::JobRecord;
use trainq_common::ports::JobStore;
use trainq_common::stack::StackConfig;
use trainq_infra::DynamoJobStore;

use crate::stack::sdk_config;
use scenario::{Case, PRODUCTION_DATA, RESEARCH_DATA, SCARCE_TYPE};

/// How long the scenario may take once submitted.
const PATIENCE: Duration = Duration::from_secs(300);

/// Runs the demo against the stack; `Ok(true)` when every outcome is the expected one.
pub async fn run(stack: &StackConfig) -> Result<bool, String> {
    let moto = stack
        .endpoints
        .get("default")
        .ok_or("the stack file names no local endpoint")?;
    let sagemaker_url = stack
        .devstack
        .as_ref()
        .map(|d| d.sagemaker_url.clone())
        .ok_or("not a devstack")?;
    let sdk = sdk_config(moto, &stack.region).await;
    let started = Instant::now();

    println!("1/4 data: synthetic part images (300 train, 100 validation) for both registries");
    for uri in [PRODUCTION_DATA, RESEARCH_DATA] {
        upload_dataset(&sdk, uri).await?;
    }
    println!("2/4 faults: spot capacity on {SCARCE_TYPE} is lost after the first checkpoint");
    set_faults(
        &sagemaker_url,
        &json!({"spot_capacity_lost": [SCARCE_TYPE]}),
    )
    .await?;

    let cases = scenario::cases();
    println!(
        "3/4 submitting {} requests to {}",
        cases.len(),
        stack.requests_queue_url
    );
    submit(
        &aws_sdk_sqs::Client::new(&sdk),
        &stack.requests_queue_url,
        &cases,
    )
    .await?;

    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), &stack.jobs_table);
    let records = follow(&store, &cases, started).await?;
    set_faults(&sagemaker_url, &json!({})).await?;

    println!(
        "\n4/4 results after {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
    let state_dir = stack
        .devstack
        .as_ref()
        .map(|d| d.state_dir.clone())
        .unwrap_or_default();
    let verdicts: Vec<Result<(), String>> = cases
        .iter()
        .map(|c| report::check(c, records.get(&c.request_id), Path::new(&state_dir)))
        .collect();
    report::table(&cases, &records, &verdicts);
    let sagemaker = aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::config::Builder::from(&sdk)
            .endpoint_url(&sagemaker_url)
            .build(),
    );
    report::models(&sagemaker, &records).await;
    report::alerts(&aws_sdk_sqs::Client::new(&sdk), &stack.alerts_queue_url).await;
    let failed = verdicts.iter().filter(|v| v.is_err()).count();
    let contract_held = contract_report(&sagemaker_url).await?;
    if failed == 0 && !contract_held {
        println!("\ndemo FAILED: calls were made that AWS would refuse");
        return Ok(false);
    }
    if failed == 0 {
        println!(
            "\ndemo passed: {} of {} outcomes as expected",
            cases.len(),
            cases.len()
        );
    } else {
        println!(
            "\ndemo FAILED: {failed} of {} outcomes not as expected",
            cases.len()
        );
    }
    Ok(failed == 0)
}

/// Generates the dataset and uploads it under `uri` (`train/` and `val/`).
async fn upload_dataset(sdk: &aws_config::SdkConfig, uri: &str) -> Result<(), String> {
    let s3 = crate::datasets::s3_client(sdk);
    for (channel, seed, count) in [("train", 1, 300), ("val", 2, 100)] {
        crate::datasets::upload(&s3, &format!("{uri}{channel}/"), seed, count).await?;
    }
    Ok(())
}

/// Prints the front door's contract check; `true` when no call broke AWS's contract.
async fn contract_report(sagemaker_url: &str) -> Result<bool, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("reading the front door's counters: {e}");
    let body = reqwest::Client::new()
        .get(format!("{sagemaker_url}/_devstack/stats"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| unreadable(&e))?
        .bytes()
        .await
        .map_err(|e| unreadable(&e))?;
    let stats: crate::sagemaker::Stats =
        serde_json::from_slice(&body).map_err(|e| unreadable(&e))?;
    let c = &stats.contract;
    println!(
        "\nAWS contract: {} calls checked against AWS's service models, {} refused",
        c.checked, c.refused
    );
    for refusal in &c.recent {
        println!("  refused: {refusal}");
    }
    Ok(c.refused == 0)
}

async fn set_faults(sagemaker_url: &str, faults: &serde_json::Value) -> Result<(), String> {
    let response = reqwest::Client::new()
        .put(format!("{sagemaker_url}/_devstack/faults"))
        .body(faults.to_string())
        .send()
        .await
        .map_err(|e| format!("setting faults: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("setting faults: {}", response.status()))
    }
}

async fn submit(sqs: &aws_sdk_sqs::Client, queue_url: &str, cases: &[Case]) -> Result<(), String> {
    for chunk in cases.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&c.body)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SendMessageBatch: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
        if let Some(failed) = out.failed().first() {
            return Err(format!("SendMessageBatch refused a message: {failed:?}"));
        }
    }
    Ok(())
}

/// Polls the records until every case has reached its expected state, printing each change.
async fn follow(
    store: &DynamoJobStore,
    cases: &[Case],
    started: Instant,
) -> Result<BTreeMap<uuid::Uuid, JobRecord>, String> {
    let mut records: BTreeMap<uuid::Uuid, JobRecord> = BTreeMap::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut settled = 0;
        for case in cases {
            let Some(record) = store
                .get(case.request_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            let before = records
                .get(&case.request_id)
                .map(|r| (r.state, r.attempts.len()));
            let now = (record.state, record.attempts.len());
            if before != Some(now) {
                let attempt = record.current_attempt().map_or(String::new(), |a| {
                    format!(
                        " (attempt {} on {}{})",
                        a.number,
                        a.instance_type,
                        if a.spot { " spot" } else { "" }
                    )
                });
                println!(
                    "  [{:>4.0}s] {:<42} {}{attempt}",
                    started.elapsed().as_secs_f64(),
                    case.label,
                    record.state
                );
            }
            if record.state == case.expect.state || record.state.is_terminal() {
                settled += 1;
            }
            records.insert(case.request_id, record);
        }
        if settled == cases.len() {
            return Ok(records);
        }
        if Instant::now() > deadline {
            println!(
                "  … {} of {} settled after {PATIENCE:?}; giving up",
                settled,
                cases.len()
            );
            return Ok(records);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
