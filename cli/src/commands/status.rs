//! `trainq status`: is work flowing? Queue depths, requests in flight by state, and each pool
//! (instance type × spot | on-demand) with the instances held against its limit and the
//! requests waiting for it.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName as A;
use serde_json::json;
use trainq_common::scheduling::Pool;
use trainq_common::state::JobState;
use trainq_common::time_util::now_epoch_ms;
use trainq_infra::queries::{JobQueries, Narrowing, Selection};

use crate::commands::queue;
use crate::context::Context;
use crate::error::{CliError, aws};
use crate::output::{self, Table};

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
    let (mut queued, mut deferred) = (0, 0);
    // Every state a request passes through on its way (not terminal), `Cancelling` included:
    // counted on the by-state index's entries, so the figures cost what is in flight, never
    // what the table holds.
    for state in JobState::ALL.into_iter().filter(|s| !s.is_terminal()) {
        let n = queries.count(state).await?;
        if state == JobState::Queued || state == JobState::Deferred {
            queued += n.all;
            deferred += n.pushed_back;
        }
        by_state.insert(state.as_str(), n.all);
    }
    let pools = pool_rows(ctx).await?;
    let running = if pools.is_empty() {
        running_from_records(&queries).await?
    } else {
        let mut running: BTreeMap<String, u32> = BTreeMap::new();
        for row in pools.iter().filter(|r| !r.pool.is_account()) {
            *running.entry(row.pool.instance_type.clone()).or_default() += row.used;
        }
        running
    };
    if json {
        output::json(&json!({
            "requests_queue": {"visible": requests.0, "in_flight": requests.1, "delayed": requests.2},
            "waiting_room": {"queued": queued, "deferred": deferred},
            "dead_letter_queue": {"visible": dlq.0 + dlq.1 + dlq.2},
            "requests_by_state": by_state,
            "instances_in_use": running,
            "pools": pools.iter().map(PoolRow::json).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    // Deferral hides a message (visibility), it does not delay it: the queue's "delayed"
    // count holds only wake-ups; how many requests were pushed back is the records' to say.
    crate::say!(
        "requests queue   {} messages waiting, {} being handled or hidden until their next try",
        requests.0,
        requests.1 + requests.2
    );
    crate::say!(
        "waiting room     {queued} queued, {deferred} of them pushed back by throttling{}",
        if queued > 0 {
            " — `trainq queue`"
        } else {
            ""
        }
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
    if !pools.is_empty() {
        let mut table = Table::new(&["pool", "in use", "limit", "waiting for it", "pressure"]);
        for row in &pools {
            table.row(row.cells());
        }
        crate::say!("\n{}", table.render());
        return Ok(());
    }
    // A stack file without the ledger (written by an earlier deploy script): what runs, and
    // how to see the limits.
    let mut table = Table::new(&["instance type", "instances in use"]);
    for (t, n) in &running {
        table.row(vec![t.clone(), n.to_string()]);
    }
    if !table.is_empty() {
        crate::say!("\n{}", table.render());
    }
    crate::say!(
        "\npool limits unknown: the stack file names no capacity table (write it again with infra/deploy/stack_file.py)"
    );
    Ok(())
}

/// Instances in use by instance type, from the `InProgress` records (at most
/// [`RUNNING_READ`]): what a stack without a ledger can show.
async fn running_from_records(queries: &JobQueries) -> Result<BTreeMap<String, u32>, CliError> {
    let listing = queries
        .select(
            &Selection::State(JobState::InProgress, Narrowing::default()),
            None,
            RUNNING_READ,
            Some(RUNNING_READ),
            |_| true,
        )
        .await?;
    let mut running: BTreeMap<String, u32> = BTreeMap::new();
    for r in &listing.records {
        if let Some(a) = r.current_attempt() {
            let count = r.request.as_ref().map_or(1, |q| q.resources.instance_count);
            *running.entry(a.instance_type.clone()).or_default() += count;
        }
    }
    Ok(running)
}

/// The most `InProgress` records [`running_from_records`] reads.
const RUNNING_READ: usize = 1_000;

/// One pool as `trainq status` shows it.
struct PoolRow {
    pool: Pool,
    used: u32,
    limit: u32,
    /// The configured limit, when a limit learnt from SageMaker lowers it now.
    configured: Option<u32>,
    waiting: usize,
    pressure_since_ms: Option<i64>,
}

impl PoolRow {
    fn cells(&self) -> Vec<String> {
        let limit = match self.configured {
            Some(c) => format!("{} (learnt; configured {c})", self.limit),
            None => self.limit.to_string(),
        };
        let pressure = self.pressure_since_ms.map_or(String::new(), |since| {
            format!("for {} s", (now_epoch_ms() - since).max(0) / 1000)
        });
        vec![
            self.pool.to_string(),
            self.used.to_string(),
            limit,
            self.waiting.to_string(),
            pressure,
        ]
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "pool": self.pool.to_string(), "in_use": self.used, "limit": self.limit,
            "configured_limit": self.configured, "waiting": self.waiting,
            "pressure_since_ms": self.pressure_since_ms,
        })
    }
}

/// Every pool the ledger knows or the configuration lists, with the requests waiting for it
/// first; empty for a stack without a ledger.
async fn pool_rows(ctx: &Context) -> Result<Vec<PoolRow>, CliError> {
    let Some((config, ledger)) = ctx.scheduler()? else {
        return Ok(Vec::new());
    };
    let books = queue::pools(&config, &ledger).await?;
    let waiting = queue::waiting_in_order(ctx, &config, &ledger).await?;
    let now = now_epoch_ms();
    Ok(books
        .into_iter()
        .map(|(pool, book)| {
            let configured = config.limit(&pool);
            let limit = book.capacity(configured, now).limit;
            PoolRow {
                waiting: waiting
                    .iter()
                    .filter(|(_, p)| p.pools.first() == Some(&pool))
                    .count(),
                used: book.used,
                configured: (limit != configured).then_some(configured),
                limit,
                pressure_since_ms: book.pressure_since_ms,
                pool,
            }
        })
        .collect())
}
