//! The demo's verdicts and what it prints: the outcome table, the registered models, the
//! alerts raised.

use std::collections::BTreeMap;
use std::path::Path;

use trainq_common::JobRecord;
use uuid::Uuid;

use super::scenario::Case;

/// Whether `record` is what `case` expects; the error says what differs.
pub(super) fn check(
    case: &Case,
    record: Option<&JobRecord>,
    state_dir: &Path,
) -> Result<(), String> {
    let Some(r) = record else {
        return Err("no record".into());
    };
    let e = &case.expect;
    if r.state != e.state {
        return Err(format!("{} instead of {}", r.state, e.state));
    }
    if r.model_approval.as_deref() != e.approval {
        return Err(format!(
            "approval {:?} instead of {:?}",
            r.model_approval, e.approval
        ));
    }
    if r.attempts.len() != e.attempts {
        return Err(format!(
            "{} attempts instead of {}",
            r.attempts.len(),
            e.attempts
        ));
    }
    if e.resumed {
        let last = r
            .current_attempt()
            .map(|a| a.job_name.clone())
            .unwrap_or_default();
        let log = std::fs::read_to_string(state_dir.join("jobs").join(&last).join("training.log"))
            .unwrap_or_default();
        if !log.contains("resumed from checkpoint") {
            return Err(format!("{last} did not resume from a checkpoint"));
        }
    }
    Ok(())
}

/// The outcome of every case, one line each.
pub(super) fn table(
    cases: &[Case],
    records: &BTreeMap<Uuid, JobRecord>,
    verdicts: &[Result<(), String>],
) {
    println!(
        "{:<42} {:<10} {:<21} {:>3} {:<16} {:>6} {:>8}  ok",
        "request", "registry", "state", "att", "instance type", "spot %", "val acc"
    );
    for (case, verdict) in cases.iter().zip(verdicts) {
        let r = records.get(&case.request_id);
        let last = r.and_then(JobRecord::current_attempt);
        let registry = r.and_then(|r| r.registry).map_or("-", |k| k.as_str());
        let state = r.map_or("-".to_owned(), |r| r.state.to_string());
        let savings = r
            .and_then(|r| r.spot_savings_pct)
            .map_or("-".to_owned(), |s| format!("{s:.0}"));
        let accuracy = last
            .and_then(|a| a.final_metrics.get("validation:accuracy"))
            .map_or("-".to_owned(), |v| format!("{v:.3}"));
        let mark = match verdict {
            Ok(()) => "✓".to_owned(),
            Err(why) => format!("✗ {why}"),
        };
        println!(
            "{:<42} {:<10} {:<21} {:>3} {:<16} {:>6} {:>8}  {mark}",
            case.label,
            registry,
            state,
            r.map_or(0, |r| r.attempts.len()),
            last.map_or("-", |a| a.instance_type.as_str()),
            savings,
            accuracy
        );
        if let Some(reason) = r.and_then(|r| r.reason.as_deref()).filter(|_| {
            r.is_some_and(|r| {
                r.model_package_arn.is_none() || r.model_approval.as_deref() != Some("Approved")
            })
        }) {
            println!(
                "{:<42} └ {}",
                "",
                reason.chars().take(110).collect::<String>()
            );
        }
    }
}

/// The model packages this run registered, read back from the Model Registry.
pub(super) async fn models(
    sagemaker: &aws_sdk_sagemaker::Client,
    records: &BTreeMap<Uuid, JobRecord>,
) {
    println!("\nregistered models (SageMaker Model Registry)");
    println!(
        "{:<36} {:>7} {:<22} {:>8}  experiment",
        "group", "version", "approval", "val acc"
    );
    let mut packages = Vec::new();
    for arn in records
        .values()
        .filter_map(|r| r.model_package_arn.as_deref())
    {
        let described = sagemaker
            .describe_model_package()
            .model_package_name(arn)
            .send()
            .await;
        match described {
            Ok(p) => packages.push(p),
            Err(e) => println!(
                "{arn}: {}",
                aws_sdk_sagemaker::error::DisplayErrorContext(&e)
            ),
        }
    }
    packages.sort_by_key(|p| {
        (
            p.model_package_group_name().map(str::to_owned),
            p.model_package_version(),
        )
    });
    for p in packages {
        let meta = p
            .customer_metadata_properties()
            .cloned()
            .unwrap_or_default();
        println!(
            "{:<36} {:>7} {:<22} {:>8}  {}",
            p.model_package_group_name().unwrap_or("-"),
            p.model_package_version()
                .map_or("-".to_owned(), |v| v.to_string()),
            p.model_approval_status().map_or("-", |s| s.as_str()),
            meta.get("metric:validation:accuracy")
                .map_or("-", String::as_str),
            meta.get("trainq:experiment").map_or("-", String::as_str),
        );
    }
}

/// The alerts on the alerts queue, counted by kind (and taken off the queue).
pub(super) async fn alerts(sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    while let Ok(messages) = crate::lambda::esm::receive(sqs, queue_url, 10, 1).await {
        if messages.is_empty() {
            break;
        }
        for m in &messages {
            let event: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            *counts
                .entry(event["detail-type"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        let ack = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        let _ = crate::lambda::esm::acknowledge(sqs, queue_url, &messages, &ack).await;
    }
    println!("\nalerts on the alerts bus");
    for (kind, n) in counts {
        println!("  {n} × {kind}");
    }
}
