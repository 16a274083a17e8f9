//! SageMaker's wire protocol (AWS JSON 1.1): the operation from `X-Amz-Target`, JSON bodies,
//! and errors as `{"__type": …, "message": …}` with `x-amzn-ErrorType`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The operation name of a request (`SageMaker.CreateTrainingJob` → `CreateTrainingJob`).
pub(super) fn operation(headers: &HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    target.strip_prefix("SageMaker.").map(str::to_owned)
}

/// The region of the request's SigV4 credential scope; `us-east-1` if unsigned.
pub(super) fn region(headers: &HeaderMap) -> String {
    crate::contract::CredentialScope::region_of(headers)
}

/// A successful answer.
pub(super) fn ok(value: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        value.to_string(),
    )
        .into_response()
}

/// An error as SageMaker sends it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }
    pub(super) fn serialization(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        (
            self.status,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
                (
                    header::HeaderName::from_static("x-amzn-errortype"),
                    HeaderValue::from_static(self.code),
                ),
            ],
            body,
        )
            .into_response()
    }
}
