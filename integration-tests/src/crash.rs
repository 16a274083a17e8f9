//! A dispatcher "crash" between CreateTrainingJob and the record update, at the one place a
//! test can cut a real process short: the store write that records the launch is lost.

use std::sync::atomic::{AtomicUsize, Ordering};

use trainq_common::ports::{JobStore, StaleCursor, StalePage, Write};
use trainq_common::scheduling::Place;
use trainq_common::state::JobState;
use trainq_common::{JobRecord, ServiceError};
use uuid::Uuid;

/// Wraps a real store; the first `n` writes that would record a launch (`InProgress`) are
/// dropped with an error, as if the dispatcher died right after CreateTrainingJob.
pub struct LoseLaunchWrites<S> {
    inner: S,
    remaining: AtomicUsize,
}

impl<S> LoseLaunchWrites<S> {
    /// Loses the first `n` launch writes.
    pub fn new(inner: S, n: usize) -> Self {
        Self {
            inner,
            remaining: AtomicUsize::new(n),
        }
    }
}

impl<S: JobStore> JobStore for LoseLaunchWrites<S> {
    async fn put_new(&self, record: &JobRecord) -> Result<Write, ServiceError> {
        self.inner.put_new(record).await
    }

    async fn put_if_version(
        &self,
        record: &JobRecord,
        expected: u64,
    ) -> Result<Write, ServiceError> {
        let lose = record.state == JobState::InProgress
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if lose {
            return Err(ServiceError::Transient(
                "dispatcher crashed before recording the launch".into(),
            ));
        }
        self.inner.put_if_version(record, expected).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<JobRecord>, ServiceError> {
        self.inner.get(id).await
    }

    async fn list_stale(
        &self,
        state: JobState,
        updated_before: &str,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> Result<StalePage, ServiceError> {
        self.inner
            .list_stale(state, updated_before, limit, after)
            .await
    }

    async fn waiting(
        &self,
        ranks: u32,
        per_customer: usize,
    ) -> Result<Vec<(Uuid, Place)>, ServiceError> {
        self.inner.waiting(ranks, per_customer).await
    }

    async fn pending_alerts(
        &self,
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Uuid>, ServiceError> {
        self.inner.pending_alerts(updated_before, limit).await
    }
}
