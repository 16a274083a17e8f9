//! Request ids that cannot be squatted. A request id is claimed by the first record written
//! under it, but only a valid request owns it: a `Rejected` record (a malformed message, or
//! one from a sender the registry does not allow) is taken over by the next valid request
//! with that id, and kept in its history as a refusal. A valid record is never replaced: the
//! same id sent again with different content is refused (`Conflicting Request`, both digests
//! shown) and noted on the record that owns the id, which goes on unchanged.

use aws_lambda_events::event::sqs::SqsMessage;
use tracing::{info, warn};
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService, Write,
};
use trainq_common::record::Refusal;
use trainq_common::request::request_digest;
use trainq_common::state::JobState;
use trainq_common::time_util::now_rfc3339;
use trainq_common::{JobRecord, ServiceError};

use crate::{Dispatcher, Outcome, sender_of};

/// How often a note on a busy record is tried before the message comes back.
const NOTE_TRIES: usize = 3;

/// What a valid request found under its id.
pub(crate) enum Found {
    /// It took over a rejected record: this record (written) is now the request's.
    TakenOver(JobRecord),
    /// The same request (a redelivery, or a new attempt planned for it): go on with it.
    Same(JobRecord),
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// `ours` (a valid request's new record, not written) met `existing` under its id.
    pub(crate) async fn meet(
        &self,
        mut ours: JobRecord,
        existing: JobRecord,
        message: &SqsMessage,
    ) -> Result<Found, Outcome> {
        if existing.state == JobState::Rejected {
            return match self.replace_rejected(&mut ours, &existing).await {
                Ok(Write::Written) => {
                    info!(
                        rejected_message = existing.message_id.as_deref().unwrap_or_default(),
                        "a valid request took over an id that a refused message had claimed"
                    );
                    Ok(Found::TakenOver(ours))
                }
                // Someone else moved it meanwhile: look again on the next delivery.
                Ok(Write::Conflict(_)) => Err(Outcome::Busy),
                Err(e) => Err(Outcome::Retry(e)),
            };
        }
        let theirs = existing
            .request_digest
            .clone()
            .or_else(|| existing.request.as_ref().map(request_digest));
        match (&theirs, &ours.request_digest) {
            (Some(theirs), Some(mine)) if theirs != mine => {
                let (theirs, mine) = (theirs.clone(), mine.clone());
                Err(self
                    .refuse_conflict(existing, &theirs, &mine, message)
                    .await)
            }
            _ => Ok(Found::Same(existing)),
        }
    }

    /// Writes `ours` over the rejected record `existing` (version-guarded), keeping that
    /// rejection and its own history in `ours`'s refusals.
    pub(crate) async fn replace_rejected(
        &self,
        ours: &mut JobRecord,
        existing: &JobRecord,
    ) -> Result<Write, ServiceError> {
        ours.refusals = existing.refusals.clone();
        ours.note_refusal(existing.as_refusal());
        ours.inherit_outbox(existing);
        ours.version = existing.version;
        let expected = ours.next_version();
        self.store.put_if_version(ours, expected).await
    }

    /// Refuses a message that reuses `existing`'s id for a different request.
    async fn refuse_conflict(
        &self,
        existing: JobRecord,
        theirs: &str,
        mine: &str,
        message: &SqsMessage,
    ) -> Outcome {
        let reason = format!(
            "request id `{}` already belongs to a different request (digest {theirs}); this message (digest {mine}) was refused and changed nothing: send a new request with its own request_id",
            existing.request_id
        );
        let refusal = refusal(message, Some(mine.to_owned()), &reason);
        let alert = Alert::about(AlertKind::ConflictingRequest, &existing, reason.clone())
            .with_facts(facts(&refusal, Some(theirs)));
        self.note_and_alert(existing, refusal, alert).await
    }

    /// Notes `refusal` on the record that owns the id with `alert` in its outbox (one write),
    /// then delivers it; the outcome is `Rejected`, or `Retry` when either could not be done
    /// (a redelivery notes it once, and delivers what is still pending).
    pub(crate) async fn note_and_alert(
        &self,
        existing: JobRecord,
        refusal: Refusal,
        alert: Alert,
    ) -> Outcome {
        let reason = refusal.reason.clone();
        let noted = match self.note_refusal(existing, refusal, alert).await {
            Ok(noted) => noted,
            Err(e) => return Outcome::Retry(e),
        };
        warn!(%reason, "refused a message reusing a request id");
        match self.deliver_alerts(&noted).await {
            Ok(()) => Outcome::Rejected(reason),
            Err(e) => Outcome::Retry(e),
        }
    }

    /// Adds `refusal` to the record with `alert` in its outbox (version-guarded; re-read and
    /// tried again when the record moved); returns the record as stored. The record's state
    /// and `updated_at` stay: nothing happened to its request.
    async fn note_refusal(
        &self,
        mut record: JobRecord,
        refusal: Refusal,
        alert: Alert,
    ) -> Result<JobRecord, ServiceError> {
        for _ in 0..NOTE_TRIES {
            if !record.note_refusal(refusal.clone()) {
                return Ok(record); // already noted by an earlier delivery
            }
            record.stage_alert(alert.clone());
            let expected = record.next_version();
            match self.store.put_if_version(&record, expected).await? {
                Write::Written => return Ok(record),
                Write::Conflict(Some(current)) => record = *current,
                Write::Conflict(None) => break,
            }
        }
        Err(ServiceError::Transient(
            "the record kept changing while a refusal was noted on it".into(),
        ))
    }
}

/// A refusal of `message` for `reason`.
pub(crate) fn refusal(message: &SqsMessage, digest: Option<String>, reason: &str) -> Refusal {
    Refusal {
        at: now_rfc3339(),
        message_id: message.message_id.clone(),
        sender: sender_of(message).map(str::to_owned),
        digest,
        reason: reason.to_owned(),
    }
}

/// The facts of an alert about a refusal.
pub(crate) fn facts(refusal: &Refusal, existing_digest: Option<&str>) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            facts.push((k.to_owned(), v.to_owned()));
        }
    };
    put("existing_digest", existing_digest);
    put("refused_digest", refusal.digest.as_deref());
    put("sender", refusal.sender.as_deref());
    put("message_id", refusal.message_id.as_deref());
    facts
}
