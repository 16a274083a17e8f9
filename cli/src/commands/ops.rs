//! `trainq jobs retry` and `trainq jobs cancel`: an operator's changes, written with the same
//! conditional writes as the Lambdas' (re-read on conflict), so they never race a function;
//! signed with the caller's AWS identity and stamped by AWS's clock ([`Operator`]).

use std::time::Duration;

use serde_json::json;
use trainq_common::JobRecord;
use trainq_common::cancel::{self, StopAnswer};
use trainq_common::ports::{JobStore, RequestQueue, TrainingService, Write};
use trainq_common::relaunch::{launch_message, plan_operator_retry};
use trainq_common::state::JobState;
use trainq_infra::{SageMakerTraining, SqsRequestQueue};
use uuid::Uuid;

use super::jobs::{record, request_id};
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::operator::Operator;
use crate::output;

/// Conflicting writes tolerated before giving up.
const CONFLICTS: usize = 5;

/// Reads the record, applies `change` (async: it may ask SageMaker), writes it conditionally
/// with AWS's time; again from a fresh read on conflict.
async fn change<F>(
    ctx: &Context,
    id: Uuid,
    who: &Operator,
    mut change: F,
) -> Result<JobRecord, CliError>
where
    F: AsyncFnMut(&mut JobRecord) -> Result<(), CliError>,
{
    let store = ctx.store();
    for _ in 0..CONFLICTS {
        let mut r = record(ctx, id).await?;
        change(&mut r).await?;
        r.updated_at = who.now();
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
    let who = Operator::identify(ctx).await?;
    let mut attempt = 0;
    let r = change(ctx, id, &who, async |r| {
        attempt = plan_operator_retry(r, &who.arn).map_err(|e| {
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
        output::json(
            &json!({"request_id": id, "attempt": attempt, "state": r.state,
            "retried_by": who.arn, "updated_at": r.updated_at}),
        );
    } else {
        crate::say!(
            "{id}: attempt {attempt} planned with a fresh retry budget ({}); the dispatcher launches it",
            r.state
        );
    }
    Ok(())
}

/// Runs `trainq jobs cancel`: stops every unended attempt's job by its name (a job being
/// created has no ARN yet), then writes the tombstone: `Cancelled` when SageMaker knows none
/// of them, `Cancelling` otherwise (see [`trainq_common::cancel`]). With `wait`, follows the
/// request until SageMaker confirms and it is `Cancelled`.
pub async fn cancel(
    ctx: &Context,
    id: &str,
    wait: Option<Duration>,
    json: bool,
) -> Result<(), CliError> {
    let id = request_id(id)?;
    let who = Operator::identify(ctx).await?;
    let training = SageMakerTraining::new(ctx.sagemaker());
    let mut stopping = Vec::new();
    let r = change(ctx, id, &who, async |r| {
        if !cancel::CANCELLABLE.contains(&r.state) {
            return Err(CliError::new(
                Status::Failed,
                format!("cannot cancel {id}: it is {}", r.state),
            )
            .hint("only requests still on their way can be cancelled"));
        }
        // Stop first, write after: the write is conditional on the version read before the
        // stops, so a launch that slipped in between makes it read and stop again.
        let mut answers = Vec::new();
        stopping.clear();
        for job in cancel::jobs_to_stop(r) {
            let answer = training.stop_training_job(&job).await?;
            if answer == StopAnswer::Stopping {
                stopping.push(job);
            }
            answers.push(answer);
        }
        cancel::cancel(r, &who.arn, &answers)
            .map(|_| ())
            .map_err(|e| CliError::new(Status::Failed, format!("cannot cancel {id}: {e}")))
    })
    .await?;
    let r = match wait {
        Some(timeout) if r.state != JobState::Cancelled => {
            crate::follow::wait(ctx, id, "", timeout).await?
        }
        _ => r,
    };
    if json {
        output::json(
            &json!({"request_id": id, "state": r.state, "stopped_jobs": stopping,
            "cancelled_by": who.arn, "updated_at": r.updated_at}),
        );
    } else {
        let jobs = match stopping.as_slice() {
            [] => String::new(),
            jobs => format!("; training job {} stopping", jobs.join(", ")),
        };
        let then = if r.state == JobState::Cancelling {
            " (Cancelled once SageMaker confirms it stopped; --wait follows it)"
        } else {
            ""
        };
        crate::say!("{id}: {}{jobs}{then}", r.state);
    }
    Ok(())
}
