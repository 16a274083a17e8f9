//! The job record's state machine: one table of allowed transitions. Stores apply a
//! transition with a conditional write on the record's version, so an old or duplicated event
//! can never move a record backwards.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JobState {
    /// Accepted from the queue, not yet claimed for launch.
    Received,
    /// In the waiting room: no acceptable pool has room; admitted when one frees, in order of
    /// priority class, fair share and age. Its message is acknowledged: waiting lives in the
    /// jobs table, not in the queue.
    Queued,
    /// A dispatcher holds the launch lease and is creating the training job.
    Launching,
    /// Pushed back by throttling or a transient fault; the message will be delivered again.
    /// (Records of earlier versions were also deferred by quota; they go on to `Queued`.)
    Deferred,
    /// The training job exists and runs (SageMaker `InProgress`).
    InProgress,
    /// The attempt was lost to a system failure (spot capacity, internal error).
    Interrupted,
    /// A new attempt is being planned.
    Retrying,
    /// Training finished; the model is not registered yet.
    Completed,
    /// The model package is registered.
    Registered,
    /// Registration was refused (e.g. the registry rejected the package).
    RegistrationRejected,
    /// The training failed and will not be retried.
    Failed,
    /// The training job was stopped outside trainq.
    Stopped,
    /// An operator cancelled the request while a training job may run (or be being created):
    /// nothing new launches, and the record becomes `Cancelled` once SageMaker confirms that
    /// nothing runs (the job's terminal event, or the reconcile's DescribeTrainingJob).
    Cancelling,
    /// An operator cancelled the request, and no job of it runs.
    Cancelled,
    /// The request waited longer than its `max_queue_s` for capacity.
    Expired,
    /// The request was malformed or not allowed; kept with its reason and raw body.
    Rejected,
}

use JobState::*;

/// Every allowed `(from, to)` edge. Anything else is refused.
pub const TRANSITIONS: &[(JobState, JobState)] = &[
    (Received, Queued),
    (Received, Launching),
    (Received, Deferred),
    (Received, Rejected),
    // A request that can never run: it needs more instances than any pool it may use allows.
    (Received, Failed),
    (Received, Cancelled),
    (Received, Cancelling),
    (Queued, Launching),
    (Queued, Expired),
    (Queued, Cancelled),
    (Queued, Cancelling),
    (Launching, InProgress),
    // CreateTrainingJob refused for quota or throttling: back to its place in the waiting room.
    (Launching, Queued),
    (Launching, Deferred),
    (Launching, Failed),
    (Launching, Cancelled),
    (Launching, Cancelling),
    (Deferred, Queued),
    (Deferred, Launching),
    (Deferred, Cancelled),
    (Deferred, Cancelling),
    (InProgress, Interrupted),
    (InProgress, Completed),
    (InProgress, Failed),
    (InProgress, Stopped),
    (InProgress, Cancelled),
    (InProgress, Cancelling),
    (Interrupted, Retrying),
    (Interrupted, Failed),
    (Interrupted, Cancelled),
    (Interrupted, Cancelling),
    (Retrying, Queued),
    (Retrying, Launching),
    (Retrying, Deferred),
    (Retrying, Failed),
    (Retrying, Cancelled),
    (Retrying, Cancelling),
    (Cancelling, Cancelled),
    (Completed, Registered),
    (Completed, RegistrationRejected),
    // An operator's `trainq jobs retry` starts a new attempt for a failed, stopped or expired
    // request.
    (Failed, Retrying),
    (Stopped, Retrying),
    (Expired, Retrying),
];

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 16] = [
        Received,
        Queued,
        Launching,
        Deferred,
        InProgress,
        Interrupted,
        Retrying,
        Completed,
        Registered,
        RegistrationRejected,
        Failed,
        Stopped,
        Cancelling,
        Cancelled,
        Expired,
        Rejected,
    ];

    /// Whether `self → to` is an allowed transition.
    pub fn can_become(self, to: JobState) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    /// No automatic transition leaves this state (operators may still retry `Failed`,
    /// `Stopped` and `Expired`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Registered | RegistrationRejected | Failed | Stopped | Cancelled | Expired | Rejected
        )
    }

    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Received => "Received",
            Queued => "Queued",
            Launching => "Launching",
            Deferred => "Deferred",
            InProgress => "InProgress",
            Interrupted => "Interrupted",
            Retrying => "Retrying",
            Completed => "Completed",
            Registered => "Registered",
            RegistrationRejected => "RegistrationRejected",
            Failed => "Failed",
            Stopped => "Stopped",
            Cancelling => "Cancelling",
            Cancelled => "Cancelled",
            Expired => "Expired",
            Rejected => "Rejected",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("transition `{from}` → `{to}` is not allowed")]
pub struct ForbiddenTransition {
    /// The record's current state.
    pub from: JobState,
    /// The state asked for.
    pub to: JobState,
}

/// Checks `from → to` against the table.
pub fn check(from: JobState, to: JobState) -> Result<(), ForbiddenTransition> {
    if from.can_become(to) {
        Ok(())
    } else {
        Err(ForbiddenTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table written out once more, as the design states it, so a change to either is a
    /// deliberate change to both.
    const EXPECTED: &[(JobState, &[JobState])] = &[
        (
            Received,
            &[
                Queued, Launching, Deferred, Rejected, Failed, Cancelled, Cancelling,
            ],
        ),
        (Queued, &[Launching, Expired, Cancelled, Cancelling]),
        (
            Launching,
            &[InProgress, Queued, Deferred, Failed, Cancelled, Cancelling],
        ),
        (Deferred, &[Queued, Launching, Cancelled, Cancelling]),
        (
            InProgress,
            &[
                Interrupted,
                Completed,
                Failed,
                Stopped,
                Cancelled,
                Cancelling,
            ],
        ),
        (Interrupted, &[Retrying, Failed, Cancelled, Cancelling]),
        (
            Retrying,
            &[Queued, Launching, Deferred, Failed, Cancelled, Cancelling],
        ),
        (Completed, &[Registered, RegistrationRejected]),
        (Registered, &[]),
        (RegistrationRejected, &[]),
        (Failed, &[Retrying]),
        (Stopped, &[Retrying]),
        (Cancelling, &[Cancelled]),
        (Cancelled, &[]),
        (Expired, &[Retrying]),
        (Rejected, &[]),
    ];

    #[test]
    fn every_edge_is_allowed_or_forbidden_as_designed() {
        let mut checked = 0;
        for (from, allowed) in EXPECTED {
            for to in JobState::ALL {
                let expected = allowed.contains(&to);
                assert_eq!(from.can_become(to), expected, "{from} → {to}");
                assert_eq!(check(*from, to).is_ok(), expected, "{from} → {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 16 * 16, "all pairs of states checked");
        assert_eq!(EXPECTED.len(), JobState::ALL.len());
    }

    #[test]
    fn no_state_transitions_to_itself() {
        assert!(JobState::ALL.iter().all(|s| !s.can_become(*s)));
    }

    #[test]
    fn terminal_states_have_no_automatic_way_out() {
        for s in JobState::ALL.into_iter().filter(|s| s.is_terminal()) {
            let exits: Vec<_> = JobState::ALL
                .into_iter()
                .filter(|t| s.can_become(*t))
                .collect();
            assert!(exits.is_empty() || exits == [Retrying], "{s} → {exits:?}");
        }
    }

    #[test]
    fn names_round_trip_through_serde() {
        for s in JobState::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<JobState>(&json).unwrap(), s);
        }
    }

    #[test]
    fn a_forbidden_transition_says_which() {
        let e = check(Registered, InProgress).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transition `Registered` → `InProgress` is not allowed"
        );
    }
}
