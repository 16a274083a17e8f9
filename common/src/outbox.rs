//! The alert outbox: alerts at least once. An alert is written into the record with the
//! state change that causes it (one conditional write: both or neither), delivered after the
//! write, then taken out of the record. Whoever meets the record next with an alert still in
//! its outbox delivers it again: the same function after a failed send, a redelivered event,
//! the reconcile (through the sparse `pending-alerts` index). Every delivery of one alert
//! carries the same `alert_id`, so consumers de-duplicate by it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::alert::{Alert, AlertKind};
use crate::error::ServiceError;
use crate::ports::{AlertSink, JobStore, Write};
use crate::record::JobRecord;
use crate::time_util::now_rfc3339;

/// Alerts a record keeps waiting at most (the oldest go first): a record stays far below
/// DynamoDB's item limit however long the alert sink is down.
pub const MAX_PENDING: usize = 20;

/// The value of [`JobRecord::alerts_pending`] while alerts wait.
pub const PENDING: &str = "pending";

/// Conflicting writes a delivery's bookkeeping tolerates before leaving it to the next one.
const CONFLICTS: usize = 5;

/// Namespace of alert ids.
const ALERT_IDS: Uuid = Uuid::from_u128(0x2b4e_61f0_8c3d_4a57_9e12_7d6c_5b4a_3f20);

/// An alert waiting in a record's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAlert {
    /// Its `detail-type` (`Training Retries Exhausted`, …).
    pub detail_type: String,
    /// Its detail, `alert_id` included.
    pub detail: crate::alert::AlertDetail,
    /// When it was written (RFC 3339).
    pub staged_at: String,
}

impl PendingAlert {
    /// The alert to send; `None` for a kind this version does not know (kept, not sent).
    pub fn alert(&self) -> Option<Alert> {
        Some(Alert {
            kind: AlertKind::from_detail_type(&self.detail_type)?,
            detail: self.detail.clone(),
        })
    }

    /// Its id.
    pub fn id(&self) -> Option<Uuid> {
        self.detail.alert_id
    }
}

impl JobRecord {
    /// Puts `alert` in the outbox, to be written with the change that causes it. Its id is
    /// derived from the request, the kind and the version this write will have, so it is the
    /// same however often it is delivered.
    pub fn stage_alert(&mut self, mut alert: Alert) {
        let detail_type = alert.kind.detail_type();
        let key = format!(
            "alert:{}:{detail_type}:{}:{}",
            self.request_id,
            self.version + 1,
            self.outbox.len()
        );
        alert.detail.alert_id = Some(Uuid::new_v5(&ALERT_IDS, key.as_bytes()));
        self.outbox.push(PendingAlert {
            detail_type: detail_type.to_owned(),
            detail: alert.detail,
            staged_at: now_rfc3339(),
        });
        let excess = self.outbox.len().saturating_sub(MAX_PENDING);
        self.outbox.drain(..excess);
        self.alerts_pending = Some(PENDING.to_owned());
    }

    /// Keeps `older`'s undelivered alerts ahead of this record's own: a record that replaces
    /// another under its id (a rejection taken over) must not lose what it owed.
    pub fn inherit_outbox(&mut self, older: &JobRecord) {
        let mine = std::mem::take(&mut self.outbox);
        self.outbox = older.outbox.clone();
        self.outbox.extend(mine);
        let excess = self.outbox.len().saturating_sub(MAX_PENDING);
        self.outbox.drain(..excess);
        self.alerts_pending = (!self.outbox.is_empty()).then(|| PENDING.to_owned());
    }

    /// Takes delivered alerts out of the outbox.
    pub fn mark_delivered(&mut self, ids: &[Uuid]) {
        self.outbox
            .retain(|p| p.id().is_none_or(|id| !ids.contains(&id)));
        if self.outbox.is_empty() {
            self.alerts_pending = None;
        }
    }
}

/// Sends what `record`'s outbox holds, in order, and takes what was sent out of the stored
/// record (conditional writes, re-read on conflict). Returns how many were sent; `Err` is the
/// sink's refusal (the caller logs it): that alert and those after it stay in the outbox for
/// the next delivery. If the bookkeeping write keeps losing, what was sent stays too and is
/// sent again (at least once).
pub async fn deliver<S: JobStore, A: AlertSink>(
    store: &S,
    sink: &A,
    record: &JobRecord,
) -> Result<usize, ServiceError> {
    let mut sent = Vec::new();
    let mut refused = None;
    for pending in &record.outbox {
        let (Some(alert), Some(id)) = (pending.alert(), pending.id()) else {
            continue;
        };
        match sink.send(&alert).await {
            Ok(()) => {
                delivered(&alert);
                sent.push(id);
            }
            Err(e) => {
                refused = Some(e);
                break; // in order: the next delivery starts here
            }
        }
    }
    if !sent.is_empty() {
        forget(store, record.clone(), &sent).await?;
    }
    match refused {
        Some(e) => Err(e),
        None => Ok(sent.len()),
    }
}

/// Takes `ids` out of the stored record's outbox.
async fn forget<S: JobStore>(
    store: &S,
    mut record: JobRecord,
    ids: &[Uuid],
) -> Result<(), ServiceError> {
    for _ in 0..CONFLICTS {
        if !record
            .outbox
            .iter()
            .any(|p| p.id().is_some_and(|id| ids.contains(&id)))
        {
            return Ok(());
        }
        record.mark_delivered(ids);
        let expected = record.next_version();
        match store.put_if_version(&record, expected).await? {
            Write::Written => return Ok(()),
            Write::Conflict(Some(current)) => record = *current,
            Write::Conflict(None) => return Ok(()),
        }
    }
    Ok(())
}

/// Writes `alert` into the outbox of the stored record `record` stands for (re-read on
/// conflict) and delivers it: for alerts that no state change of the record causes (a pool's
/// pressure, a conflicting request noted on its owner).
pub async fn stage_and_deliver<S: JobStore, A: AlertSink>(
    store: &S,
    sink: &A,
    mut record: JobRecord,
    alert: Alert,
) -> Result<(), ServiceError> {
    for _ in 0..CONFLICTS {
        let mut staged = record.clone();
        staged.stage_alert(alert.clone());
        let expected = staged.next_version();
        match store.put_if_version(&staged, expected).await? {
            Write::Written => return deliver(store, sink, &staged).await.map(|_| ()),
            Write::Conflict(Some(current)) => record = *current,
            Write::Conflict(None) => break,
        }
    }
    // No record to keep it in (or it kept changing): send it as it is, once.
    sink.send(&alert).await?;
    delivered(&alert);
    Ok(())
}

/// Counts a delivered alert by its kind (the dashboard's "alerts by kind").
fn delivered(alert: &Alert) {
    crate::metrics::emit_with(
        &[("Kind", alert.kind.detail_type())],
        &[(crate::metrics::Metric::Alerts, 1.0)],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{MemoryJobStore, RecordingAlerts};
    use crate::state::JobState;

    fn staged(n: usize) -> JobRecord {
        let mut r = JobRecord::new(Uuid::from_u128(4), JobState::Failed);
        for i in 0..n {
            r.stage_alert(Alert::about(
                AlertKind::JobFailed,
                &r.clone(),
                format!("#{i}"),
            ));
        }
        r
    }

    #[test]
    fn ids_are_stable_and_distinct_and_the_outbox_is_bounded() {
        let a = staged(2);
        assert_eq!(a.outbox[0].id(), staged(1).outbox[0].id());
        assert_ne!(a.outbox[0].id(), a.outbox[1].id());
        assert_eq!(a.alerts_pending.as_deref(), Some(PENDING));
        let full = staged(MAX_PENDING + 3);
        assert_eq!(full.outbox.len(), MAX_PENDING);
        assert_eq!(full.outbox[0].detail.reason, "#3", "the oldest went first");
    }

    #[tokio::test]
    async fn a_refused_send_stays_pending_and_the_next_delivery_sends_it_with_its_id() {
        let store = MemoryJobStore::default();
        let sink = RecordingAlerts::default();
        let r = staged(2);
        store.insert(r.clone());
        sink.faults
            .lock()
            .unwrap()
            .extend([ServiceError::Throttled("x".into())]);
        assert!(deliver(&store, &sink, &r).await.is_err());
        let kept = store.record(r.request_id).unwrap();
        assert_eq!(kept.outbox.len(), 2, "nothing sent, nothing forgotten");
        assert_eq!(deliver(&store, &sink, &kept).await, Ok(2));
        let done = store.record(r.request_id).unwrap();
        assert!(done.outbox.is_empty());
        assert_eq!(done.alerts_pending, None);
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent[0].detail.alert_id, r.outbox[0].id());
    }
}
