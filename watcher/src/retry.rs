//! Retries of system failures: the next attempt is planned in the record (next rung of the
//! fallback ladder, same checkpoint prefix, within the budget) and the request goes back on
//! the requests queue, where the dispatcher launches it with all its guarantees (launch lease,
//! deterministic job name, deferral under throttling and quotas).

use trainq_common::failure::SystemFailure;
use trainq_common::ladder::{RetryPlan, next_attempt};
use trainq_common::launch::Rung;
use trainq_common::state::JobState;
use trainq_common::{Attempt, JobRecord};

/// What a system failure led to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RetryStep {
    /// Attempt `attempt` is planned on `rung`; the request must be re-enqueued.
    Planned {
        /// The new attempt's number.
        attempt: u32,
        /// Where it will run.
        rung: Rung,
    },
    /// The budget is spent: the request is `Failed`.
    Exhausted,
}

/// Plans what follows a system failure of the record's current attempt, in place (the record
/// is `Interrupted`; it becomes `Retrying` or `Failed`). `None` when the record cannot say
/// (no request or attempt kept), which leaves it `Interrupted` for an operator.
pub(crate) fn plan_retry(record: &mut JobRecord, failure: SystemFailure) -> Option<RetryStep> {
    let request = record.request.clone()?;
    let current = record.current_attempt()?;
    let (number, rung) = (
        current.number,
        Rung {
            instance_type: current.instance_type.clone(),
            spot: current.spot,
        },
    );
    match next_attempt(&request, number, &rung, failure) {
        RetryPlan::Retry { attempt, rung } => {
            record.transition(JobState::Retrying).ok()?;
            let how = if rung.spot { "spot" } else { "on demand" };
            record.reason = Some(format!(
                "attempt {number} lost ({failure:?}); attempt {attempt} on {} {how}",
                rung.instance_type
            ));
            record.attempts.push(Attempt::planned(
                record.request_id,
                attempt,
                &rung.instance_type,
                rung.spot,
            ));
            Some(RetryStep::Planned { attempt, rung })
        }
        RetryPlan::Exhausted => {
            record.transition(JobState::Failed).ok()?;
            record.reason = Some(format!(
                "retries exhausted after {number} attempts; the last was lost to {failure:?}"
            ));
            Some(RetryStep::Exhausted)
        }
    }
}

/// The message that asks the dispatcher to launch the planned attempt: the request as kept,
/// with its request id made explicit.
pub(crate) fn launch_message(record: &JobRecord) -> Option<String> {
    let mut request = record.request.clone()?;
    request.request_id = Some(record.request_id);
    serde_json::to_string(&request).ok()
}
