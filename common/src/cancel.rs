//! Cancelling a request: a tombstone every part honours, so a cancel that races a launch
//! cannot leave a job training and billing.
//!
//! The operator's write is conditional on the version it read, like every write. It moves a
//! request to `Cancelled` only when SageMaker confirms no job of it runs (StopTrainingJob by
//! each unended attempt's deterministic name answered "not found", and no launch can be in
//! flight); otherwise to `Cancelling`. From then on nothing launches (a claim is a conditional
//! write out of `Queued`, `Received`, `Deferred` or `Retrying`); the dispatcher stops a job it
//! created for a record it finds cancelled; the watcher stops any running attempt of a
//! cancelled record and ends a `Cancelling` one `Cancelled` on its job's terminal event; the
//! reconcile finishes what an event left (see `watcher/src/reconcile.rs`).

use crate::record::JobRecord;
use crate::state::JobState;

/// The states a request can be cancelled from.
pub const CANCELLABLE: [JobState; 7] = [
    JobState::Received,
    JobState::Queued,
    JobState::Launching,
    JobState::Deferred,
    JobState::InProgress,
    JobState::Interrupted,
    JobState::Retrying,
];

/// What SageMaker answered StopTrainingJob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAnswer {
    /// The job was running and is stopping now.
    Stopping,
    /// The job exists and is not running (it ended, or is already stopping).
    NotRunning,
    /// SageMaker has no job of that name: it was never created.
    NotFound,
}

/// Whether a record carries the tombstone: no job of it may run.
pub fn is_cancelled(record: &JobRecord) -> bool {
    matches!(record.state, JobState::Cancelling | JobState::Cancelled)
}

/// The jobs a cancel must stop: every attempt not known to have ended (by name: a job being
/// created has no ARN in the record yet).
pub fn jobs_to_stop(record: &JobRecord) -> Vec<String> {
    record
        .attempts
        .iter()
        .filter(|a| a.ended_at.is_none())
        .map(|a| a.job_name.clone())
        .collect()
}

/// Marks `record` cancelled by `who`, given SageMaker's answers to stopping
/// [`jobs_to_stop`]: `Cancelled` when SageMaker knows none of them and no dispatcher can be
/// creating one (`Launching`); `Cancelling` otherwise. Returns the new state.
pub fn cancel(
    record: &mut JobRecord,
    who: &str,
    answers: &[StopAnswer],
) -> Result<JobState, String> {
    if !CANCELLABLE.contains(&record.state) {
        return Err(format!(
            "it is {}; only requests still on their way can be cancelled",
            record.state
        ));
    }
    let nothing_exists = answers.iter().all(|a| *a == StopAnswer::NotFound);
    let to = if nothing_exists && record.state != JobState::Launching {
        JobState::Cancelled
    } else {
        JobState::Cancelling
    };
    record.transition(to).map_err(|e| e.to_string())?;
    record.cancelled_by = Some(who.to_owned());
    record.reason = Some(match to {
        JobState::Cancelled => format!("cancelled by {who}"),
        _ => format!(
            "cancelled by {who}; Cancelled once SageMaker confirms {} stopped",
            jobs_to_stop(record).join(", ")
        ),
    });
    if to == JobState::Cancelled {
        record.lease_until = None;
    }
    Ok(to)
}

/// A `Cancelling` record whose unended attempts SageMaker does not know (DescribeTrainingJob
/// "not found"): `Cancelled` unless a dispatcher may still be creating the job (its launch
/// lease has not lapsed; a dispatcher past its lease that creates one anyway finds the record
/// cancelled when it records the launch, and stops it). Returns whether it moved.
pub fn confirm_never_created(record: &mut JobRecord, now_s: i64) -> bool {
    if record.state != JobState::Cancelling || record.lease_until.is_some_and(|u| u > now_s) {
        return false;
    }
    if record.transition(JobState::Cancelled).is_err() {
        return false;
    }
    record.lease_until = None;
    let who = record
        .cancelled_by
        .clone()
        .unwrap_or_else(|| "an operator".into());
    record.reason = Some(format!("cancelled by {who}; its job was never created"));
    true
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::record::Attempt;

    fn record(state: JobState) -> JobRecord {
        let id = Uuid::from_u128(5);
        let mut r = JobRecord::new(id, state);
        r.attempts
            .push(Attempt::planned(id, 1, "ml.g5.xlarge", true));
        r
    }

    #[test]
    fn nothing_created_and_no_launch_in_flight_is_cancelled_at_once() {
        for state in [
            JobState::Received,
            JobState::Queued,
            JobState::Deferred,
            JobState::Retrying,
        ] {
            let mut r = record(state);
            assert_eq!(
                cancel(&mut r, "alice", &[StopAnswer::NotFound]),
                Ok(JobState::Cancelled),
                "{state}"
            );
            assert_eq!(r.cancelled_by.as_deref(), Some("alice"));
        }
    }

    #[test]
    fn a_job_that_exists_or_may_be_being_created_makes_it_cancelling() {
        let mut launching = record(JobState::Launching);
        launching.lease_until = Some(100);
        assert_eq!(
            cancel(&mut launching, "a", &[StopAnswer::NotFound]),
            Ok(JobState::Cancelling),
            "a dispatcher may be creating it"
        );
        assert_eq!(
            launching.lease_until,
            Some(100),
            "the lease says until when"
        );
        assert!(launching.reason.unwrap().contains("tq-"));
        for answer in [StopAnswer::Stopping, StopAnswer::NotRunning] {
            let mut r = record(JobState::Deferred);
            assert_eq!(cancel(&mut r, "a", &[answer]), Ok(JobState::Cancelling));
        }
    }

    #[test]
    fn an_interrupted_request_has_nothing_to_stop() {
        let mut r = record(JobState::Interrupted);
        r.attempts[0].ended_at = Some("2026-12-02T00:00:00.000Z".into());
        assert!(jobs_to_stop(&r).is_empty());
        assert_eq!(cancel(&mut r, "a", &[]), Ok(JobState::Cancelled));
    }

    #[test]
    fn ended_requests_are_not_cancelled() {
        for state in [JobState::Registered, JobState::Cancelling, JobState::Failed] {
            assert!(cancel(&mut record(state), "a", &[]).is_err(), "{state}");
        }
    }

    #[test]
    fn never_created_is_confirmed_only_once_no_lease_can_create_it() {
        let mut r = record(JobState::Launching);
        r.lease_until = Some(100);
        cancel(&mut r, "alice", &[StopAnswer::NotFound]).unwrap();
        assert!(!confirm_never_created(&mut r, 99), "the lease still runs");
        assert!(confirm_never_created(&mut r, 101));
        assert_eq!(r.state, JobState::Cancelled);
        assert_eq!(
            r.reason.as_deref(),
            Some("cancelled by alice; its job was never created")
        );
    }
}
