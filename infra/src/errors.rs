//! SDK errors → [`ServiceError`]. This is the one place that reads AWS error codes; retry
//! decisions everywhere else read the enum.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use trainq_common::ServiceError;

/// Error codes that mean "slow down".
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
];
/// Error codes that mean an account quota is used up.
const QUOTA: &[&str] = &[
    "ResourceLimitExceeded",
    "LimitExceededException",
    "ServiceQuotaExceededException",
];
const ALREADY_EXISTS: &[&str] = &[
    "ResourceInUse",
    "ResourceAlreadyExistsException",
    "ResourceAlreadyExists",
];
const CONDITION: &[&str] = &[
    "ConditionalCheckFailedException",
    "TransactionConflictException",
];
const NOT_FOUND: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];
const INVALID: &[&str] = &[
    "ValidationException",
    "ValidationError",
    "InvalidParameterValue",
    "InvalidParameterException",
    "InvalidParameterCombination",
    "SerializationException",
    "ReceiptHandleIsInvalid",
    "MessageNotInflight",
];
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies an SDK error by its AWS error code, or by how the call failed when there is none.
pub fn classify<E, R>(err: SdkError<E, R>) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let message = format!(
                "{}: {}",
                e.code().unwrap_or("Unknown"),
                e.message().unwrap_or_default()
            );
            classify_code(e.code(), message)
        }
        // The request never got a usable answer: network, timeout, unreadable response.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ServiceError::Transient(describe(&err))
        }
        _ => ServiceError::Permanent(describe(&err)),
    }
}

/// Classifies an AWS error code (as reported per entry by batch APIs such as PutEvents).
pub fn classify_code(code: Option<&str>, message: String) -> ServiceError {
    let is = |list: &[&str]| code.is_some_and(|c| list.contains(&c));
    if is(THROTTLING) {
        ServiceError::Throttled(message)
    } else if is(QUOTA) {
        ServiceError::QuotaExceeded(message)
    } else if is(ALREADY_EXISTS) {
        ServiceError::AlreadyExists(message)
    } else if is(CONDITION) {
        ServiceError::ConditionFailed(message)
    } else if is(NOT_FOUND) {
        ServiceError::NotFound(message)
    } else if is(INVALID) {
        ServiceError::Invalid(message)
    } else if is(TRANSIENT) {
        ServiceError::Transient(message)
    } else {
        ServiceError::Permanent(message)
    }
}

/// The whole error chain on one line (an SDK error's own message is only its outermost layer).
pub fn describe(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Is = fn(&ServiceError) -> bool;

    #[test]
    fn codes_map_to_their_class() {
        let cases: &[(&str, Is)] = &[
            ("ThrottlingException", |e| {
                matches!(e, ServiceError::Throttled(_))
            }),
            ("ProvisionedThroughputExceededException", |e| {
                matches!(e, ServiceError::Throttled(_))
            }),
            ("ResourceLimitExceeded", |e| {
                matches!(e, ServiceError::QuotaExceeded(_))
            }),
            ("ResourceInUse", |e| {
                matches!(e, ServiceError::AlreadyExists(_))
            }),
            ("ConditionalCheckFailedException", |e| {
                matches!(e, ServiceError::ConditionFailed(_))
            }),
            ("ResourceNotFound", |e| {
                matches!(e, ServiceError::NotFound(_))
            }),
            ("ValidationException", |e| {
                matches!(e, ServiceError::Invalid(_))
            }),
            ("InternalFailure", |e| {
                matches!(e, ServiceError::Transient(_))
            }),
            ("AccessDeniedException", |e| {
                matches!(e, ServiceError::Permanent(_))
            }),
        ];
        for (code, is) in cases {
            let e = classify_code(Some(code), format!("{code}: x"));
            assert!(is(&e), "{code} → {e:?}");
        }
        assert!(matches!(
            classify_code(None, "?".into()),
            ServiceError::Permanent(_)
        ));
    }
}
