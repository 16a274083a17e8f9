//! How a training job ended, and whether that calls for another attempt.
//!
//! *System* failures are the platform's doing (spot capacity lost, no capacity, SageMaker
//! internal errors) and are retried within a budget; *user* failures are the training code's or
//! the data's (`AlgorithmError`, `ClientError`, exceeding its own runtime limit) and are not
//! retried unless the request allows it.

/// A system failure, by what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemFailure {
    /// Managed spot could not get or keep capacity within MaxWait (`MaxWaitTimeExceeded`).
    SpotCapacityLost,
    /// SageMaker could not provision the instance type (`CapacityError`).
    InsufficientCapacity,
    /// An account quota stopped the job (`ResourceLimitExceeded`).
    Quota,
    /// SageMaker's own internal error.
    Internal,
}

impl SystemFailure {
    /// Whether another instance type or on-demand may help (otherwise retry the same rung).
    pub fn moves_down_the_ladder(self) -> bool {
        matches!(self, Self::SpotCapacityLost | Self::InsufficientCapacity)
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `Completed`.
    Completed,
    /// A system failure: retry within the budget.
    System(SystemFailure),
    /// The training code or its data failed (or it ran past its own `MaxRuntime`).
    User,
    /// Stopped by someone (StopTrainingJob), not by a limit.
    Stopped,
}

/// Classifies a terminal `TrainingJobStatus` with its secondary status and failure reason;
/// `None` while the job is still running (`InProgress`, `Stopping`).
pub fn classify(
    status: &str,
    secondary_status: Option<&str>,
    failure_reason: Option<&str>,
) -> Option<Ending> {
    let reason = failure_reason.unwrap_or_default();
    match status {
        "Completed" => Some(Ending::Completed),
        "Stopped" => Some(match secondary_status {
            Some("MaxWaitTimeExceeded") => Ending::System(SystemFailure::SpotCapacityLost),
            Some("MaxRuntimeExceeded") => Ending::User,
            _ => Ending::Stopped,
        }),
        "Failed" => Some(match secondary_status {
            Some("MaxWaitTimeExceeded") => Ending::System(SystemFailure::SpotCapacityLost),
            Some("MaxRuntimeExceeded") => Ending::User,
            _ => classify_failure_reason(reason),
        }),
        _ => None,
    }
}

/// SageMaker's documented failure reason prefixes. Anything unknown counts as a user failure:
/// retrying an unexplained failure spends money on a job that probably fails again, and the
/// `Training Job Failed` alert puts a person on it.
fn classify_failure_reason(reason: &str) -> Ending {
    let starts = |p: &str| reason.starts_with(p);
    if starts("CapacityError") || reason.contains("Insufficient capacity") {
        Ending::System(SystemFailure::InsufficientCapacity)
    } else if starts("ResourceLimitExceeded") {
        Ending::System(SystemFailure::Quota)
    } else if starts("InternalServerError")
        || starts("InternalError")
        || reason.contains("internal error")
    {
        Ending::System(SystemFailure::Internal)
    } else if reason.contains("Spot")
        && (reason.contains("interrupt") || reason.contains("capacity"))
    {
        Ending::System(SystemFailure::SpotCapacityLost)
    } else {
        Ending::User
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (status, secondary status, failure reason, expected ending)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<Ending>,
    );

    #[test]
    fn every_documented_ending_is_classified() {
        use Ending::*;
        use SystemFailure::*;
        let cases: &[Case] = &[
            ("InProgress", Some("Training"), None, None),
            ("Stopping", Some("Stopping"), None, None),
            ("Completed", Some("Completed"), None, Some(Completed)),
            (
                "Stopped",
                Some("MaxWaitTimeExceeded"),
                None,
                Some(System(SpotCapacityLost)),
            ),
            (
                "Failed",
                Some("MaxWaitTimeExceeded"),
                Some("Training job exceeded MaxWaitTimeInSeconds"),
                Some(System(SpotCapacityLost)),
            ),
            ("Stopped", Some("MaxRuntimeExceeded"), None, Some(User)),
            ("Stopped", Some("Stopped"), None, Some(Stopped)),
            (
                "Failed",
                Some("Failed"),
                Some(
                    "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type.",
                ),
                Some(System(InsufficientCapacity)),
            ),
            (
                "Failed",
                Some("Failed"),
                Some("InternalServerError: We encountered an internal error. Please try again."),
                Some(System(Internal)),
            ),
            (
                "Failed",
                Some("Failed"),
                Some(
                    "ResourceLimitExceeded: The account-level service limit 'ml.p3.2xlarge for spot training job usage' is 0 Instances",
                ),
                Some(System(Quota)),
            ),
            (
                "Failed",
                Some("Failed"),
                Some(
                    "AlgorithmError: ExecuteUserScriptError: Command \"/usr/bin/python3 train.py\" exited with code 1",
                ),
                Some(User),
            ),
            (
                "Failed",
                Some("Failed"),
                Some("ClientError: Data download failed: NoSuchKey"),
                Some(User),
            ),
            (
                "Failed",
                Some("Failed"),
                Some("Something nobody documented"),
                Some(User),
            ),
            ("Failed", Some("Failed"), None, Some(User)),
        ];
        for (status, secondary, reason, expected) in cases {
            assert_eq!(
                classify(status, *secondary, *reason),
                *expected,
                "{status}/{secondary:?}/{reason:?}"
            );
        }
    }

    #[test]
    fn only_capacity_failures_move_down_the_ladder() {
        assert!(SystemFailure::SpotCapacityLost.moves_down_the_ladder());
        assert!(SystemFailure::InsufficientCapacity.moves_down_the_ladder());
        assert!(!SystemFailure::Internal.moves_down_the_ladder());
        assert!(!SystemFailure::Quota.moves_down_the_ladder());
    }
}
