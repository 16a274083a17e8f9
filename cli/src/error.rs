//! Errors as `trainq` reports them: one line saying what went wrong, a hint saying what to do,
//! and a documented exit status.

use std::fmt;
use std::process::ExitCode;

use trainq_common::ServiceError;

/// The exit statuses `trainq` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 1: the operation failed (an AWS error, a refused change).
    Failed = 1,
    /// 2: bad input: arguments, a file, a request that does not validate.
    Invalid = 2,
    /// 3: no such request, message or model.
    NotFound = 3,
    /// 4: the stack cannot be reached, or no stack file names it.
    Unreachable = 4,
    /// 5: `--wait` saw the request end in a state other than success.
    Unsuccessful = 5,
}

/// A failure of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The exit status.
    pub status: Status,
    /// What went wrong, in one line.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// An error with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.status as u8)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Transient(m) => CliError::new(Status::Unreachable, format!("the stack did not answer: {m}"))
                .hint("is it up? `make devstack` for the local one; check --config / TRAINQ_CONFIG and your AWS credentials"),
            ServiceError::NotFound(m) => CliError::new(Status::NotFound, m),
            ServiceError::Invalid(m) => CliError::new(Status::Invalid, m),
            other => CliError::new(Status::Failed, other.to_string()),
        }
    }
}

/// Classifies an SDK error at this boundary.
pub fn aws<E, R>(what: &str, e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> CliError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug,
{
    let mut err = CliError::from(trainq_infra::errors::classify(e));
    err.message = format!("{what}: {}", err.message);
    err
}
