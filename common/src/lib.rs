//! trainq's domain: what a training request is and how it is validated, the job record and
//! its state machine, deterministic job names, the launch plan, and the ports (narrow async
//! traits) that the AWS adapters in `trainq-infra` implement.
//!
//! Nothing here names an AWS SDK type, so the Lambdas' logic can be unit tested on the
//! in-memory fakes (feature `fakes`) without compiling the SDK.

pub mod alert;
pub mod approval;
pub mod aws_text;
pub mod billing;
pub mod cancel;
pub mod chaos;
pub mod config;
pub mod error;
pub mod event;
pub mod failure;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod instance_types;
pub mod ladder;
pub mod launch;
pub mod manifest;
pub mod metrics;
pub mod naming;
pub mod outbox;
pub(crate) mod policy;
pub mod ports;
pub mod record;
pub mod record_size;
pub mod registration;
pub mod registry;
pub mod relaunch;
pub mod request;
pub mod scheduling;
pub mod stack;
pub mod state;
#[cfg(any(test, feature = "fakes"))]
pub mod testing;
pub mod time_util;
pub mod tracking;
pub mod trust;

pub use error::ServiceError;
pub use record::{Attempt, JobRecord};
pub use registry::{Registries, RegistryConfig, RegistryKind};
pub use request::{RequestError, TrainingRequest, ValidRequest};
pub use state::JobState;
