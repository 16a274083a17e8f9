//! What became of one message, and whether SQS must deliver it again.

use tracing::{error, info, warn};
use trainq_common::ServiceError;
use trainq_common::state::JobState;

/// The result of handling one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A training job was created (or found already created) and recorded.
    Launched {
        /// The job's name.
        job_name: String,
        /// Whether CreateTrainingJob answered `ResourceInUse` (an earlier delivery created it).
        already_existed: bool,
    },
    /// The request waits in the waiting room for capacity (its message is done).
    Queued,
    /// A wake-up's round launched this many waiting requests.
    Admitted(usize),
    /// The request was already past launching: nothing to do.
    Duplicate(JobState),
    /// Another delivery holds the launch lease; this one comes back later.
    Busy,
    /// The request was invalid; recorded as `Rejected`.
    Rejected(String),
    /// The round this message ran met throttling or a transient fault: the request waits
    /// `Queued`, and the message comes back after a growing delay to run another round.
    Deferred(ServiceError),
    /// SageMaker refused the job for good: recorded as `Failed`.
    Failed(ServiceError),
    /// The record (or alert) could not be written: delivered again, nothing lost.
    Retry(ServiceError),
}

impl Outcome {
    /// Whether the message must stay on the queue to be delivered again.
    pub fn redeliver(&self) -> bool {
        matches!(self, Self::Busy | Self::Deferred(_) | Self::Retry(_))
    }

    /// One log line saying what happened.
    pub(crate) fn log(&self) {
        match self {
            Self::Launched {
                job_name,
                already_existed,
            } => info!(%job_name, already_existed, "launched"),
            Self::Queued => info!("queued: waiting for capacity"),
            Self::Admitted(n) => info!(launched = n, "admission round"),
            Self::Duplicate(state) => {
                info!(state = %state, "duplicate delivery; request already handled")
            }
            Self::Busy => info!("another delivery is launching this request; will look again"),
            Self::Rejected(reason) => warn!(%reason, "rejected"),
            Self::Deferred(e) => warn!(error = %e, "deferred"),
            Self::Failed(e) => error!(error = %e, "launch failed for good"),
            Self::Retry(e) => error!(error = %e, "could not record; will retry"),
        }
    }
}
