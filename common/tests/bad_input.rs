//! Bad input, generated: the request and event parsers never panic, whatever they are given,
//! and every refusal names a field (a dotted path, or `(body)` for the message as a whole).

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use trainq_common::RequestError;
use trainq_common::event::{parse_event, parse_event_noting};
use trainq_common::request::{parse, validate};
use trainq_common::testing::{sample_registries, sample_request, set_path};

/// Any JSON value, a few levels deep, with the keys trainq reads among random ones.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("schema_version".to_owned()),
        Just("request_id".to_owned()),
        Just("customer".to_owned()),
        Just("resources".to_owned()),
        Just("detail".to_owned()),
        Just("TrainingJobName".to_owned()),
        Just("LastModifiedTime".to_owned()),
        Just("Tags".to_owned()),
        "[a-zA-Z_:-]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// The request paths a mutation may hit.
const REQUEST_PATHS: &[&str] = &[
    "schema_version",
    "request_id",
    "customer",
    "project",
    "registry",
    "reason",
    "image",
    "dataset",
    "dataset.version",
    "dataset.channels",
    "dataset.channels.train",
    "hyperparameters",
    "hyperparameters.lr",
    "resources",
    "resources.instance_type",
    "resources.instance_count",
    "resources.volume_gb",
    "resources.max_runtime_s",
    "resources.spot",
    "resources.max_wait_s",
    "resources.fallback_instance_types",
    "experiment",
    "experiment.id",
    "approval",
    "approval.min",
    "retry",
    "retry.max_attempts",
    "surprise",
];

/// A valid sample event, for mutations.
fn sample_event() -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker", "account": "123456789012", "time": "2026-11-23T12:00:00Z",
        "region": "eu-west-1", "resources": [],
        "detail": {
            "TrainingJobName": "tq-5b0c0f4e6a774c2a9d550a6f3c1b2e10-1",
            "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/x",
            "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training",
            "LastModifiedTime": 1_795_514_400_000_i64,
            "SecondaryStatusTransitions": [{"Status": "Training", "StartTime": "1795514400000"}],
            "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.9}],
            "Tags": [{"Key": "trainq:registry", "Value": "production"}]
        }
    })
}

const EVENT_PATHS: &[&str] = &[
    "detail",
    "detail.TrainingJobName",
    "detail.TrainingJobStatus",
    "detail.SecondaryStatus",
    "detail.LastModifiedTime",
    "detail.SecondaryStatusTransitions",
    "detail.FinalMetricDataList",
    "detail.Tags",
    "detail.BillableTimeInSeconds",
    "detail.ModelArtifacts",
    "detail-type",
    "source",
];

/// A refusal names its field and says a rule.
fn names_a_field(e: &RequestError) -> Result<(), TestCaseError> {
    prop_assert!(!e.field.is_empty(), "no field: {e:?}");
    prop_assert!(!e.rule.is_empty(), "no rule: {e:?}");
    let prefix = format!("`{}`: ", e.field);
    prop_assert!(
        e.to_string().starts_with(&prefix),
        "{} does not start with {}",
        e,
        prefix
    );
    Ok(())
}

/// Parses and validates a body as the dispatcher does; refusals must name a field.
fn check_request(body: &str) -> Result<(), TestCaseError> {
    match parse(body) {
        Err(e) => names_a_field(&e),
        Ok(request) => match validate(request, &sample_registries(), uuid::Uuid::nil()) {
            Err(e) => names_a_field(&e),
            Ok(_) => Ok(()),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_string_is_parsed_or_refused_naming_a_field(body in ".{0,300}") {
        check_request(&body)?;
    }

    #[test]
    fn any_json_is_parsed_or_refused_naming_a_field(value in any_json()) {
        check_request(&value.to_string())?;
    }

    #[test]
    fn a_valid_request_with_one_field_changed_is_accepted_or_refused_naming_it(
        path in prop::sample::select(REQUEST_PATHS),
        value in any_json(),
        remove in any::<bool>(),
    ) {
        let mut body = sample_request();
        if remove {
            let (parent, leaf) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
            let target = if parent.is_empty() { Some(&mut body) } else { body.pointer_mut(&format!("/{}", parent.replace('.', "/"))) };
            if let Some(obj) = target.and_then(Value::as_object_mut) {
                obj.remove(leaf);
            }
        } else {
            set_path(&mut body, path, value);
        }
        check_request(&body.to_string())?;
    }

    #[test]
    fn an_unknown_key_anywhere_is_refused_naming_it(
        parent in prop::sample::select(&["", "resources", "dataset", "approval"][..]),
        key in "[a-z_. ]{0,4}",
    ) {
        // Empty and dotted keys included: the fuzzer once found `{"": …}` refused under an
        // empty field name.
        let mut body = sample_request();
        let target = if parent.is_empty() { Some(&mut body) } else { body.get_mut(parent) };
        let Some(Value::Object(obj)) = target else { return Err(TestCaseError::reject("no parent")) };
        if obj.contains_key(&key) {
            return Err(TestCaseError::reject("known key"));
        }
        obj.insert(key, Value::from(1));
        let e = parse(&body.to_string()).expect_err("an unknown key is refused");
        names_a_field(&e)?;
        prop_assert!(e.rule.contains("unknown field"), "{e}");
    }

    #[test]
    fn any_event_is_parsed_or_refused_naming_a_field(value in any_json()) {
        if let Err(e) = parse_event(&value) {
            names_a_field(&e)?;
        }
    }

    #[test]
    fn a_valid_event_with_one_field_changed_is_parsed_or_refused_naming_it(
        path in prop::sample::select(EVENT_PATHS),
        value in any_json(),
    ) {
        let mut event = sample_event();
        set_path(&mut event, path, value);
        if let Err(e) = parse_event(&event) {
            names_a_field(&e)?;
        }
    }

    #[test]
    fn any_optional_field_of_any_shape_leaves_the_event_parsed(
        path in prop::sample::select(OPTIONAL_EVENT_PATHS),
        value in any_json(),
    ) {
        // AWS may send an optional field absent, null or of an unexpected type: the event
        // still counts, the field is read or left out with a note naming it.
        let mut event = sample_event();
        set_path(&mut event, path, value);
        let (change, notes) = parse_event_noting(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(change.job_name.as_str(), "tq-5b0c0f4e6a774c2a9d550a6f3c1b2e10-1");
        prop_assert_eq!(change.status.as_str(), "InProgress");
        for note in &notes {
            names_a_field(note)?;
            prop_assert!(note.field.starts_with(path), "{} is not under {}", note.field, path);
        }
    }

    #[test]
    fn whole_numbers_written_as_floats_read_as_the_integers(
        ms in 0_i64..4_102_444_800_000,
        billed in 0_u32..3_000_000,
    ) {
        let mut event = sample_event();
        event["detail"]["LastModifiedTime"] = json!(ms as f64);
        event["detail"]["BillableTimeInSeconds"] = json!(f64::from(billed));
        event["detail"]["TrainingTimeInSeconds"] = json!(format!("{billed}.0"));
        let (change, notes) = parse_event_noting(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(notes.is_empty(), "{:?}", notes);
        prop_assert_eq!(change.last_modified_ms, Some(ms));
        prop_assert_eq!((change.billable_s, change.training_s), (Some(u64::from(billed)), Some(u64::from(billed))));
    }

    #[test]
    fn iso_8601_times_read_as_the_same_epoch_milliseconds(ms in 0_i64..4_102_444_800_000) {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        let iso = t.format(&time::format_description::well_known::Rfc3339).unwrap();
        let mut event = sample_event();
        event["detail"]["LastModifiedTime"] = json!(iso);
        event["detail"]["SecondaryStatusTransitions"][0]["StartTime"] = json!(iso);
        let (change, notes) = parse_event_noting(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(notes.is_empty(), "{:?}", notes);
        prop_assert_eq!(change.last_modified_ms, Some(ms));
        prop_assert_eq!(change.transitions[0].start_ms, Some(ms));
    }
}

/// The event fields that are optional (everything but the job's name and status).
const OPTIONAL_EVENT_PATHS: &[&str] = &[
    "detail.TrainingJobArn",
    "detail.SecondaryStatus",
    "detail.FailureReason",
    "detail.LastModifiedTime",
    "detail.SecondaryStatusTransitions",
    "detail.FinalMetricDataList",
    "detail.Tags",
    "detail.BillableTimeInSeconds",
    "detail.TrainingTimeInSeconds",
    "detail.ModelArtifacts",
];

#[test]
fn the_samples_themselves_pass() {
    assert!(parse_event(&sample_event()).is_ok());
    let request = parse(&sample_request().to_string()).unwrap();
    assert!(validate(request, &sample_registries(), uuid::Uuid::nil()).is_ok());
}
