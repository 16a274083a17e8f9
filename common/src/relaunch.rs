//! Sending a request back to the dispatcher for its next attempt: the watcher does it after a
//! system failure, an operator with `trainq jobs retry`. The dispatcher launches the planned
//! attempt with all its guarantees (launch lease, deterministic job name, deferral).

use crate::record::{Attempt, JobRecord};
use crate::state::JobState;

/// The body of a wake-up: a message that asks the dispatcher for a round of admission from
/// the waiting room (sent when a slot frees, by the reconcile, and by a round cut short). It
/// carries nothing and changes nothing by itself: a round admits only what fits, in order,
/// so a duplicated or forged wake-up costs one look at the waiting room.
pub const WAKE_BODY: &str = r#"{"trainq":"admit"}"#;

/// Whether a message body is a wake-up.
pub fn is_wake(body: &str) -> bool {
    body.trim() == WAKE_BODY
}

/// The message that asks the dispatcher to launch the record's planned attempt: the request as
/// kept, with its request id made explicit. `None` when the record keeps no request.
pub fn launch_message(record: &JobRecord) -> Option<String> {
    let mut request = record.request.clone()?;
    request.request_id = Some(record.request_id);
    serde_json::to_string(&request).ok()
}

/// An operator's retry of a `Failed`, `Stopped` or `Expired` request, in place: the record becomes
/// `Retrying` with the next attempt on the request's first rung (a person decided, so the
/// ladder and the automatic budget start over). Returns the new attempt's number.
pub fn plan_operator_retry(record: &mut JobRecord, who: &str) -> Result<u32, String> {
    let request = record
        .request
        .clone()
        .ok_or("the record keeps no request to retry (a rejected request cannot be retried; fix and resend it)")?;
    if !matches!(
        record.state,
        JobState::Failed | JobState::Stopped | JobState::Expired
    ) {
        return Err(format!(
            "only Failed, Stopped or Expired requests can be retried; this one is {}",
            record.state
        ));
    }
    let number = record.attempts.last().map_or(1, |a| a.number + 1);
    if number > crate::record_size::MAX_ATTEMPTS {
        return Err(format!(
            "it has had {} attempts, the most a request keeps; send a new request (`trainq jobs show` has this one's history)",
            number - 1
        ));
    }
    record
        .transition(JobState::Retrying)
        .map_err(|e| e.to_string())?;
    let (instance_type, spot) = (&request.resources.instance_type, request.resources.spot);
    let mut attempt = Attempt::planned(record.request_id, number, instance_type, spot);
    attempt.retried_by = Some(who.to_owned());
    record.attempts.push(attempt);
    record.reason = Some(format!(
        "retried by {who}: attempt {number} on {instance_type}, with a fresh retry budget"
    ));
    Ok(number)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn failed() -> JobRecord {
        let request = crate::request::parse(&crate::testing::sample_request().to_string()).unwrap();
        let mut r = JobRecord::new(Uuid::from_u128(3), JobState::Failed).with_request(request);
        let mut a = Attempt::planned(r.request_id, 2, "ml.g4dn.xlarge", false);
        a.status = Some("Failed".into());
        r.attempts.push(a);
        r
    }

    #[test]
    fn an_operator_retry_starts_the_ladder_over_with_the_next_attempt() {
        let mut r = failed();
        assert_eq!(plan_operator_retry(&mut r, "alice"), Ok(3));
        assert_eq!(r.state, JobState::Retrying);
        let a = r.current_attempt().unwrap();
        assert_eq!(
            (a.number, a.instance_type.as_str(), a.spot),
            (3, "ml.g5.xlarge", true)
        );
        assert!(r.reason.as_deref().unwrap().starts_with("retried by alice"));
        assert_eq!(a.retried_by.as_deref(), Some("alice"));
        assert_eq!(r.budget_spent(), 1, "a fresh budget");
        let body: serde_json::Value =
            serde_json::from_str(&launch_message(&failed()).unwrap()).unwrap();
        assert_eq!(
            body["request_id"],
            serde_json::json!(Uuid::from_u128(3).to_string())
        );
    }

    #[test]
    fn only_failed_or_stopped_requests_with_a_request_can_be_retried() {
        let mut r = failed();
        r.state = JobState::Registered;
        assert!(
            plan_operator_retry(&mut r, "a")
                .unwrap_err()
                .contains("Registered")
        );
        let mut r = failed();
        r.request = None;
        assert!(
            plan_operator_retry(&mut r, "a")
                .unwrap_err()
                .contains("no request")
        );
    }
}
