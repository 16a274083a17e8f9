//! The dispatcher's alerts go through the record's outbox (`trainq_common::outbox`): written
//! with the change that causes them, delivered after it, delivered again by whoever meets the
//! record next (a redelivery, the watcher's reconcile) if the sink refused.

use tracing::warn;
use trainq_common::outbox;
use trainq_common::ports::{AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService};
use trainq_common::{JobRecord, ServiceError};

use crate::Dispatcher;

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// Delivers what `record`'s outbox holds; `Err` when the sink refused (it stays there).
    pub(crate) async fn deliver_alerts(&self, record: &JobRecord) -> Result<(), ServiceError> {
        if record.outbox.is_empty() {
            return Ok(());
        }
        match outbox::deliver(&self.store, &self.alerts, record).await {
            Ok(_) => Ok(()),
            Err(e) => {
                warn!(error = %e, "could not deliver an alert; it stays in the record's outbox");
                Err(e)
            }
        }
    }
}
