//! `trainq reindex`: once after upgrading a stack from a release before the sharded indexes,
//! gives the records it wrote the attributes today's listings read (the one command that
//! reads the whole table, and says so).

use trainq_infra::reindex::reindex;

use crate::context::Context;
use crate::error::CliError;
use crate::output;

/// Runs `trainq reindex`.
pub async fn run(ctx: &Context, json: bool) -> Result<(), CliError> {
    let table = &ctx.stack.jobs_table;
    if !json {
        crate::note!("reading every record of {table} once (a full scan)…");
    }
    let report = reindex(&ctx.dynamodb(), table, |so_far| {
        if !json {
            eprintln!(
                "  {} read, {} given index keys",
                so_far.scanned, so_far.updated
            );
        }
    })
    .await?;
    if json {
        output::json(&report);
    } else {
        crate::say!(
            "{} records read: {} given their index keys, {} rewritten meanwhile by trainq (which added them), {} unreadable items left alone",
            report.scanned,
            report.updated,
            report.raced,
            report.unreadable
        );
    }
    Ok(())
}
