//! How AWS answers a call that breaks its contract, per protocol: JSON (`__type`, `message`,
//! `x-amzn-errortype`, and SQS's `x-amzn-query-error`) or the query protocol's XML
//! `<ErrorResponse>`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::models::ServiceModel;
use super::{query, shapes};

/// The answer AWS gives to a request that breaks its contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// HTTP status (400).
    pub status: StatusCode,
    /// AWS's error code.
    pub code: String,
    /// AWS's message.
    pub message: String,
    /// How the protocol writes the answer.
    pub(super) format: Format,
}

/// The shape of an error answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Format {
    /// JSON protocols: `{"__type": …, "message": …}`.
    Json {
        /// `application/x-amz-json-1.0` or `-1.1`.
        content_type: &'static str,
        /// SQS answers in the query protocol's error codes too (`x-amzn-query-error`).
        query_compatible: bool,
    },
    /// The query protocol: `<ErrorResponse>` in the service's namespace.
    Xml {
        /// The service's XML namespace.
        namespace: String,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        let body = match &self.format {
            Format::Json {
                content_type,
                query_compatible,
            } => {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                if let Ok(v) = HeaderValue::from_str(&self.code) {
                    headers.insert("x-amzn-errortype", v);
                }
                if *query_compatible
                    && let Ok(v) = HeaderValue::from_str(&format!("{};Sender", self.code))
                {
                    headers.insert("x-amzn-query-error", v);
                }
                json!({"__type": self.code, "message": self.message}).to_string()
            }
            Format::Xml { namespace } => {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
                query::error_xml(namespace, &self.code, &self.message)
            }
        };
        (self.status, headers, body).into_response()
    }
}

/// AWS's answer to the model's violations: `N validation error(s) detected: …; …`, or a
/// `SerializationException` for a value of the wrong type.
pub(super) fn violations_refusal(
    model: &ServiceModel,
    violations: &[shapes::Violation],
) -> Option<Refusal> {
    let (serialization, message) = violations_message(violations)?;
    let code = if serialization {
        "SerializationException"
    } else {
        "ValidationException"
    };
    Some(json_refusal(
        Some(model),
        StatusCode::BAD_REQUEST,
        code,
        message,
    ))
}

/// The message of the violations (and whether it is a type mismatch), if there are any.
pub(super) fn violations_message(violations: &[shapes::Violation]) -> Option<(bool, String)> {
    if let Some(v) = violations.iter().find(|v| v.serialization) {
        return Some((true, v.constraint.clone()));
    }
    if violations.is_empty() {
        return None;
    }
    let n = violations.len();
    let messages: Vec<String> = violations.iter().map(shapes::Violation::message).collect();
    let message = format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        messages.join("; ")
    );
    Some((false, message))
}

/// AWS's answer to a call its caller's policies do not allow.
pub(super) fn access_denied(model: &ServiceModel, message: String) -> Refusal {
    if model.protocol == "query" {
        let mut r = xml_refusal(model, "AccessDenied", message);
        r.status = StatusCode::FORBIDDEN;
        return r;
    }
    // SQS's JSON protocol keeps its query-protocol code.
    let code = if model.query_compatible {
        "AccessDenied"
    } else {
        "AccessDeniedException"
    };
    let status = if model.query_compatible {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    json_refusal(Some(model), status, code, message)
}

/// The query protocol's answer (CloudFormation, IAM, STS).
pub(super) fn xml_refusal(
    model: &ServiceModel,
    code: impl Into<String>,
    message: String,
) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: code.into(),
        message,
        format: Format::Xml {
            namespace: model.xml_namespace.clone().unwrap_or_default(),
        },
    }
}

pub(super) fn json_refusal(
    model: Option<&ServiceModel>,
    status: StatusCode,
    code: impl Into<String>,
    message: String,
) -> Refusal {
    let content_type = match model.and_then(|m| m.json_version.as_deref()) {
        Some("1.0") => "application/x-amz-json-1.0",
        _ => "application/x-amz-json-1.1",
    };
    Refusal {
        status,
        code: code.into(),
        message,
        format: Format::Json {
            content_type,
            query_compatible: model.is_some_and(|m| m.query_compatible),
        },
    }
}
