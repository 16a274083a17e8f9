//! The reject path: a malformed or disallowed request is recorded as `Rejected` with its
//! reason and raw body, announced on the alerts bus, and acknowledged so it is not retried
//! forever. If the record or the alert cannot be written, the message comes back instead.

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::Value;
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::metrics::{self, Metric, NO_REGISTRY};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService, Write,
};
use trainq_common::request::{RequestError, body_digest};
use trainq_common::state::JobState;
use trainq_common::{JobRecord, RegistryKind};
use uuid::Uuid;

use crate::ids::{facts, refusal};
use crate::{Dispatcher, Outcome, sender_of};

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    pub(crate) async fn reject(
        &self,
        request_id: Uuid,
        body: &str,
        error: RequestError,
        message: &SqsMessage,
    ) -> Outcome {
        let reason = error.to_string();
        let mut record = JobRecord::new(request_id, JobState::Rejected);
        record.reason = Some(reason.clone());
        record.message_id = message.message_id.clone();
        record.sender = sender_of(message).map(str::to_owned);
        record.request_digest = Some(body_digest(body));
        record.keep_raw_body(body);
        record.expires_at = Some(
            trainq_common::time_util::now_epoch_s()
                + trainq_common::record::REJECTED_RETENTION_DAYS * 86_400,
        );
        fill_what_is_readable(&mut record, body);
        let alert = Alert::about(AlertKind::RequestRejected, &record, reason.clone())
            .with_facts(record.sender.as_ref().map(|s| ("sender", s.clone())));
        record.stage_alert(alert);

        match self.store.put_new(&record).await {
            Ok(Write::Written) => {
                let registry = record.registry.map_or(NO_REGISTRY, |r| r.as_str());
                metrics::emit(registry, &[(Metric::Rejected, 1.0)]);
            }
            Ok(Write::Conflict(Some(existing)))
                if existing.state == JobState::Rejected
                    && existing.message_id == record.message_id =>
            {
                // A redelivery: the record is there; deliver what the first delivery could
                // not (it died, or the sink refused).
                record = *existing;
            }
            Ok(Write::Conflict(Some(existing))) if existing.state == JobState::Rejected => {
                // Another refused message under the id: the newest rejection is the record
                // (what `submit --wait` looks for), the older ones its history.
                match self.replace_rejected(&mut record, &existing).await {
                    Ok(Write::Written) => {}
                    Ok(Write::Conflict(_)) => return Outcome::Busy,
                    Err(e) => return Outcome::Retry(e),
                }
            }
            Ok(Write::Conflict(Some(existing))) => {
                // A valid request owns the id: it is kept; the refusal is noted on it.
                let refusal = refusal(message, record.request_digest.clone(), &reason);
                let theirs = existing.request_digest.clone();
                let alert = Alert::about(AlertKind::RequestRejected, &existing, reason.clone())
                    .with_facts(facts(&refusal, theirs.as_deref()));
                return self.note_and_alert(*existing, refusal, alert).await;
            }
            Ok(Write::Conflict(None)) => {
                return Outcome::Retry(trainq_common::ServiceError::Transient(
                    "record exists but could not be read".into(),
                ));
            }
            Err(e) => return Outcome::Retry(e),
        }
        if let Err(e) =
            trainq_common::chaos::point("dispatcher: rejection recorded, before its alert")
        {
            return Outcome::Retry(e);
        }
        match self.deliver_alerts(&record).await {
            Ok(()) => Outcome::Rejected(reason),
            Err(e) => Outcome::Retry(e),
        }
    }
}

/// Copies customer, project and registry from a body that failed validation, when they are
/// there and plausible, so the on-call views can find the rejection.
fn fill_what_is_readable(record: &mut JobRecord, body: &str) {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return;
    };
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .map(str::to_owned)
    };
    record.customer = text("customer");
    record.project = text("project");
    if let (Some(c), Some(p)) = (&record.customer, &record.project) {
        record.customer_project = Some(format!("{c}#{p}"));
    }
    record.registry = value
        .get("registry")
        .and_then(|r| serde_json::from_value::<RegistryKind>(r.clone()).ok());
}
