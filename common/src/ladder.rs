//! The fallback ladder and the retry budget: after a system failure, where the next attempt
//! runs.
//!
//! Spot requests: same instance type on spot → each fallback type on spot → the request's
//! instance type on demand. On-demand requests: the instance type → each fallback type.

use crate::failure::SystemFailure;
use crate::launch::Rung;
use crate::request::TrainingRequest;

/// Attempts allowed when the request does not say (the first one included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// Every rung of a request's ladder, in order.
pub fn rungs(request: &TrainingRequest) -> Vec<Rung> {
    let r = &request.resources;
    let rung = |t: &str, spot| Rung {
        instance_type: t.to_owned(),
        spot,
    };
    let mut out = vec![rung(&r.instance_type, r.spot)];
    out.extend(r.fallback_instance_types.iter().map(|t| rung(t, r.spot)));
    if r.spot {
        out.push(rung(&r.instance_type, false));
    }
    out
}

/// The request's attempt budget, first attempt included.
pub fn budget(request: &TrainingRequest) -> u32 {
    request
        .retry
        .as_ref()
        .and_then(|r| r.max_attempts)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS)
}

/// Where a request stands when one of its attempts ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// The attempt's number (1-based, over the request's whole life).
    pub attempt: u32,
    /// Attempts spent from the current budget, this one included (an operator's retry starts
    /// a fresh budget: see [`crate::JobRecord::budget_spent`]).
    pub from_budget: u32,
}

impl Spent {
    /// The first budget, never retried by hand: the attempt number is what was spent.
    pub fn first_budget(attempt: u32) -> Self {
        Self {
            attempt,
            from_budget: attempt,
        }
    }
}

/// What to do after a system failure of attempt `attempt` (1-based) on `current`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryPlan {
    /// Launch attempt `attempt` on `rung`.
    Retry {
        /// The new attempt's number.
        attempt: u32,
        /// Where it runs.
        rung: Rung,
    },
    /// The budget (or the ladder) is used up.
    Exhausted,
}

/// The next attempt after a system failure: capacity failures step down the ladder (staying
/// on its last rung once there), other system failures retry the same rung; all within the
/// request's attempt budget.
pub fn next_attempt(
    request: &TrainingRequest,
    spent: Spent,
    current: &Rung,
    failure: SystemFailure,
) -> RetryPlan {
    if spent.from_budget >= budget(request) {
        return RetryPlan::Exhausted;
    }
    let ladder = rungs(request);
    let rung = if failure.moves_down_the_ladder() {
        let here = ladder.iter().position(|r| r == current).unwrap_or(0);
        ladder
            .get(here + 1)
            .cloned()
            .unwrap_or_else(|| current.clone())
    } else {
        current.clone()
    };
    RetryPlan::Retry {
        attempt: spent.attempt + 1,
        rung,
    }
}

/// What to do after a *user* failure (the training code or its data) of attempt `attempt`:
/// `None` unless the request asks for such retries (`retry.retry_user_failures`); then the
/// same rung again (another instance type would not fix the code), within the budget.
pub fn after_user_failure(
    request: &TrainingRequest,
    spent: Spent,
    current: &Rung,
) -> Option<RetryPlan> {
    if !request
        .retry
        .as_ref()
        .is_some_and(|r| r.retry_user_failures)
    {
        return None;
    }
    Some(if spent.from_budget >= budget(request) {
        RetryPlan::Exhausted
    } else {
        RetryPlan::Retry {
            attempt: spent.attempt + 1,
            rung: current.clone(),
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::parse;
    use crate::testing::sample_request;

    fn request(change: impl FnOnce(&mut serde_json::Value)) -> TrainingRequest {
        let mut body = sample_request();
        change(&mut body);
        parse(&body.to_string()).unwrap()
    }

    fn rung(t: &str, spot: bool) -> Rung {
        Rung {
            instance_type: t.into(),
            spot,
        }
    }

    #[test]
    fn spot_ladders_end_on_demand() {
        let r = request(|b| {
            b["resources"]["fallback_instance_types"] = json!(["ml.g4dn.xlarge", "ml.g6.xlarge"])
        });
        assert_eq!(
            rungs(&r),
            [
                rung("ml.g5.xlarge", true),
                rung("ml.g4dn.xlarge", true),
                rung("ml.g6.xlarge", true),
                rung("ml.g5.xlarge", false)
            ]
        );
        let od = request(|b| b["resources"]["spot"] = json!(false));
        assert_eq!(
            rungs(&od),
            [rung("ml.g5.xlarge", false), rung("ml.g4dn.xlarge", false)]
        );
    }

    #[test]
    fn capacity_losses_walk_the_ladder_within_the_budget() {
        let r = request(|_| {});
        let lost = SystemFailure::SpotCapacityLost;
        let step1 = next_attempt(
            &r,
            Spent::first_budget(1),
            &rung("ml.g5.xlarge", true),
            lost,
        );
        assert_eq!(
            step1,
            RetryPlan::Retry {
                attempt: 2,
                rung: rung("ml.g4dn.xlarge", true)
            }
        );
        let step2 = next_attempt(
            &r,
            Spent::first_budget(2),
            &rung("ml.g4dn.xlarge", true),
            lost,
        );
        assert_eq!(
            step2,
            RetryPlan::Retry {
                attempt: 3,
                rung: rung("ml.g5.xlarge", false)
            }
        );
        let step3 = next_attempt(
            &r,
            Spent::first_budget(3),
            &rung("ml.g5.xlarge", false),
            SystemFailure::InsufficientCapacity,
        );
        assert_eq!(
            step3,
            RetryPlan::Retry {
                attempt: 4,
                rung: rung("ml.g5.xlarge", false)
            },
            "last rung repeats"
        );
        assert_eq!(
            next_attempt(
                &r,
                Spent::first_budget(4),
                &rung("ml.g5.xlarge", false),
                lost
            ),
            RetryPlan::Exhausted
        );
    }

    #[test]
    fn internal_errors_and_quotas_retry_the_same_rung() {
        let r = request(|_| {});
        for failure in [SystemFailure::Internal, SystemFailure::Quota] {
            let plan = next_attempt(
                &r,
                Spent::first_budget(1),
                &rung("ml.g5.xlarge", true),
                failure,
            );
            assert_eq!(
                plan,
                RetryPlan::Retry {
                    attempt: 2,
                    rung: rung("ml.g5.xlarge", true)
                }
            );
        }
    }

    #[test]
    fn the_request_sets_the_budget() {
        let r = request(|b| b["retry"] = json!({"max_attempts": 1}));
        assert_eq!(
            next_attempt(
                &r,
                Spent::first_budget(1),
                &rung("ml.g5.xlarge", true),
                SystemFailure::Internal
            ),
            RetryPlan::Exhausted
        );
    }

    #[test]
    fn user_failures_retry_the_same_rung_only_when_asked() {
        let here = rung("ml.g5.xlarge", true);
        assert_eq!(
            after_user_failure(&request(|_| {}), Spent::first_budget(1), &here),
            None
        );
        let asked =
            request(|b| b["retry"] = json!({"max_attempts": 2, "retry_user_failures": true}));
        assert_eq!(
            after_user_failure(&asked, Spent::first_budget(1), &here),
            Some(RetryPlan::Retry {
                attempt: 2,
                rung: here.clone()
            })
        );
        assert_eq!(
            after_user_failure(&asked, Spent::first_budget(2), &here),
            Some(RetryPlan::Exhausted)
        );
    }

    #[test]
    fn a_fresh_budget_counts_from_the_operators_retry() {
        let r = request(|_| {});
        let here = rung("ml.g5.xlarge", true);
        let after_retry = Spent {
            attempt: 5,
            from_budget: 1,
        };
        assert_eq!(
            next_attempt(&r, after_retry, &here, SystemFailure::SpotCapacityLost),
            RetryPlan::Retry {
                attempt: 6,
                rung: rung("ml.g4dn.xlarge", true)
            },
            "attempt 5 of a request whose budget is 4, first of its fresh budget"
        );
        let spent = Spent {
            attempt: 8,
            from_budget: 4,
        };
        assert_eq!(
            next_attempt(&r, spent, &here, SystemFailure::SpotCapacityLost),
            RetryPlan::Exhausted
        );
    }
}
