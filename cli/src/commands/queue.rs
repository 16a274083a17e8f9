//! `trainq queue`: the waiting room as the scheduler sees it — every waiting request in the
//! order it will be admitted (priority class, then fair share between customers, then age),
//! with the pools it may start on and how long it has waited; and `trainq status`'s pool view.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use trainq_common::ports::{CapacityLedger, JobStore};
use trainq_common::scheduling::{Place, Pool, PoolBook, SchedulerConfig, Share, order};
use trainq_common::time_util::now_epoch_ms;
use trainq_infra::DynamoCapacityLedger;
use uuid::Uuid;

use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output::{self, Table};

/// Waiting requests read per class and customer (the table shows each one's head).
const PER_CUSTOMER: usize = 1000;

/// The waiting room in admission order, with each request's place.
pub(crate) async fn waiting_in_order(
    ctx: &Context,
    config: &SchedulerConfig,
    ledger: &DynamoCapacityLedger,
) -> Result<Vec<(Uuid, Place)>, CliError> {
    let ranks = config.classes.lowest() + 1;
    let waiting = ctx.store().waiting(ranks, PER_CUSTOMER).await?;
    let customers: Vec<String> = waiting
        .iter()
        .map(|(_, p)| p.customer.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let usage = ledger.usage(&customers).await?;
    let shares: BTreeMap<String, Share> = customers
        .iter()
        .map(|c| {
            let share = Share {
                usage: usage.get(c).copied().unwrap_or_default(),
                running: 0,
                weight: config.weight(c),
            };
            (c.clone(), share)
        })
        .collect();
    let as_waiting: Vec<_> = waiting.iter().map(|(id, p)| p.waiting(*id)).collect();
    let now = now_epoch_ms();
    Ok(order(&as_waiting, &shares, &config.fair_share, now)
        .into_iter()
        .map(|i| waiting[i].clone())
        .collect())
}

/// The ledger's pools (every pool with an entry, and the configured ones).
pub(crate) async fn pools(
    config: &SchedulerConfig,
    ledger: &DynamoCapacityLedger,
) -> Result<BTreeMap<Pool, PoolBook>, CliError> {
    let mut books = ledger.all_pools().await?;
    for pool in config.limits.listed() {
        books.entry(pool.clone()).or_default();
    }
    Ok(books)
}

fn no_ledger() -> CliError {
    CliError::new(Status::Invalid, "the stack file names no capacity ledger")
        .hint("redeploy the stack (or restart the devstack) so its stack file has `capacity_table`")
}

/// Runs `trainq queue`.
pub async fn run(ctx: &Context, json: bool) -> Result<(), CliError> {
    let (config, ledger) = ctx.scheduler()?.ok_or_else(no_ledger)?;
    let waiting = waiting_in_order(ctx, &config, &ledger).await?;
    let now = now_epoch_ms();
    if json {
        let rows: Vec<_> = waiting
            .iter()
            .enumerate()
            .map(|(i, (id, p))| {
                json!({
                    "position": i + 1, "request_id": id, "class": p.rank, "customer": p.customer,
                    "waited_s": (now - p.enqueued_ms).max(0) / 1000,
                    "pools": p.pools.iter().map(Pool::to_string).collect::<Vec<_>>(),
                    "instances": p.instance_count, "expires_ms": p.expires_ms,
                })
            })
            .collect();
        output::json(&json!({"waiting": rows}));
        return Ok(());
    }
    if waiting.is_empty() {
        crate::say!("nobody waits: every request found room");
        return Ok(());
    }
    let mut table = Table::new(&[
        "#",
        "request",
        "class",
        "customer",
        "waited",
        "may start on",
    ]);
    for (i, (id, p)) in waiting.iter().enumerate() {
        table.row(vec![
            (i + 1).to_string(),
            id.to_string(),
            p.rank.to_string(),
            p.customer.clone(),
            format!("{} s", (now - p.enqueued_ms).max(0) / 1000),
            p.pools
                .iter()
                .map(Pool::to_string)
                .collect::<Vec<_>>()
                .join(" › "),
        ]);
    }
    crate::say!("{}", table.render());
    crate::say!(
        "\nadmitted in this order as instances free (class 0 first); `trainq status` shows the pools"
    );
    Ok(())
}
