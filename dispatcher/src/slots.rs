//! Slots in the capacity ledger for one attempt: its pool's and, when the account is capped,
//! the account-wide pool's. Each is its own conditional write, so each stays within its limit
//! under any interleaving; a crash between the two leaves a holder the reconcile releases.

use tracing::warn;
use trainq_common::ServiceError;
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, RequestQueue, Taken, TrainingService,
};
use trainq_common::scheduling::Pool;

use crate::Dispatcher;

/// What taking an attempt's slots came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slots {
    /// Held now; `fresh` when this call took the pool's slot (not already held).
    Held {
        /// This call took it.
        fresh: bool,
    },
    /// The pool or the account is full.
    Full,
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// Takes `count` instances of `pool` within `limit` for `holder`, and as many of the
    /// account's when it is capped.
    pub(crate) async fn take_slots(
        &self,
        pool: &Pool,
        holder: &str,
        customer: &str,
        count: u32,
        limit: u32,
    ) -> Result<Slots, ServiceError> {
        let fresh = match self
            .ledger
            .take(pool, holder, customer, count, limit)
            .await?
        {
            Taken::Taken => true,
            Taken::AlreadyHeld => false,
            Taken::Full { .. } => return Ok(Slots::Full),
        };
        if let Some(cap) = self.config.scheduler.account_limit {
            let account = Pool::account();
            let taken = self
                .ledger
                .take(&account, holder, customer, count, cap)
                .await;
            match taken {
                Ok(Taken::Taken | Taken::AlreadyHeld) => {}
                Ok(Taken::Full { .. }) => {
                    if fresh {
                        self.release_pool(pool, holder).await;
                    }
                    return Ok(Slots::Full);
                }
                Err(e) => {
                    if fresh {
                        self.release_pool(pool, holder).await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(Slots::Held { fresh })
    }

    /// Gives an attempt's slots back (its pool's and the account's). A failure leaves them to
    /// the reconcile, which releases holders that run nothing.
    pub(crate) async fn release(&self, pool: &Pool, holder: &str) {
        self.release_pool(pool, holder).await;
        if self.config.scheduler.account_limit.is_some() {
            self.release_pool(&Pool::account(), holder).await;
        }
    }

    async fn release_pool(&self, pool: &Pool, holder: &str) {
        if let Err(e) = self.ledger.release(pool, holder).await {
            warn!(error = %e, %pool, holder, "could not give the slot back; the reconcile will");
        }
    }
}
