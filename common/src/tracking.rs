//! Applying a state-change event to a job record, so the record stays true: duplicated, late
//! or out-of-order events never move it backwards, and an older attempt's events never move
//! the request. Pure: the watcher loads the record, calls [`apply`], and writes the result
//! conditionally on the version it read.

use crate::event::JobStateChange;
use crate::failure::{Ending, classify};
use crate::metrics::spot_savings_percent;
use crate::record::{JobRecord, SecondaryStatus};
use crate::state::JobState;
use crate::time_util::epoch_ms_to_rfc3339;

/// What an event did to a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The record already knows this or newer: nothing to write.
    Stale,
    /// The event names an attempt the record does not have.
    UnknownAttempt,
    /// The attempt's details changed; the request's state did not.
    AttemptUpdated,
    /// The request moved to a new state (the attempt's details changed too).
    Moved {
        /// The new state.
        to: JobState,
        /// How the job ended, for terminal events.
        ending: Option<Ending>,
    },
}

fn is_terminal_status(status: &str) -> bool {
    matches!(status, "Completed" | "Failed" | "Stopped")
}

/// Applies `event` (about attempt `attempt`) to `record`, in place.
pub fn apply(record: &mut JobRecord, event: &JobStateChange, attempt: u32) -> Effect {
    let is_current = record.current_attempt().map(|a| a.number) == Some(attempt);
    let Some(a) = record.attempts.iter_mut().find(|a| a.number == attempt) else {
        return Effect::UnknownAttempt;
    };
    let newer = match (a.last_event_ms, event.last_modified_ms) {
        (Some(seen), Some(this)) => this > seen,
        _ => true,
    };
    let known_terminal = a.status.as_deref().is_some_and(is_terminal_status);
    if !newer || known_terminal {
        // Either older than what we applied, or the attempt already ended: SageMaker's
        // terminal states are final, so nothing after them can be news for the attempt. The
        // request may still lag what the attempt says (a record re-queued by a redelivery
        // while its job ran, then claimed over the ended attempt): it follows it now.
        return if is_current {
            catch_up(record)
        } else {
            Effect::Stale
        };
    }
    update_attempt(a, event);
    record.spot_savings_pct = spot_savings_percent(&record.attempts);
    if !is_current {
        record.touch();
        return Effect::AttemptUpdated;
    }
    let ending = classify(
        &event.status,
        event.secondary_status.as_deref(),
        event.failure_reason.as_deref(),
    );
    match settle(record, ending, event.failure_reason.as_deref()) {
        Some(effect) => effect,
        None => {
            record.touch();
            Effect::AttemptUpdated
        }
    }
}

/// The current attempt already holds SageMaker's word (the event brings nothing new): moves
/// the record to what that word says if it has not got there, `Stale` if it has.
fn catch_up(record: &mut JobRecord) -> Effect {
    let Some(a) = record.current_attempt() else {
        return Effect::Stale;
    };
    let Some(status) = a.status.clone() else {
        return Effect::Stale;
    };
    let secondary = a.secondary_history.last().map(|s| s.status.clone());
    let reason = a.failure_reason.clone();
    let ending = classify(&status, secondary.as_deref(), reason.as_deref());
    settle(record, ending, reason.as_deref()).unwrap_or(Effect::Stale)
}

/// Copies what `event` says about its job into the attempt.
fn update_attempt(a: &mut crate::record::Attempt, event: &JobStateChange) {
    a.status = Some(event.status.clone());
    a.last_event_ms = event.last_modified_ms.or(a.last_event_ms);
    if event.job_arn.is_some() {
        a.job_arn.clone_from(&event.job_arn);
    }
    // SageMaker sends the whole list every time; a longer one is newer.
    let known = a.secondary_history.len() + a.elided_statuses as usize;
    if event.transitions.len() >= known {
        a.secondary_history = event
            .transitions
            .iter()
            .map(|t| SecondaryStatus {
                status: t.status.clone(),
                start_ms: t.start_ms,
                end_ms: t.end_ms,
                message: t.message.clone(),
            })
            .collect();
        a.elided_statuses = crate::record_size::cap_history(&mut a.secondary_history);
    }
    a.failure_reason = event.failure_reason.clone().or(a.failure_reason.take());
    a.billable_s = event.billable_s.or(a.billable_s);
    a.training_s = event.training_s.or(a.training_s);
    // DescribeTrainingJob names the artifact's place for every job (the member is required),
    // but only a completed job put a model there.
    if event.status == "Completed" {
        a.model_artifact = event.model_artifact.clone().or(a.model_artifact.take());
    }
    // SageMaker's creation time is the launch (the dispatcher's own clock, read after the
    // create returned, can be later than a fast failure's end).
    if let Some(created) = event.created_ms.and_then(epoch_ms_to_rfc3339) {
        a.launched_at = Some(created);
    }
    a.final_metrics.extend(event.final_metrics.iter().cloned());
    a.spot_savings_pct = spot_savings_percent(std::iter::once(&*a));
    if is_terminal_status(&event.status) {
        a.ended_at = event
            .last_modified_ms
            .and_then(epoch_ms_to_rfc3339)
            .or_else(|| Some(crate::time_util::now_rfc3339()));
    }
}

/// Moves the request to where its current attempt's `ending` (or its running) puts it;
/// `None` when it stays where it is.
fn settle(
    record: &mut JobRecord,
    ending: Option<Ending>,
    failure_reason: Option<&str>,
) -> Option<Effect> {
    let target = match ending {
        None => JobState::InProgress,
        Some(Ending::Completed) => JobState::Completed,
        Some(Ending::System(_)) => JobState::Interrupted,
        Some(Ending::User) => JobState::Failed,
        Some(Ending::Stopped) => JobState::Stopped,
    };
    // A cancelled request ends `Cancelled` when SageMaker says its job ended, however it did
    // (the stop, or an ending that beat it): nothing runs any more.
    if record.state == JobState::Cancelling {
        if ending.is_some() && record.transition(JobState::Cancelled).is_ok() {
            record.lease_until = None;
            return Some(Effect::Moved {
                to: JobState::Cancelled,
                ending,
            });
        }
        return None;
    }
    if record.state == target {
        return None;
    }
    // Walked on a copy: a record that cannot reach the target stays exactly as it was.
    let mut moved = record.clone();
    // SageMaker has this attempt's job, so a record still waiting to launch it — deferred,
    // retrying or back in the waiting room because a dispatcher that had in fact launched it
    // died before saying so, and the redelivery met throttling or a full pool — launches
    // now, on SageMaker's word.
    if matches!(
        moved.state,
        JobState::Deferred | JobState::Retrying | JobState::Queued
    ) && moved.transition(JobState::Launching).is_ok()
    {
        moved.reason = None;
    }
    // A lost `InProgress` event must not strand a launching record: pass through it.
    if moved.state == JobState::Launching && target != JobState::InProgress {
        let _ = moved.transition(JobState::InProgress);
    }
    if moved.state != target && moved.transition(target).is_err() {
        return None;
    }
    moved.lease_until = None;
    if let (Some(Ending::User), Some(reason)) = (ending, failure_reason) {
        moved.reason = Some(reason.to_owned());
    }
    *record = moved;
    Some(Effect::Moved { to: target, ending })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::*;
    use crate::event::Transition;
    use crate::failure::SystemFailure;
    use crate::record::Attempt;

    fn record(state: JobState, attempts: u32) -> JobRecord {
        let id = Uuid::from_u128(9);
        let mut r = JobRecord::new(id, state);
        r.attempts = (1..=attempts)
            .map(|n| Attempt::planned(id, n, "ml.g5.xlarge", true))
            .collect();
        r
    }

    fn event(status: &str, secondary: &str, at_ms: i64) -> JobStateChange {
        JobStateChange {
            event_id: None,
            job_name: "tq-x-1".into(),
            job_arn: Some("arn:job".into()),
            status: status.into(),
            secondary_status: Some(secondary.into()),
            failure_reason: None,
            transitions: vec![Transition {
                status: secondary.into(),
                start_ms: Some(at_ms),
                end_ms: None,
                message: None,
            }],
            last_modified_ms: Some(at_ms),
            created_ms: None,
            billable_s: None,
            training_s: None,
            model_artifact: None,
            final_metrics: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_first_event_moves_a_launching_record_in_progress() {
        let mut r = record(JobState::Launching, 1);
        assert_eq!(
            apply(&mut r, &event("InProgress", "Starting", 10), 1),
            Effect::Moved {
                to: JobState::InProgress,
                ending: None
            }
        );
        assert_eq!(r.attempts[0].secondary_history[0].status, "Starting");
    }

    #[test]
    fn duplicates_and_late_events_are_stale() {
        let mut r = record(JobState::InProgress, 1);
        let training = event("InProgress", "Training", 20);
        assert_eq!(apply(&mut r, &training, 1), Effect::AttemptUpdated);
        assert_eq!(apply(&mut r, &training, 1), Effect::Stale, "duplicate");
        assert_eq!(
            apply(&mut r, &event("InProgress", "Starting", 10), 1),
            Effect::Stale,
            "late"
        );
        let done = event("Completed", "Completed", 30);
        assert_eq!(
            apply(&mut r, &done, 1),
            Effect::Moved {
                to: JobState::Completed,
                ending: Some(Ending::Completed)
            }
        );
        assert_eq!(
            apply(&mut r, &event("InProgress", "Uploading", 40), 1),
            Effect::Stale,
            "nothing after a terminal state"
        );
        assert_eq!(r.state, JobState::Completed);
    }

    #[test]
    fn an_event_for_a_deferred_retrying_or_queued_record_moves_it_on_sagemakers_word() {
        // Found by the 1,000-request chaos runs: a dispatcher launched the job and died before
        // recording it; the redelivery was throttled (deferred) or met a full pool (queued);
        // the job then completed. The record must follow SageMaker, not wait for ever.
        for waiting in [JobState::Deferred, JobState::Retrying, JobState::Queued] {
            let mut r = record(waiting, 1);
            r.reason = Some("throttled; next try in about 30 s".into());
            r.queue_class = (waiting == JobState::Queued).then(|| "0".into());
            let effect = apply(&mut r, &event("Completed", "Completed", 30), 1);
            assert!(
                matches!(
                    effect,
                    Effect::Moved {
                        to: JobState::Completed,
                        ..
                    }
                ),
                "{waiting}: {effect:?}"
            );
            assert_eq!(r.reason, None);
            assert_eq!(r.queue_class, None, "out of the waiting room's index");
            let mut r = record(waiting, 1);
            apply(&mut r, &event("InProgress", "Training", 30), 1);
            assert_eq!(r.state, JobState::InProgress, "{waiting}");
        }
    }

    #[test]
    fn a_record_lagging_its_ended_attempt_catches_up_on_the_next_word() {
        // The second half of the chaos run's stuck record: the completion was applied to the
        // attempt while the record could not move, then a claim recorded `InProgress` over
        // the ended attempt. Every later event and the reconcile's Describe bring nothing new
        // for the attempt, yet the request must end where the attempt did.
        let mut r = record(JobState::InProgress, 1);
        r.attempts[0].status = Some("Completed".into());
        r.attempts[0].last_event_ms = Some(30);
        let effect = apply(&mut r, &event("Completed", "Completed", 30), 1);
        assert_eq!(
            effect,
            Effect::Moved {
                to: JobState::Completed,
                ending: Some(Ending::Completed)
            }
        );
        assert_eq!(
            apply(&mut r, &event("Completed", "Completed", 30), 1),
            Effect::Stale
        );
        // An ended request is never moved by what its attempt says.
        let mut r = record(JobState::Registered, 1);
        r.attempts[0].status = Some("Completed".into());
        r.attempts[0].last_event_ms = Some(30);
        let before = r.clone();
        assert_eq!(
            apply(&mut r, &event("Completed", "Completed", 30), 1),
            Effect::Stale
        );
        assert_eq!(r, before);
    }

    #[test]
    fn a_cancelling_record_ends_cancelled_when_its_job_ends_whatever_the_ending() {
        for (status, secondary) in [
            ("Stopped", "Stopped"),
            ("Completed", "Completed"),
            ("Stopped", "MaxWaitTimeExceeded"),
        ] {
            let mut r = record(JobState::Cancelling, 1);
            r.reason = Some("cancelled by arn:aws:iam::1:user/alice".into());
            assert_eq!(
                apply(&mut r, &event("InProgress", "Training", 10), 1),
                Effect::AttemptUpdated,
                "a running job does not undo the cancel"
            );
            assert_eq!(r.state, JobState::Cancelling);
            let effect = apply(&mut r, &event(status, secondary, 20), 1);
            assert!(
                matches!(
                    effect,
                    Effect::Moved {
                        to: JobState::Cancelled,
                        ..
                    }
                ),
                "{status}/{secondary}: {effect:?}"
            );
            assert_eq!(r.attempts[0].status.as_deref(), Some(status));
            assert!(r.reason.unwrap().starts_with("cancelled by"));
        }
    }

    #[test]
    fn a_missed_in_progress_event_does_not_strand_the_record() {
        let mut r = record(JobState::Launching, 1);
        let mut done = event("Completed", "Completed", 30);
        done.model_artifact = Some("s3://b/model.tar.gz".into());
        done.final_metrics = vec![("validation:accuracy".into(), 0.97)];
        done.billable_s = Some(100);
        assert!(matches!(
            apply(&mut r, &done, 1),
            Effect::Moved {
                to: JobState::Completed,
                ..
            }
        ));
        let a = &r.attempts[0];
        assert_eq!(a.model_artifact.as_deref(), Some("s3://b/model.tar.gz"));
        assert_eq!(a.final_metrics.get("validation:accuracy"), Some(&0.97));
        assert_eq!(a.billable_s, Some(100));
        assert!(a.ended_at.is_some());
        assert_eq!(
            a.spot_savings_pct, None,
            "no training seconds, no savings figure"
        );
    }

    #[test]
    fn spot_savings_are_kept_per_attempt_and_per_request() {
        let mut r = record(JobState::InProgress, 2);
        let mut lost = event("Stopped", "MaxWaitTimeExceeded", 50);
        (lost.billable_s, lost.training_s) = (Some(10), Some(100));
        apply(&mut r, &lost, 1);
        let mut done = event("Completed", "Completed", 60);
        (done.billable_s, done.training_s) = (Some(50), Some(100));
        apply(&mut r, &done, 2);
        assert_eq!(r.attempts[0].spot_savings_pct, Some(90.0));
        assert_eq!(r.attempts[1].spot_savings_pct, Some(50.0));
        assert_eq!(r.spot_savings_pct, Some(70.0));
    }

    #[test]
    fn endings_pick_the_next_state() {
        let mut spot = record(JobState::InProgress, 1);
        let lost = event("Stopped", "MaxWaitTimeExceeded", 50);
        assert_eq!(
            apply(&mut spot, &lost, 1),
            Effect::Moved {
                to: JobState::Interrupted,
                ending: Some(Ending::System(SystemFailure::SpotCapacityLost))
            }
        );
        let mut user = record(JobState::InProgress, 1);
        let mut failed = event("Failed", "Failed", 50);
        failed.failure_reason = Some("AlgorithmError: exit 1".into());
        assert_eq!(
            apply(&mut user, &failed, 1),
            Effect::Moved {
                to: JobState::Failed,
                ending: Some(Ending::User)
            }
        );
        assert_eq!(user.reason.as_deref(), Some("AlgorithmError: exit 1"));
        let mut stopped = record(JobState::InProgress, 1);
        assert!(matches!(
            apply(&mut stopped, &event("Stopped", "Stopped", 50), 1),
            Effect::Moved {
                to: JobState::Stopped,
                ..
            }
        ));
    }

    #[test]
    fn an_older_attempts_event_never_moves_the_request() {
        let mut r = record(JobState::InProgress, 2);
        let late = event("Stopped", "MaxWaitTimeExceeded", 50);
        assert_eq!(apply(&mut r, &late, 1), Effect::AttemptUpdated);
        assert_eq!(r.state, JobState::InProgress);
        assert_eq!(r.attempts[0].status.as_deref(), Some("Stopped"));
        assert_eq!(
            apply(&mut r, &event("InProgress", "Training", 60), 3),
            Effect::UnknownAttempt
        );
    }

    #[test]
    fn a_cancelled_record_is_not_revived() {
        let mut r = record(JobState::Cancelled, 1);
        assert_eq!(
            apply(&mut r, &event("Completed", "Completed", 30), 1),
            Effect::AttemptUpdated
        );
        assert_eq!(r.state, JobState::Cancelled);
    }
}
