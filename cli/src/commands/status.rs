//! `trainq status`: is work flowing? Queue depths, requests in flight by state, jobs in
//! progress by instance type against the account's quotas.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName as A;
use serde_json::json;
use trainq_common::state::JobState;
use trainq_infra::queries::{JobQueries, Selection};

use crate::context::Context;
use crate::error::{CliError, aws};
use crate::output::{self, Table};

/// States a request passes through on its way (not terminal).
const IN_FLIGHT: [JobState; 7] = [
    JobState::Received,
    JobState::Launching,
    JobState::Deferred,
    JobState::InProgress,
    JobState::Interrupted,
    JobState::Retrying,
    JobState::Completed,
];

/// (visible, in flight, delayed) of a queue.
async fn depth(ctx: &Context, url: &str) -> Result<(u64, u64, u64), CliError> {
    let out = ctx
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| aws("GetQueueAttributes", e))?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |k: A| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((
        n(A::ApproximateNumberOfMessages),
        n(A::ApproximateNumberOfMessagesNotVisible),
        n(A::ApproximateNumberOfMessagesDelayed),
    ))
}

/// Runs `trainq status`.
pub async fn run(ctx: &Context, json: bool) -> Result<(), CliError> {
    let requests = depth(ctx, &ctx.stack.requests_queue_url).await?;
    let dlq = depth(ctx, &ctx.stack.requests_dlq_url).await?;
    let queries = JobQueries::new(ctx.dynamodb(), &ctx.stack.jobs_table);
    let mut by_state = BTreeMap::new();
    let mut running: BTreeMap<String, u32> = BTreeMap::new();
    for state in IN_FLIGHT {
        let records = queries
            .select(&Selection::State(state.as_str().into()), None, 10_000)
            .await?;
        if state == JobState::InProgress {
            for r in &records {
                if let Some(a) = r.current_attempt() {
                    let count = r.request.as_ref().map_or(1, |q| q.resources.instance_count);
                    *running.entry(a.instance_type.clone()).or_default() += count;
                }
            }
        }
        by_state.insert(state.as_str(), records.len());
    }
    if json {
        output::json(&json!({
            "requests_queue": {"visible": requests.0, "in_flight": requests.1, "delayed": requests.2},
            "dead_letter_queue": {"visible": dlq.0 + dlq.1 + dlq.2},
            "requests_by_state": by_state,
            "instances_in_use": running,
            "quotas": ctx.stack.quotas,
        }));
        return Ok(());
    }
    crate::say!(
        "requests queue   {} waiting, {} being handled, {} deferred (delayed)",
        requests.0,
        requests.1,
        requests.2
    );
    crate::say!(
        "dead-letter      {} messages{}",
        dlq.0 + dlq.1 + dlq.2,
        if dlq.0 + dlq.1 + dlq.2 > 0 {
            " — `trainq dlq list`"
        } else {
            ""
        }
    );
    let flight: Vec<String> = by_state
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    crate::say!(
        "in flight        {}",
        if flight.is_empty() {
            "none".to_owned()
        } else {
            flight.join(", ")
        }
    );
    let mut table = Table::new(&["instance type", "instances in use", "quota"]);
    for (t, n) in &running {
        table.row(vec![
            t.clone(),
            n.to_string(),
            ctx.stack
                .quotas
                .get(t)
                .map_or("-".into(), |q| q.to_string()),
        ]);
    }
    if !table.is_empty() {
        crate::say!("\n{}", table.render());
    }
    Ok(())
}
