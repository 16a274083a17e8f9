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
    /// `CreationTime`, epoch milliseconds: when SageMaker created the job (the attempt's
    /// launch, by SageMaker's clock).
    pub created_ms: Option<i64>,
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

/// Collects the optional fields that could not be read. AWS may send whole numbers as
/// floats, times as ISO-8601 strings, and fields absent, null or of another type than
/// documented: an optional field that cannot be read is treated as absent and noted (the
/// watcher logs the notes), never a reason to drop the event. Only the job's name and
/// status are required.
#[derive(Default)]
struct Notes(Vec<RequestError>);

impl Notes {
    /// The items of the optional list `detail.<key>` (none, and a note, when it is not a list).
    fn list<'a>(&mut self, detail: &'a Value, key: &str) -> &'a [Value] {
        match detail.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(list)) => list,
            Some(_) => {
                self.0.push(err(&format!("detail.{key}"), "must be a list"));
                &[]
            }
        }
    }

    /// `value`, or `None` with a note naming the field.
    fn keep<T>(&mut self, field: &str, value: Result<Option<T>, String>) -> Option<T> {
        value.unwrap_or_else(|rule| {
            self.0.push(err(field, rule));
            None
        })
    }
}

/// Epoch milliseconds from a number (whole or not), a numeric string, or an ISO-8601 time.
fn millis(value: Option<&Value>) -> Result<Option<i64>, String> {
    let from_f64 = |f: f64| f.is_finite().then_some(f as i64);
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().and_then(from_f64))
            .map(Some)
            .ok_or_else(|| "must be epoch milliseconds".to_owned()),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<f64>()
                .ok()
                .and_then(from_f64)
                .or_else(|| iso8601_millis(s))
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "must be epoch milliseconds or an ISO-8601 time (got `{}`)",
                        s.chars().take(40).collect::<String>()
                    )
                })
        }
        Some(_) => Err("must be epoch milliseconds as a number or a string".to_owned()),
    }
}

/// `2020-06-17T16:39:52.203Z`, `…+00:00`, `…+0000`: epoch milliseconds.
fn iso8601_millis(s: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let t = time::OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn text(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err("must be a string".to_owned()),
    }
}

/// Whole seconds from an integer, a whole float (`120.0`) or a numeric string.
fn seconds(value: Option<&Value>) -> Result<Option<u64>, String> {
    let whole = |f: f64| (f.is_finite() && f >= 0.0 && f.fract() == 0.0).then_some(f as u64);
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().and_then(whole))
            .or_else(|| {
                v.as_str()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .and_then(whole)
            })
            .map(Some)
            .ok_or_else(|| "must be a whole number of seconds".to_owned()),
    }
}

/// A number from a JSON number or a numeric string.
fn number(value: Option<&Value>) -> Option<f64> {
    let v = value?;
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn tags(detail: &Value, notes: &mut Notes) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match detail.get("Tags") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let field = format!("detail.Tags.{k}");
                if let Some(v) = notes.keep(&field, text(Some(v))) {
                    out.insert(k.clone(), v);
                }
            }
        }
        Some(Value::Array(list)) => {
            for (i, t) in list.iter().enumerate() {
                let key = t.get("Key").and_then(Value::as_str);
                let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
                match key {
                    Some(k) => {
                        out.insert(k.to_owned(), value.to_owned());
                    }
                    None => notes.0.push(err(
                        &format!("detail.Tags[{i}]"),
                        "must be {\"Key\": …, \"Value\": …}",
                    )),
                }
            }
        }
        Some(_) => notes.0.push(err(
            "detail.Tags",
            "must be a map or a list of {Key, Value}",
        )),
    }
    out
}

fn transitions(detail: &Value, notes: &mut Notes) -> Vec<Transition> {
    let list = notes.list(detail, "SecondaryStatusTransitions");
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let prefix = format!("detail.SecondaryStatusTransitions[{i}].");
        let field = |k: &str| format!("{prefix}{k}");
        let Some(status) = notes.keep(&field("Status"), text(t.get("Status"))) else {
            notes.0.push(err(
                &field("Status"),
                "is required; the transition is skipped",
            ));
            continue;
        };
        out.push(Transition {
            status,
            start_ms: notes.keep(&field("StartTime"), millis(t.get("StartTime"))),
            end_ms: notes.keep(&field("EndTime"), millis(t.get("EndTime"))),
            message: notes.keep(&field("StatusMessage"), text(t.get("StatusMessage"))),
        });
    }
    out
}

fn final_metrics(detail: &Value, notes: &mut Notes) -> Vec<(String, f64)> {
    let list = notes.list(detail, "FinalMetricDataList");
    let mut out = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let name = m.get("MetricName").and_then(Value::as_str);
        match (name, number(m.get("Value"))) {
            (Some(n), Some(v)) => out.push((n.to_owned(), v)),
            _ => notes.0.push(err(
                &format!("detail.FinalMetricDataList[{i}]"),
                "must have MetricName and a numeric Value; the metric is skipped",
            )),
        }
    }
    out
}

/// Parses an EventBridge event. Errors name the field; events of other types are refused
/// with the field `detail-type`. Optional fields that cannot be read are left out (see
/// [`parse_event_noting`] for what was left out).
pub fn parse_event(event: &Value) -> Result<JobStateChange, RequestError> {
    parse_event_noting(event).map(|(change, _)| change)
}

/// [`parse_event`], and the optional fields it left out because they could not be read, each
/// with its field and rule (for the log).
pub fn parse_event_noting(
    event: &Value,
) -> Result<(JobStateChange, Vec<RequestError>), RequestError> {
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
        let field = format!("detail.{key}");
        text(detail.get(key))
            .map_err(|rule| err(&field, rule))?
            .ok_or_else(|| err(&field, "is required"))
    };
    let (job_name, status) = (required("TrainingJobName")?, required("TrainingJobStatus")?);
    let mut notes = Notes::default();
    let mut optional_text = |key: &str| notes.keep(&format!("detail.{key}"), text(detail.get(key)));
    let job_arn = optional_text("TrainingJobArn");
    let secondary_status = optional_text("SecondaryStatus");
    let failure_reason = optional_text("FailureReason");
    let model_artifact = notes.keep(
        "detail.ModelArtifacts.S3ModelArtifacts",
        text(detail.pointer("/ModelArtifacts/S3ModelArtifacts")),
    );
    let change = JobStateChange {
        event_id: event.get("id").and_then(Value::as_str).map(str::to_owned),
        job_name,
        job_arn,
        status,
        secondary_status,
        failure_reason,
        transitions: transitions(detail, &mut notes),
        last_modified_ms: notes.keep(
            "detail.LastModifiedTime",
            millis(detail.get("LastModifiedTime")),
        ),
        created_ms: notes.keep("detail.CreationTime", millis(detail.get("CreationTime"))),
        billable_s: notes.keep(
            "detail.BillableTimeInSeconds",
            seconds(detail.get("BillableTimeInSeconds")),
        ),
        training_s: notes.keep(
            "detail.TrainingTimeInSeconds",
            seconds(detail.get("TrainingTimeInSeconds")),
        ),
        model_artifact,
        final_metrics: final_metrics(detail, &mut notes),
        tags: tags(detail, &mut notes),
    };
    Ok((change, notes.0))
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
        ];
        for (e, field) in cases {
            assert_eq!(parse_event(&e).unwrap_err().field, field, "{e}");
        }
    }

    #[test]
    fn unreadable_optional_fields_are_left_out_and_noted_never_fatal() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"LastModifiedTime": "yesterday"}),
                "detail.LastModifiedTime",
            ),
            (json!({"Tags": 7}), "detail.Tags"),
            (json!({"Tags": [{"Value": "v"}]}), "detail.Tags[0]"),
            (
                json!({"SecondaryStatusTransitions": [{"StartTime": 1}]}),
                "detail.SecondaryStatusTransitions[0].Status",
            ),
            (
                json!({"FinalMetricDataList": [{"MetricName": "m"}]}),
                "detail.FinalMetricDataList[0]",
            ),
            (
                json!({"BillableTimeInSeconds": -1}),
                "detail.BillableTimeInSeconds",
            ),
            (
                json!({"BillableTimeInSeconds": 1.5}),
                "detail.BillableTimeInSeconds",
            ),
            (json!({"FailureReason": {"x": 1}}), "detail.FailureReason"),
            (
                json!({"ModelArtifacts": {"S3ModelArtifacts": 3}}),
                "detail.ModelArtifacts.S3ModelArtifacts",
            ),
        ];
        for (extra, field) in cases {
            let mut detail = json!({"TrainingJobName": "j", "TrainingJobStatus": "Failed"});
            for (k, v) in extra.as_object().unwrap() {
                detail[k] = v.clone();
            }
            let (change, notes) = parse_event_noting(&event(detail)).expect("still parsed");
            assert_eq!(
                (change.job_name.as_str(), change.status.as_str()),
                ("j", "Failed")
            );
            assert!(notes.iter().any(|n| n.field == field), "{field}: {notes:?}");
        }
    }

    #[test]
    fn whole_floats_and_iso_times_read_as_aws_means_them() {
        let (e, notes) = parse_event_noting(&event(json!({
            "TrainingJobName": "j", "TrainingJobStatus": "Completed",
            "LastModifiedTime": 1592411992203.0, "BillableTimeInSeconds": 120.0,
            "TrainingTimeInSeconds": "400.0",
            "SecondaryStatusTransitions": [
                {"Status": "Training", "StartTime": "2020-06-17T16:39:52.203Z", "EndTime": "2020-06-17T16:39:53.203+00:00"}
            ]
        })))
        .unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(e.last_modified_ms, Some(1_592_411_992_203));
        assert_eq!((e.billable_s, e.training_s), (Some(120), Some(400)));
        assert_eq!(e.transitions[0].start_ms, Some(1_592_411_992_203));
        assert_eq!(e.transitions[0].end_ms, Some(1_592_411_993_203));
    }
}
