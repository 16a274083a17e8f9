//! `trainq`, as a library: the command line's grammar ([`args`]), its context (the stack file
//! and clients), one module per command, and the conventions (tables or `--json`, one-line
//! errors with a hint, documented exit statuses). `main.rs` only parses and exits.

pub mod args;
pub mod commands;
pub mod context;
pub mod duration;
pub mod error;
pub mod follow;
pub mod operator;
pub mod output;
pub mod progress;
pub mod top;

use crate::args::{Cli, Command, DlqCommand, JobsCommand, ModelsCommand, SweepCommand};
use crate::context::Context;
use crate::error::CliError;

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Context::load(cli.config).await?;
    let json = cli.json;
    match cli.command {
        Command::Submit(args) => commands::submit::run(&ctx, *args, json).await,
        Command::Validate(args) => {
            commands::validate::run(&ctx, &args.files, args.sender.as_deref(), json).await
        }
        Command::Jobs(JobsCommand::List(args)) => commands::jobs::list(&ctx, args, json).await,
        Command::Jobs(JobsCommand::Show { id }) => commands::jobs::show(&ctx, &id, json).await,
        Command::Jobs(JobsCommand::Retry { id }) => commands::ops::retry(&ctx, &id, json).await,
        Command::Jobs(JobsCommand::Cancel { id, wait, timeout }) => {
            let until = wait.then_some(timeout);
            commands::ops::cancel(&ctx, &id, until, json).await
        }
        Command::Sweep(SweepCommand::Submit { file, dry_run }) => {
            commands::sweep::submit(&ctx, &file, dry_run, json).await
        }
        Command::Sweep(SweepCommand::Status { experiment, metric }) => {
            commands::sweep::status(&ctx, &experiment, metric.as_deref(), json).await
        }
        Command::Dlq(DlqCommand::List) => commands::dlq::list(&ctx, json).await,
        Command::Dlq(DlqCommand::Redrive { dry_run }) => {
            commands::dlq::redrive(&ctx, dry_run, json).await
        }
        Command::Models(ModelsCommand::List { registry, contains }) => {
            commands::models::list(&ctx, registry.as_deref(), contains.as_deref(), json).await
        }
        Command::Models(ModelsCommand::Approve { arn }) => {
            commands::models::decide(&ctx, &arn, true, None, json).await
        }
        Command::Models(ModelsCommand::Reject { arn, reason }) => {
            commands::models::decide(&ctx, &arn, false, reason.as_deref(), json).await
        }
        Command::Costs(args) => commands::costs::run(&ctx, args.since, &args.by, json).await,
        Command::Status => commands::status::run(&ctx, json).await,
        Command::Top(args) => top::run(&ctx, top_options(args), json).await,
        Command::Queue => commands::queue::run(&ctx, json).await,
        Command::Reindex => commands::reindex::run(&ctx, json).await,
        Command::Lineage(args) => {
            commands::lineage::run(
                &ctx,
                &args.what,
                args.customer.as_deref(),
                args.project.as_deref(),
                json,
            )
            .await
        }
    }
}

fn top_options(args: args::TopArgs) -> top::TopOptions {
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    top::TopOptions {
        filter: top::Filter {
            registry: args.registry,
            customer: args.customer,
        },
        interval: args.interval.max(std::time::Duration::from_secs(1)),
        once: args.once,
        stuck_after: top::StuckAfter {
            passing_s: secs(args.stuck_after),
            queued_s: secs(args.queued_after),
        },
    }
}
