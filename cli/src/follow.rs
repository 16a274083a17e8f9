//! Following a request to its end (`--wait`), with a line per change on stderr (stdout stays
//! for the result, so `--json` output is clean).

use std::time::{Duration, Instant};

use trainq_common::JobRecord;
use trainq_common::ports::JobStore;
use trainq_common::record::Refusal;
use trainq_common::state::JobState;
use uuid::Uuid;

use crate::context::Context;
use crate::error::{CliError, Status};

/// Polls the record until it reaches a state no automatic step leaves; `Err` on timeout.
pub async fn wait(
    ctx: &Context,
    id: Uuid,
    message_id: &str,
    timeout: Duration,
) -> Result<JobRecord, CliError> {
    let store = ctx.store();
    let started = Instant::now();
    let mut last: Option<(JobState, usize, Option<String>)> = None;
    loop {
        let found = store.get(id).await?;
        if let Some(refusal) = found.as_ref().and_then(|r| refused(r, message_id)) {
            return Err(CliError::new(
                Status::Unsuccessful,
                format!("request {id} was refused: {}", refusal.reason),
            )
            .hint(format!(
                "`trainq jobs show {id}` shows the request that owns the id"
            )));
        }
        // A rejection of an earlier message under the id is not this message's answer.
        let ours = found.filter(|r| {
            r.state != JobState::Rejected || r.message_id.as_deref() == Some(message_id)
        });
        if let Some(record) = ours {
            let attempt = record.current_attempt();
            let now = (
                record.state,
                record.attempts.len(),
                attempt.and_then(|a| a.secondary_history.last().map(|s| s.status.clone())),
            );
            if last.as_ref() != Some(&now) {
                let detail = attempt.map_or(String::new(), |a| {
                    format!(
                        " — attempt {} on {}{}{}",
                        a.number,
                        a.instance_type,
                        if a.spot { " (spot)" } else { "" },
                        now.2.as_ref().map_or(String::new(), |s| format!(", {s}"))
                    )
                });
                crate::note!(
                    "[{:>5.0}s] {}{}",
                    started.elapsed().as_secs_f64(),
                    record.state,
                    detail
                );
                last = Some(now);
            }
            if record.state.is_terminal() {
                return Ok(record);
            }
        }
        if started.elapsed() > timeout {
            return Err(CliError::new(
                Status::Failed,
                format!("request {id} did not end within {timeout:?}"),
            )
            .hint(format!(
                "it is still running; follow it with `trainq jobs show {id}`"
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The refusal of `message_id` noted on `record`, if it was refused under the id.
fn refused<'a>(record: &'a JobRecord, message_id: &str) -> Option<&'a Refusal> {
    record
        .refusals
        .iter()
        .find(|r| r.message_id.as_deref() == Some(message_id))
}

/// Whether a request ended as its submitter hoped.
pub fn succeeded(record: &JobRecord) -> bool {
    record.state == JobState::Registered
}
