//! What became of one event.

use tracing::{error, info, warn};
use trainq_common::ServiceError;
use trainq_common::tracking::Effect;

/// The result of handling one event.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchOutcome {
    /// The event was applied to its record (or found stale).
    Applied(Effect),
    /// A job trainq did not launch (counted, ignored).
    NotOurs(String),
    /// The event could not be read; the reason names the field.
    Unreadable(String),
    /// A trainq job name without a record (counted; nothing to update).
    NoRecord,
    /// The record could not be read or written: the event comes back.
    Retry(ServiceError),
    /// A terminal event DescribeTrainingJob does not confirm yet (it still says the job runs):
    /// not applied; the event comes back, and the reconcile checks the record too.
    Unconfirmed(String),
}

impl WatchOutcome {
    /// Whether the event changed no record and never will (the `IgnoredEvents` metric): a
    /// foreign job's, a `tq-` job's without a record (another stack's sharing the prefix, or a
    /// record removed), an unreadable one.
    pub fn ignored(&self) -> bool {
        matches!(
            self,
            Self::NotOurs(_) | Self::NoRecord | Self::Unreadable(_)
        )
    }

    /// Whether the event must be delivered again.
    pub fn redeliver(&self) -> bool {
        matches!(self, Self::Retry(_) | Self::Unconfirmed(_))
    }

    pub(crate) fn log(&self) {
        match self {
            Self::Applied(effect) => info!(?effect, "event applied"),
            Self::NotOurs(job) => info!(job_name = %job, "not a trainq job; ignored"),
            Self::Unreadable(reason) => warn!(%reason, "unreadable event; ignored"),
            // Normal where two stacks share the `tq-` prefix (each rule sees both); counted.
            Self::NoRecord => warn!("a trainq job name without a record; ignored"),
            Self::Retry(e) => error!(error = %e, "could not record the event; will retry"),
            Self::Unconfirmed(why) => {
                warn!(%why, "a terminal event SageMaker does not confirm yet; will retry")
            }
        }
    }
}
