//! The training request, schema version 1: the body of an SQS message on the requests queue.
//!
//! [`parse`] turns raw bytes into a [`TrainingRequest`] (syntax and types); [`validate`] checks
//! it against the registry it names (allow-lists, limits) and resolves its request id. Every
//! error is a [`RequestError`] naming the field and the rule that failed.

mod digest;
mod ident;
mod lineage;
mod parse;
mod schema;
pub(crate) mod validate;

pub use digest::{body_digest, request_digest, sha256_hex};
pub(crate) use ident::shorten;
pub use parse::{MAX_MESSAGE_BYTES, parse, peek_request_id};
pub use schema::{
    Approval, Dataset, Experiment, Origin, Prefer, Reason, Resources, RetryPolicy, SCHEMA_VERSION,
    TrainingRequest,
};
pub use validate::{MAX_REQUEST_BYTES, ValidRequest, validate};

use thiserror::Error;

/// Why a request was refused: the field (a dotted path such as `resources.instance_type`, or
/// `(body)` for the message as a whole) and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{field}`: {rule}")]
pub struct RequestError {
    /// Dotted path of the offending field, `(body)` for the whole message.
    pub field: String,
    /// The rule that failed, in words an engineer can act on.
    pub rule: String,
}

impl RequestError {
    /// An error about `field` breaking `rule`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}
