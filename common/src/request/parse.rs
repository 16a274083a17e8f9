//! Raw message bytes → [`TrainingRequest`], with errors that name the field.

use serde_json::Value;
use uuid::Uuid;

use super::{RequestError, SCHEMA_VERSION, TrainingRequest};

/// SQS's message size limit, which is also the request's.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Parses a message body. Checks, in order: size, JSON syntax, `schema_version`, then the
/// fields and their types (unknown fields are refused, so a typo cannot be silently ignored).
pub fn parse(body: &str) -> Result<TrainingRequest, RequestError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(RequestError::new(
            "(body)",
            format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(body)
        .map_err(|e| RequestError::new("(body)", format!("not valid JSON: {e}")))?;
    let Value::Object(fields) = &value else {
        return Err(RequestError::new("(body)", "must be a JSON object"));
    };
    match fields.get("schema_version") {
        None => return Err(RequestError::new("schema_version", "is required")),
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
        Some(Value::Number(n)) => {
            return Err(RequestError::new(
                "schema_version",
                format!("unsupported version {n}; this dispatcher reads version {SCHEMA_VERSION}"),
            ));
        }
        Some(_) => return Err(RequestError::new("schema_version", "must be an integer")),
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| RequestError::new(field_name(e.path()), e.into_inner().to_string()))
}

/// The dotted name of the field at `path`, `(body)` for the root. An empty key is written `""`
/// so that even `{"": …}` is refused under a visible name.
fn field_name(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut name = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => name.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(if key.is_empty() { "\"\"" } else { key });
            }
            Segment::Unknown => name.push_str(if name.is_empty() { "?" } else { ".?" }),
        }
    }
    if name.is_empty() {
        "(body)".to_owned()
    } else {
        name
    }
}

/// The `request_id` of a body that may not parse as a whole, so that even a rejected message
/// is recorded under the id its sender knows.
pub fn peek_request_id(body: &str) -> Option<Uuid> {
    if body.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let value: Value = serde_json::from_str(body).ok()?;
    value.get("request_id")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> RequestError {
        parse(body).expect_err("should be refused")
    }

    #[test]
    fn not_json_is_refused_for_the_body() {
        let e = err("hello");
        assert_eq!(e.field, "(body)");
        assert!(e.rule.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn a_json_array_is_refused() {
        assert_eq!(err("[1]").rule, "must be a JSON object");
    }

    #[test]
    fn schema_version_is_required_and_must_be_one() {
        assert_eq!(err("{}").field, "schema_version");
        let e = err(r#"{"schema_version": 2}"#);
        assert_eq!(e.field, "schema_version");
        assert!(e.rule.contains("unsupported version 2"), "{e}");
        assert_eq!(err(r#"{"schema_version": "1"}"#).rule, "must be an integer");
    }

    #[test]
    fn an_empty_key_is_refused_under_a_visible_name() {
        // Found by the fuzzer: `{"": …}` used to be refused with an empty field name.
        let e = err(r#"{"schema_version": 1, "": 1}"#);
        assert_eq!(e.field, r#""""#);
        assert!(e.rule.contains("unknown field"), "{e}");
        let e = err(r#"{"schema_version": 1, "resources": {"": 1}}"#);
        assert_eq!(e.field, r#"resources."""#);
    }

    #[test]
    fn oversize_bodies_are_refused_before_parsing() {
        let body = format!(
            r#"{{"schema_version":1,"pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        let e = err(&body);
        assert_eq!(e.field, "(body)");
        assert!(e.rule.contains("limit is 262144"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_nested_field() {
        let body = r#"{"schema_version":1,"customer":"acme","project":"p","registry":"production",
            "reason":"manual","image":"defect-classifier:1","dataset":{"version":"v","channels":{}},
            "resources":{"instance_type":"ml.m5.large","max_runtime_s":"long"}}"#;
        let e = err(body);
        assert_eq!(e.field, "resources.max_runtime_s");
        assert!(e.rule.contains("expected u32"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let body = r#"{"schema_version":1,"hyperparameter":{}}"#;
        let e = err(body);
        assert!(e.rule.contains("unknown field `hyperparameter`"), "{e}");
    }

    #[test]
    fn request_id_is_peeked_from_bodies_that_do_not_parse() {
        let id = "5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10";
        let body = format!(r#"{{"schema_version":7,"request_id":"{id}"}}"#);
        assert_eq!(peek_request_id(&body), Some(id.parse().unwrap()));
        assert_eq!(peek_request_id("nope"), None);
        assert_eq!(peek_request_id(r#"{"request_id":"not-a-uuid"}"#), None);
    }
}
