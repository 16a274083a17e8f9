//! `trainq jobs list` and `trainq jobs show`: what on-call reads.

use std::time::Duration;

use trainq_common::approval::CheckKind;
use trainq_common::ports::JobStore;
use trainq_common::state::JobState;
use trainq_common::time_util::{now_epoch_ms, rfc3339_to_epoch_ms, to_rfc3339};
use trainq_common::{Attempt, JobRecord};
use trainq_infra::queries::{JobQueries, Narrowing, Selection};
use uuid::Uuid;

use crate::args::ListArgs;
use crate::commands::timeline;
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output::{self, Table, or_dash};

/// A request id from the command line; the error says what one looks like.
pub fn request_id(text: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        CliError::new(Status::Invalid, format!("`{text}` is not a request id"))
            .hint("request ids are UUIDs, as `trainq submit` prints them and `trainq jobs list` shows them")
    })
}

/// The record of `id`, or a not-found error.
pub async fn record(ctx: &Context, id: Uuid) -> Result<JobRecord, CliError> {
    ctx.store().get(id).await?.ok_or_else(|| {
        CliError::new(Status::NotFound, format!("no request {id}"))
            .hint("`trainq jobs list` shows the known ones; a request just sent appears once the dispatcher took it")
    })
}

/// RFC 3339 of now − `window`.
pub fn since(window: Duration) -> String {
    let then = time::OffsetDateTime::now_utc() - window;
    to_rfc3339(then)
}

/// Index entries a listing reads before it stops and asks for `--all`, per row asked for.
const ENTRIES_PER_ROW: usize = 20;

/// Runs `trainq jobs list`.
pub async fn list(ctx: &Context, args: ListArgs, json: bool) -> Result<(), CliError> {
    let state = args.state.as_deref().map(parse_state).transpose()?;
    let selection = selection(&args, state);
    let since = args.since.map(since);
    let queries = JobQueries::new(ctx.dynamodb(), &ctx.stack.jobs_table);
    // Filters the chosen index cannot apply are applied to the records read; the budget
    // keeps a rare match from reading the whole index unasked.
    let budget = (!args.all).then(|| (args.limit * ENTRIES_PER_ROW).max(2_000));
    let listing = queries
        .select(&selection, since.as_deref(), args.limit, budget, |r| {
            matches(r, &args, state)
        })
        .await?;
    if listing.cut_short && !json {
        crate::say!(
            "(stopped after reading {} index entries with {} of {} rows found: narrow the selection with --since, --state, --customer with --project, or --experiment, or pass --all to read on)",
            listing.entries_read,
            listing.records.len(),
            args.limit
        );
    }
    let rows = listing.records;
    if json {
        output::json(&rows.iter().map(ListRow::of).collect::<Vec<_>>());
        return Ok(());
    }
    let mut table = Table::new(&[
        "request",
        "state",
        "registry",
        "customer/project",
        "experiment",
        "attempts",
        "instance",
        "created",
        "reason",
    ]);
    for r in &rows {
        let last = r.current_attempt();
        table.row(vec![
            r.request_id.to_string(),
            r.state.to_string(),
            or_dash(r.registry),
            format!(
                "{}/{}",
                r.customer.as_deref().unwrap_or("-"),
                r.project.as_deref().unwrap_or("-")
            ),
            or_dash(r.experiment_id.as_deref()),
            r.attempts.len().to_string(),
            or_dash(last.map(|a| a.instance_type.as_str())),
            r.created_at.clone(),
            // The whole reason is `jobs show`'s: a table row stays one line.
            output::truncate(r.reason.as_deref().unwrap_or(""), REASON_WIDTH),
        ]);
    }
    if table.is_empty() {
        crate::say!("no requests match");
    } else {
        crate::say!("{}", table.render());
    }
    Ok(())
}

/// Display columns of the reason in `jobs list`'s table.
const REASON_WIDTH: usize = 60;

/// A row of `jobs list --json` (version 1 of its field list, README "Operations"): what
/// the table shows, and the ids to follow; bodies, histories and outboxes are `jobs show`'s.
#[derive(Debug, serde::Serialize)]
pub struct ListRow<'a> {
    request_id: String,
    state: JobState,
    reason: Option<&'a str>,
    registry: Option<String>,
    customer: Option<&'a str>,
    project: Option<&'a str>,
    experiment_id: Option<&'a str>,
    attempts: usize,
    job_name: Option<&'a str>,
    instance_type: Option<&'a str>,
    spot: Option<bool>,
    model_package_arn: Option<&'a str>,
    created_at: &'a str,
    updated_at: &'a str,
}

impl<'a> ListRow<'a> {
    fn of(r: &'a JobRecord) -> Self {
        let last = r.current_attempt();
        Self {
            request_id: r.request_id.to_string(),
            state: r.state,
            reason: r.reason.as_deref(),
            registry: r.registry.map(|k| k.as_str().to_owned()),
            customer: r.customer.as_deref(),
            project: r.project.as_deref(),
            experiment_id: r.experiment_id.as_deref(),
            attempts: r.attempts.len(),
            job_name: last.map(|a| a.job_name.as_str()),
            instance_type: last.map(|a| a.instance_type.as_str()),
            spot: last.map(|a| a.spot),
            model_package_arn: r.model_package_arn.as_deref(),
            created_at: &r.created_at,
            updated_at: &r.updated_at,
        }
    }
}

/// The index a listing reads: the most selective its arguments allow.
fn selection(args: &ListArgs, state: Option<JobState>) -> Selection {
    let narrowing = Narrowing {
        customer: args.customer.clone(),
        project: args.project.clone(),
        registry: args.registry.clone(),
    };
    match (&args.experiment, &args.customer, &args.project, state) {
        (Some(e), ..) => Selection::Experiment(e.clone()),
        (None, Some(c), Some(p), _) => Selection::Project(format!("{c}#{p}")),
        (None, _, _, Some(s)) => Selection::State(s, narrowing),
        _ => Selection::Created(narrowing),
    }
}

/// Whether `r` is one the listing's arguments ask for (the index read may be wider).
fn matches(r: &JobRecord, args: &ListArgs, state: Option<JobState>) -> bool {
    state.is_none_or(|s| r.state == s)
        && args
            .customer
            .as_ref()
            .is_none_or(|c| r.customer.as_ref() == Some(c))
        && args
            .project
            .as_ref()
            .is_none_or(|p| r.project.as_ref() == Some(p))
        && args
            .registry
            .as_ref()
            .is_none_or(|g| r.registry.is_some_and(|k| k.as_str() == g))
}

/// A state name; the error lists the valid ones.
pub fn parse_state(text: &str) -> Result<JobState, CliError> {
    JobState::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            CliError::new(Status::Invalid, format!("unknown state `{text}`"))
                .hint(format!("one of {}", names.join(", ")))
        })
}

/// Runs `trainq jobs show`.
pub async fn show(ctx: &Context, id: &str, json: bool) -> Result<(), CliError> {
    let r = record(ctx, request_id(id)?).await?;
    if json {
        output::json(&r);
        return Ok(());
    }
    // The package's approval as it is now: a person may have approved or rejected it since
    // the record was written (`trainq models approve`).
    let approval_now = match &r.model_package_arn {
        Some(arn) => super::models::describe_package(ctx, arn)
            .await
            .ok()
            .and_then(|p| p.model_approval_status.map(|s| s.as_str().to_owned())),
        None => None,
    };
    for line in show_lines(ctx, &r, approval_now.as_deref()) {
        crate::say!("{line}");
    }
    Ok(())
}

/// What `trainq jobs show` prints about `r`, line by line (`trainq top` opens a request
/// with the same lines); `approval_now`: the package's approval as SageMaker has it now.
pub fn show_lines(ctx: &Context, r: &JobRecord, approval_now: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let approval = approval_now.or(r.model_approval.as_deref());
    out.push(format!("request     {}", r.request_id));
    // A model held by its gate is registered and waits for a person: not an error.
    let held = r.state == JobState::Registered && approval == Some("PendingManualApproval");
    out.push(match (&r.reason, held) {
        (Some(why), true) => format!(
            "state       Registered, waiting for a person to approve it \
             (`trainq models approve`): {why}"
        ),
        (Some(why), false) => format!("state       {} — {why}", r.state),
        (None, _) => format!("state       {}", r.state),
    });
    out.push(format!(
        "who         {} {}/{}",
        or_dash(r.registry),
        r.customer.as_deref().unwrap_or("-"),
        r.project.as_deref().unwrap_or("-")
    ));
    if let Some(req) = &r.request {
        out.push(format!(
            "image       {}   dataset {}",
            req.image, req.dataset.version
        ));
        if let Some(exp) = &req.experiment {
            out.push(format!(
                "experiment  {} {}",
                exp.id,
                exp.trial.as_deref().unwrap_or("")
            ));
        }
        if let Some(gate) = &req.approval {
            out.push(format!("gate        {} ≥ {}", gate.metric, gate.min));
        }
    }
    if let Some(body) = &r.raw_body {
        out.push(format!(
            "raw body    {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    out.push(format!(
        "times       created {}  updated {}  enqueued {}",
        r.created_at,
        r.updated_at,
        r.enqueued_at.as_deref().unwrap_or("-")
    ));
    if let Some(sender) = &r.sender {
        out.push(format!("sender      {sender}"));
    }
    for f in &r.refusals {
        out.push(format!(
            "refused     {} from {} at {}: {}",
            f.message_id.as_deref().unwrap_or("-"),
            f.sender.as_deref().unwrap_or("-"),
            f.at,
            f.reason
        ));
    }
    if r.defer_count > 0 {
        out.push(format!("deferred    {} times", r.defer_count));
    }
    if let Some(who) = &r.cancelled_by {
        out.push(format!("cancelled   by {who}"));
    }
    for a in &r.attempts {
        attempt_lines(ctx, r, a, &mut out);
    }
    for check in &r.gate_checks {
        let whose = match check.check {
            CheckKind::Policy => "the policy's gate",
            CheckKind::Request => "the request's gate",
            CheckKind::Champion => "against the model in service",
        };
        out.push(match check.failure() {
            None => format!(
                "checked     {whose}: `{}` = {} {}, passed",
                check.metric,
                or_dash(check.value),
                check.bound
            ),
            Some(why) => format!("checked     {whose}: {why}"),
        });
    }
    if let Some(pct) = r.spot_savings_pct {
        out.push(format!("spot        {pct:.0}% of training time not billed"));
    }
    if let Some(arn) = &r.model_package_arn {
        let changed = match (approval_now, r.model_approval.as_deref()) {
            (Some(now), Some(then)) if now != then => format!("; registered {then}"),
            _ => String::new(),
        };
        out.push(format!(
            "model       {arn} ({}, {}{changed})",
            r.model_group.as_deref().unwrap_or("-"),
            approval.unwrap_or("-")
        ));
        if let Some(verdict) = &r.compatibility {
            out.push(format!("manifest    {}", verdict.label()));
        }
        out.push(format!(
            "lineage     `trainq lineage {}` shows the whole chain",
            r.request_id
        ));
    }
    out
}

fn attempt_lines(ctx: &Context, r: &JobRecord, a: &Attempt, out: &mut Vec<String>) {
    let rung = r
        .request
        .as_ref()
        .and_then(|q| timeline::rung_of(q, a))
        .map_or(String::new(), |n| format!(" ({n})"));
    out.push(format!(
        "attempt {}   {}  {}{}{rung}  {}",
        a.number,
        a.job_name,
        a.instance_type,
        if a.spot { " spot" } else { " on-demand" },
        a.status.as_deref().unwrap_or("planned")
    ));
    if let Some(who) = &a.retried_by {
        out.push(format!(
            "            retried by {who} (a fresh retry budget)"
        ));
    }
    out.push(format!(
        "            launched {}  ended {}",
        a.launched_at.as_deref().unwrap_or("-"),
        a.ended_at.as_deref().unwrap_or("-")
    ));
    let until = a
        .ended_at
        .as_deref()
        .and_then(rfc3339_to_epoch_ms)
        .unwrap_or_else(now_epoch_ms);
    if let Some((bar, legend)) = timeline::bar(&a.secondary_history, until) {
        out.push(format!("            {bar}"));
        out.push(format!("            {legend}"));
    }
    if let Some(first) = a.secondary_history.first().and_then(|s| s.start_ms) {
        out.push(format!("            first status at {} UTC", clock(first)));
    }
    if let Some(why) = timeline::why_ended(a) {
        let next =
            timeline::followed_by(&r.attempts, a).map_or(String::new(), |n| format!("; {n}"));
        out.push(format!("            ended: {why}{next}"));
    }
    if let (Some(b), Some(t)) = (a.billable_s, a.training_s) {
        let saved = a
            .spot_savings_pct
            .map_or(String::new(), |p| format!(", {p:.0}% saved"));
        out.push(format!(
            "            billable {b} s of {t} s training{saved}"
        ));
    }
    if !a.final_metrics.is_empty() {
        let metrics: Vec<String> = a
            .final_metrics
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push(format!("            metrics: {}", metrics.join("  ")));
    }
    if !a.started() {
        return; // no instance, no log
    }
    match &ctx.stack.devstack {
        Some(d) => out.push(format!(
            "            log: {}/jobs/{}/training.log",
            d.state_dir, a.job_name
        )),
        None => {
            let region = &ctx.stack.region;
            out.push(format!(
                "            logs: /aws/sagemaker/TrainingJobs {}/algo-1-*",
                a.job_name
            ));
            out.push(format!(
                "            console: https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{}",
                a.job_name
            ));
        }
    }
}

/// `HH:MM:SS` (UTC) of an epoch-ms time.
fn clock(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}
