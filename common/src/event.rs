//! "SageMaker Training Job State Change" events as EventBridge delivers them.
//!
//! AWS has sent two shapes over the years, and both are accepted: times as epoch
//! milliseconds in numbers *or* strings, and `Tags` as a map `{}` *or* a list of
//! `{Key, Value}`. Anything else is refused with the field and the rule, never a panic.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::request::RequestError;

/// The `detail-type` of the events the watcher handles.
pub const DETAIL_TYPE: &str = "SageMaker Training Job State Change";

/// One secondary-status transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Secondary status, e.g. `Training`.
    pub status: String,
    /// Start, epoch milliseconds.
    pub start_ms: Option<i64>,
    /// End, epoch milliseconds.
    pub end_ms: Option<i64>,
    /// SageMaker's message.
    pub message: Option<String>,
}

/// What an event says about a training job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStateChange {
    /// EventBridge event id (for logs).
    pub event_id: Option<String>,
    /// The job's name.
    pub job_name: String,
    /// The job's ARN.
    pub job_arn: Option<String>,
    /// `TrainingJobStatus`: InProgress, Completed, Failed, Stopping, Stopped.
    pub status: String,
    /// `SecondaryStatus`.
    pub secondary_status: Option<String>,
    /// `FailureReason`.
    pub failure_reason: Option<String>,
    /// `SecondaryStatusTransitions`.
    pub transitions: Vec<Transition>,
    /// `LastModifiedTime`, epoch milliseconds: orders events of one job.
    pub last_modified_ms: Option<i64>,
    /// `BillableTimeInSeconds`.
    pub billable_s: Option<u64>,
    /// `TrainingTimeInSeconds`.
    pub training_s: Option<u64>,
    /// `ModelArtifacts.S3ModelArtifacts`.
    pub model_artifact: Option<String>,
    /// `FinalMetricDataList` as (name, value).
    pub final_metrics: Vec<(String, f64)>,
    /// `Tags`, whichever shape they came in.
    pub tags: BTreeMap<String, String>,
}

fn err(field: &str, rule: impl Into<String>) -> RequestError {
    RequestError::new(field, rule)
}

/// Epoch milliseconds from a number or a numeric string (integers or decimals).
fn millis(detail: &Value, key: &str) -> Result<Option<i64>, RequestError> {
    let field = format!("detail.{key}");
    match detail.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| err(&field, "must be epoch milliseconds")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| Some(f as i64))
            .ok_or_else(|| {
                err(
                    &field,
                    format!(
                        "must be epoch milliseconds (got `{}`)",
                        s.chars().take(40).collect::<String>()
                    ),
                )
            }),
        Some(_) => Err(err(
            &field,
            "must be epoch milliseconds as a number or a string",
        )),
    }
}

fn text(value: &Value, key: &str, prefix: &str) -> Result<Option<String>, RequestError> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(&format!("{prefix}{key}"), "must be a string")),
    }
}

fn seconds(detail: &Value, key: &str) -> Result<Option<u64>, RequestError> {
    match detail.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                err(
                    &format!("detail.{key}"),
                    "must be a whole number of seconds",
                )
            }),
    }
}

fn tags(detail: &Value) -> Result<BTreeMap<String, String>, RequestError> {
    match detail.get("Tags") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(err(&format!("detail.Tags.{k}"), "must be a string")),
            })
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let key = t.get("Key").and_then(Value::as_str);
                let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
                key.map(|k| (k.to_owned(), value.to_owned()))
                    .ok_or_else(|| {
                        err(
                            &format!("detail.Tags[{i}]"),
                            "must be {\"Key\": …, \"Value\": …}",
                        )
                    })
            })
            .collect(),
        Some(_) => Err(err(
            "detail.Tags",
            "must be a map or a list of {Key, Value}",
        )),
    }
}

fn transitions(detail: &Value) -> Result<Vec<Transition>, RequestError> {
    let Some(list) = detail
        .get("SecondaryStatusTransitions")
        .filter(|v| !v.is_null())
    else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| err("detail.SecondaryStatusTransitions", "must be a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let prefix = format!("detail.SecondaryStatusTransitions[{i}].");
            let status = text(t, "Status", &prefix)?
                .ok_or_else(|| err(&format!("{prefix}Status"), "is required"))?;
            Ok(Transition {
                status,
                start_ms: millis(t, "StartTime")
                    .map_err(|e| err(&format!("{prefix}StartTime"), e.rule))?,
                end_ms: millis(t, "EndTime")
                    .map_err(|e| err(&format!("{prefix}EndTime"), e.rule))?,
                message: text(t, "StatusMessage", &prefix)?,
            })
        })
        .collect()
}

fn final_metrics(detail: &Value) -> Result<Vec<(String, f64)>, RequestError> {
    let Some(list) = detail.get("FinalMetricDataList").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let name = m.get("MetricName").and_then(Value::as_str);
            let value = m.get("Value").and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            });
            match (name, value) {
                (Some(n), Some(v)) => Ok((n.to_owned(), v)),
                _ => Err(err(
                    &format!("detail.FinalMetricDataList[{i}]"),
                    "must have MetricName and a numeric Value",
                )),
            }
        })
        .collect()
}

/// Parses an EventBridge event. Errors name the field; events of other types are refused
/// with the field `detail-type`.
pub fn parse_event(event: &Value) -> Result<JobStateChange, RequestError> {
    if !event.is_object() {
        return Err(err("(event)", "must be a JSON object"));
    }
    match event.get("detail-type").and_then(Value::as_str) {
        Some(DETAIL_TYPE) => {}
        Some(other) => {
            return Err(err(
                "detail-type",
                format!("`{other}` is not `{DETAIL_TYPE}`"),
            ));
        }
        None => return Err(err("detail-type", "is required")),
    }
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| err("detail", "must be an object"))?;
    let required = |key: &str| -> Result<String, RequestError> {
        text(detail, key, "detail.")?.ok_or_else(|| err(&format!("detail.{key}"), "is required"))
    };
    Ok(JobStateChange {
        event_id: event.get("id").and_then(Value::as_str).map(str::to_owned),
        job_name: required("TrainingJobName")?,
        job_arn: text(detail, "TrainingJobArn", "detail.")?,
        status: required("TrainingJobStatus")?,
        secondary_status: text(detail, "SecondaryStatus", "detail.")?,
        failure_reason: text(detail, "FailureReason", "detail.")?,
        transitions: transitions(detail)?,
        last_modified_ms: millis(detail, "LastModifiedTime")?,
        billable_s: seconds(detail, "BillableTimeInSeconds")?,
        training_s: seconds(detail, "TrainingTimeInSeconds")?,
        model_artifact: detail
            .pointer("/ModelArtifacts/S3ModelArtifacts")
            .and_then(Value::as_str)
            .map(str::to_owned),
        final_metrics: final_metrics(detail)?,
        tags: tags(detail)?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(detail: Value) -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": DETAIL_TYPE, "source": "aws.sagemaker",
            "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:sagemaker:eu-west-1:123456789012:training-job/tq-x-1"],
            "detail": detail
        })
    }

    #[test]
    fn the_numeric_shape_with_list_tags_parses() {
        let e = parse_event(&event(json!({
            "TrainingJobName": "tq-x-1", "TrainingJobArn": "arn:x", "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed", "LastModifiedTime": 1795000000123_i64,
            "BillableTimeInSeconds": 120, "TrainingTimeInSeconds": 400,
            "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m/model.tar.gz"},
            "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.97, "Timestamp": 1795000000000_i64}],
            "SecondaryStatusTransitions": [{"Status": "Training", "StartTime": 1795000000000_i64, "EndTime": 1795000000100_i64, "StatusMessage": "Training image download completed."}],
            "Tags": [{"Key": "trainq:attempt", "Value": "1"}]
        })))
        .unwrap();
        assert_eq!(e.last_modified_ms, Some(1_795_000_000_123));
        assert_eq!((e.billable_s, e.training_s), (Some(120), Some(400)));
        assert_eq!(e.final_metrics, [("validation:accuracy".to_owned(), 0.97)]);
        assert_eq!(e.transitions[0].end_ms, Some(1_795_000_000_100));
        assert_eq!(e.tags.get("trainq:attempt").map(String::as_str), Some("1"));
        assert_eq!(e.model_artifact.as_deref(), Some("s3://b/m/model.tar.gz"));
    }

    #[test]
    fn the_string_shape_with_map_tags_parses() {
        let e = parse_event(&event(json!({
            "TrainingJobName": "tq-x-1", "TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting",
            "LastModifiedTime": "1795000000123", "CreationTime": "1795000000000",
            "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": "1795000000000.0"}],
            "Tags": {}
        })))
        .unwrap();
        assert_eq!(e.last_modified_ms, Some(1_795_000_000_123));
        assert_eq!(e.transitions[0].start_ms, Some(1_795_000_000_000));
        assert!(e.tags.is_empty());
        assert_eq!(e.event_id.as_deref(), Some("e-1"));
    }

    #[test]
    fn bad_events_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "(event)"),
            (json!({"detail-type": "Other"}), "detail-type"),
            (json!({"detail-type": DETAIL_TYPE, "detail": 3}), "detail"),
            (
                event(json!({"TrainingJobStatus": "Failed"})),
                "detail.TrainingJobName",
            ),
            (
                event(json!({"TrainingJobName": "j", "TrainingJobStatus": 5})),
                "detail.TrainingJobStatus",
            ),
            (
                event(
                    json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed", "LastModifiedTime": "yesterday"}),
                ),
                "detail.LastModifiedTime",
            ),
            (
                event(json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed", "Tags": 7})),
                "detail.Tags",
            ),
            (
                event(
                    json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed", "Tags": [{"Value": "v"}]}),
                ),
                "detail.Tags[0]",
            ),
            (
                event(
                    json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed", "SecondaryStatusTransitions": [{"StartTime": 1}]}),
                ),
                "detail.SecondaryStatusTransitions[0].Status",
            ),
            (
                event(
                    json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed", "FinalMetricDataList": [{"MetricName": "m"}]}),
                ),
                "detail.FinalMetricDataList[0]",
            ),
            (
                event(
                    json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed", "BillableTimeInSeconds": -1}),
                ),
                "detail.BillableTimeInSeconds",
            ),
        ];
        for (e, field) in cases {
            assert_eq!(parse_event(&e).unwrap_err().field, field, "{e}");
        }
    }
}
