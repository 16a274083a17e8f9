//! Retries: after a system failure (or a user failure the request asked to retry) the next
//! attempt is planned in the record (next rung of the fallback ladder, same checkpoint
//! prefix, within the budget) and the request goes back on the requests queue, where the
//! dispatcher launches it with all its guarantees (launch lease, deterministic job name,
//! deferral under throttling and quotas).

use trainq_common::failure::{Ending, SystemFailure};
use trainq_common::ladder::{RetryPlan, Spent, after_user_failure, next_attempt};
use trainq_common::launch::Rung;
use trainq_common::state::JobState;
use trainq_common::tracking::Effect;
use trainq_common::{Attempt, JobRecord};

pub(crate) use trainq_common::relaunch::launch_message;

/// Why an attempt is being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The platform lost it.
    System(SystemFailure),
    /// The training code or its data failed, and the request allows retrying that.
    User,
}

impl Cause {
    /// Its name as a metric dimension.
    pub(crate) fn label(&self) -> &'static str {
        trainq_common::metrics::retry_cause(match self {
            Self::System(failure) => Some(*failure),
            Self::User => None,
        })
    }

    /// The cause of a retry for an event's effect, if the effect ended an attempt in a way
    /// that may be retried.
    pub(crate) fn of(effect: &Effect) -> Option<Self> {
        match effect {
            Effect::Moved {
                to: JobState::Interrupted,
                ending: Some(Ending::System(f)),
            } => Some(Self::System(*f)),
            Effect::Moved {
                to: JobState::Failed,
                ending: Some(Ending::User),
            } => Some(Self::User),
            _ => None,
        }
    }

    /// Whether capacity is what was missing (a `Training Capacity Pressure` alert).
    pub(crate) fn is_capacity(self) -> bool {
        matches!(self, Self::System(f) if f.moves_down_the_ladder())
    }
}

/// What a retryable ending led to.
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

/// Plans what follows the end of the record's current attempt, in place: the record becomes
/// `Retrying` (with the new attempt) or `Failed`. `None` when there is nothing to plan: a
/// user failure the request does not retry, or a record that keeps no request or attempt
/// (left as it is for an operator).
pub(crate) fn plan_retry(record: &mut JobRecord, cause: Cause) -> Option<RetryStep> {
    let request = record.request.clone()?;
    let current = record.current_attempt()?;
    let number = current.number;
    // SageMaker's own words (`CapacityError: Unable to provision…`), else its last secondary
    // status (`MaxWaitTimeExceeded`): an on-call engineer searches for those, not our names.
    let said = current.failure_reason.clone().or_else(|| {
        current
            .secondary_history
            .last()
            .map(|s| s.status.clone())
            .filter(|s| s != "Failed" && s != "Stopped")
    });
    let rung = Rung {
        instance_type: current.instance_type.clone(),
        spot: current.spot,
    };
    let spent = Spent {
        attempt: number,
        from_budget: record.budget_spent(),
    };
    let plan = match cause {
        Cause::System(failure) => next_attempt(&request, spent, &rung, failure),
        Cause::User => after_user_failure(&request, spent, &rung)?,
    };
    let what = match cause {
        Cause::System(failure) => said.unwrap_or_else(|| format!("{failure:?}")),
        Cause::User => record
            .reason
            .clone()
            .unwrap_or_else(|| "a failure of the training code".into()),
    };
    match plan {
        RetryPlan::Retry { attempt, rung } => {
            record.transition(JobState::Retrying).ok()?;
            let how = if rung.spot { "spot" } else { "on demand" };
            record.reason = Some(format!(
                "attempt {number} lost ({what}); attempt {attempt} on {} {how}",
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
            if record.state != JobState::Failed {
                record.transition(JobState::Failed).ok()?;
            }
            let since = match number - spent.from_budget {
                0 => String::new(),
                before => format!(" (since the operator's retry; {before} before it)"),
            };
            record.reason = Some(format!(
                "retries exhausted after {} attempts{since}; the last was lost to {what}",
                spent.from_budget
            ));
            Some(RetryStep::Exhausted)
        }
    }
}
