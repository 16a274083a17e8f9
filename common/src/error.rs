//! The one error enum every adapter maps its SDK errors into. Retry decisions read this
//! enum, never error strings.

use thiserror::Error;

/// What went wrong when talking to a cloud service, classified for retry decisions.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServiceError {
    /// The service asked us to slow down (e.g. `ThrottlingException`). Back-pressure: retry later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// An account quota is exhausted (e.g. SageMaker `ResourceLimitExceeded`). Back-pressure: retry later.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The resource already exists (e.g. SageMaker `ResourceInUse` for a job name).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A conditional write lost against a concurrent writer.
    #[error("condition failed: {0}")]
    ConditionFailed(String),
    /// The resource does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The service rejected the input; retrying the same call cannot help.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A network problem, timeout or server error: the same call may succeed later.
    #[error("transient: {0}")]
    Transient(String),
    /// Anything else that retrying will not fix (access denied, misconfiguration).
    #[error("permanent: {0}")]
    Permanent(String),
}

impl ServiceError {
    /// Whether the call may succeed if made again later: back-pressure and transient faults.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled(_) | Self::QuotaExceeded(_) | Self::Transient(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_back_pressure_and_transient_faults_are_retryable() {
        let retryable = [
            ServiceError::Throttled("x".into()),
            ServiceError::QuotaExceeded("x".into()),
            ServiceError::Transient("x".into()),
        ];
        let final_ = [
            ServiceError::AlreadyExists("x".into()),
            ServiceError::ConditionFailed("x".into()),
            ServiceError::NotFound("x".into()),
            ServiceError::Invalid("x".into()),
            ServiceError::Permanent("x".into()),
        ];
        assert!(retryable.iter().all(ServiceError::is_retryable));
        assert!(!final_.iter().any(ServiceError::is_retryable));
    }
}
