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
    /// A dispatcher holds the launch lease and is creating the training job.
    Launching,
    /// Pushed back by throttling or a quota; the message will be delivered again.
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
    /// An operator cancelled the request.
    Cancelled,
    /// The request was malformed or not allowed; kept with its reason and raw body.
    Rejected,
}

use JobState::*;

/// Every allowed `(from, to)` edge. Anything else is refused.
pub const TRANSITIONS: &[(JobState, JobState)] = &[
    (Received, Launching),
    (Received, Deferred),
    (Received, Rejected),
    (Received, Cancelled),
    (Launching, InProgress),
    (Launching, Deferred),
    (Launching, Failed),
    (Launching, Cancelled),
    (Deferred, Launching),
    (Deferred, Cancelled),
    (InProgress, Interrupted),
    (InProgress, Completed),
    (InProgress, Failed),
    (InProgress, Stopped),
    (InProgress, Cancelled),
    (Interrupted, Retrying),
    (Interrupted, Failed),
    (Interrupted, Cancelled),
    (Retrying, Launching),
    (Retrying, Deferred),
    (Retrying, Failed),
    (Retrying, Cancelled),
    (Completed, Registered),
    (Completed, RegistrationRejected),
    // An operator's `trainq jobs retry` starts a new attempt for a failed or stopped request.
    (Failed, Retrying),
    (Stopped, Retrying),
];

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 13] = [
        Received,
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
        Cancelled,
        Rejected,
    ];

    /// Whether `self → to` is an allowed transition.
    pub fn can_become(self, to: JobState) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    /// No automatic transition leaves this state (operators may still retry `Failed` and `Stopped`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Registered | RegistrationRejected | Failed | Stopped | Cancelled | Rejected
        )
    }

    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Received => "Received",
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
            Cancelled => "Cancelled",
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
        (Received, &[Launching, Deferred, Rejected, Cancelled]),
        (Launching, &[InProgress, Deferred, Failed, Cancelled]),
        (Deferred, &[Launching, Cancelled]),
        (
            InProgress,
            &[Interrupted, Completed, Failed, Stopped, Cancelled],
        ),
        (Interrupted, &[Retrying, Failed, Cancelled]),
        (Retrying, &[Launching, Deferred, Failed, Cancelled]),
        (Completed, &[Registered, RegistrationRejected]),
        (Registered, &[]),
        (RegistrationRejected, &[]),
        (Failed, &[Retrying]),
        (Stopped, &[Retrying]),
        (Cancelled, &[]),
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
        assert_eq!(checked, 13 * 13, "all pairs of states checked");
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
