//! `trainq jobs retry` and `trainq jobs cancel`: an operator's changes, written with the same
//! conditional writes as the Lambdas' (re-read on conflict), so they never race a function.

use serde_json::json;
use trainq_common::JobRecord;
use trainq_common::ports::{JobStore, RequestQueue, Write};
use trainq_common::relaunch::{launch_message, plan_operator_retry};
use trainq_common::state::JobState;
use trainq_infra::SqsRequestQueue;
use uuid::Uuid;

use super::jobs::{record, request_id};
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output;

/// Conflicting writes tolerated before giving up.
const CONFLICTS: usize = 5;

/// Who is acting, for the record's reason.
fn operator() -> String {
    std::env::var("USER").unwrap_or_else(|_| "an operator".into())
}

/// Reads the record, applies `change`, writes it conditionally; again on conflict.
async fn change(
    ctx: &Context,
    id: Uuid,
    mut change: impl FnMut(&mut JobRecord) -> Result<(), CliError>,
) -> Result<JobRecord, CliError> {
    let store = ctx.store();
    for _ in 0..CONFLICTS {
        let mut r = record(ctx, id).await?;
        change(&mut r)?;
        let expected = r.next_version();
        if store.put_if_version(&r, expected).await? == Write::Written {
            return Ok(r);
        }
    }
    Err(CliError::new(
        Status::Failed,
        format!("request {id} kept changing; nothing written"),
    )
    .hint("try again in a moment"))
}

/// Runs `trainq jobs retry`.
pub async fn retry(ctx: &Context, id: &str, json: bool) -> Result<(), CliError> {
    let id = request_id(id)?;
    let who = operator();
    let mut attempt = 0;
    let r = change(ctx, id, |r| {
        attempt = plan_operator_retry(r, &who).map_err(|e| {
            CliError::new(Status::Failed, format!("cannot retry {id}: {e}"))
                .hint("`trainq jobs show` says where it stands")
        })?;
        Ok(())
    })
    .await?;
    let body = launch_message(&r)
        .ok_or_else(|| CliError::new(Status::Failed, "the record keeps no request"))?;
    // If this send fails, the reconcile sends it again (the record says Retrying).
    SqsRequestQueue::new(ctx.sqs(), &ctx.stack.requests_queue_url)
        .send(&body)
        .await?;
    if json {
        output::json(&json!({"request_id": id, "attempt": attempt, "state": r.state}));
    } else {
        crate::say!(
            "{id}: attempt {attempt} planned ({}); the dispatcher launches it",
            r.state
        );
    }
    Ok(())
}

/// States a cancel moves to `Cancelled` from.
const CANCELLABLE: [JobState; 7] = [
    JobState::Received,
    JobState::Queued,
    JobState::Launching,
    JobState::Deferred,
    JobState::InProgress,
    JobState::Interrupted,
    JobState::Retrying,
];

/// Runs `trainq jobs cancel`.
pub async fn cancel(ctx: &Context, id: &str, json: bool) -> Result<(), CliError> {
    let id = request_id(id)?;
    let before = record(ctx, id).await?;
    if !CANCELLABLE.contains(&before.state) {
        return Err(CliError::new(
            Status::Failed,
            format!("cannot cancel {id}: it is {}", before.state),
        )
        .hint("only requests still on their way can be cancelled"));
    }
    // Stop the job first: a cancelled record whose job trains on would bill for nothing.
    let mut stopped = None;
    if let Some(a) = before
        .current_attempt()
        .filter(|a| a.job_arn.is_some() && a.ended_at.is_none())
    {
        let result = ctx
            .sagemaker()
            .stop_training_job()
            .training_job_name(&a.job_name)
            .send()
            .await;
        match result {
            Ok(_) => stopped = Some(a.job_name.clone()),
            Err(e) => {
                let e = trainq_infra::errors::classify(e);
                // Already ending: nothing to stop.
                if !matches!(e, trainq_common::ServiceError::Invalid(_)) {
                    return Err(e.into());
                }
            }
        }
    }
    let who = operator();
    let r = change(ctx, id, |r| {
        r.transition(JobState::Cancelled)
            .map_err(|e| CliError::new(Status::Failed, format!("cannot cancel {id}: {e}")))?;
        r.lease_until = None;
        r.reason = Some(format!("cancelled by {who}"));
        Ok(())
    })
    .await?;
    if json {
        output::json(&json!({"request_id": id, "state": r.state, "stopped_job": stopped}));
    } else {
        let job = stopped.map_or(String::new(), |j| format!("; training job {j} stopping"));
        crate::say!("{id}: {}{job}", r.state);
    }
    Ok(())
}
