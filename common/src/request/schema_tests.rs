//! `docs/request.schema.json` must describe exactly what the Rust types accept: the same
//! properties at every level, the same required fields, closed objects where the types
//! refuse unknown fields, and the same enum values.

use serde_json::{Value, json};

use crate::request::{SCHEMA_VERSION, parse};
use crate::testing::sample_request;

fn schema() -> Value {
    let text = include_str!("../../../docs/request.schema.json");
    serde_json::from_str(text).expect("the schema is valid JSON")
}

/// A request with every optional field present, so every property shows up.
fn full_request() -> Value {
    let mut r = sample_request();
    r["resources"]["max_wait_s"] = json!(30_000);
    r["experiment"] = json!({"id": "exp-1", "trial": "t1"});
    r["retry"] = json!({"max_attempts": 3, "retry_user_failures": true});
    r["resources"]["prefer"] = json!("first_choice");
    r["priority"] = json!(2);
    r["max_queue_s"] = json!(3600);
    r["origin"] = json!({"dedupe_key": "shift-7", "signal": "drift 0.31 on camera 7"});
    r["dataset"]["digests"] = json!({"train": "sha256:abc"});
    r
}

/// The schema's object nodes with fixed properties, with their path in a request.
fn object_nodes(node: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        out.push((path.to_owned(), node.clone()));
        for (name, child) in props {
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            object_nodes(child, &child_path, out);
        }
    }
}

fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(value, |v, p| &v[p])
}

fn remove(value: &mut Value, path: &str, key: &str) {
    let mut cur = value;
    for p in path.split('.').filter(|p| !p.is_empty()) {
        cur = &mut cur[p];
    }
    cur.as_object_mut().unwrap().remove(key);
}

#[test]
fn every_level_has_the_same_properties_and_required_fields_as_the_types() {
    let full = full_request();
    // Serialising the parsed request shows the fields the types have.
    let typed = serde_json::to_value(parse(&full.to_string()).unwrap()).unwrap();
    let mut nodes = Vec::new();
    object_nodes(&schema(), "", &mut nodes);
    assert_eq!(
        nodes.len(),
        7,
        "root, dataset, resources, experiment, origin, approval, retry"
    );
    for (path, node) in nodes {
        let mut props: Vec<&String> = node["properties"].as_object().unwrap().keys().collect();
        let mut fields: Vec<&String> = at(&typed, &path).as_object().unwrap().keys().collect();
        props.sort();
        fields.sort();
        assert_eq!(props, fields, "properties of `{path}`");
        assert_eq!(
            node["additionalProperties"],
            json!(false),
            "`{path}` is closed like the type"
        );

        let mut required: Vec<String> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        required.sort();
        let mut must_have: Vec<String> = Vec::new();
        for field in fields {
            let mut body = full.clone();
            remove(&mut body, &path, field);
            let refused = parse(&body.to_string()).is_err_and(|e| {
                e.rule.contains("missing field")
                    || (field == "schema_version" && e.rule == "is required")
            });
            if refused {
                must_have.push(field.clone());
            }
        }
        must_have.sort();
        assert_eq!(required, must_have, "required fields of `{path}`");
    }
}

#[test]
fn enums_list_exactly_what_the_types_accept() {
    let schema = schema();
    for field in ["registry", "reason"] {
        let values = schema["properties"][field]["enum"].as_array().unwrap();
        for v in values {
            let mut body = full_request();
            body[field] = v.clone();
            parse(&body.to_string()).unwrap_or_else(|e| panic!("{field}={v}: {e}"));
        }
        let mut body = full_request();
        body[field] = json!("not-a-value");
        let e = parse(&body.to_string()).unwrap_err();
        let accepted = e.rule.matches('`').count() / 2 - 1; // "unknown variant `x`, expected `a`, `b`"
        assert_eq!(accepted, values.len(), "{field}: {}", e.rule);
        for v in values {
            assert!(
                e.rule.contains(v.as_str().unwrap()),
                "{field}: `{}` lacks {v}",
                e.rule
            );
        }
    }
    assert_eq!(
        schema["properties"]["schema_version"]["const"],
        json!(SCHEMA_VERSION)
    );
}

#[test]
fn the_samples_satisfy_the_schema_patterns_that_matter_to_the_backend() {
    let schema = schema();
    let slug = schema["properties"]["customer"]["pattern"]
        .as_str()
        .unwrap();
    assert_eq!(
        slug, "^[a-z0-9]+(-[a-z0-9]+)*$",
        "same rule as request::ident::check_slug"
    );
    assert_eq!(
        schema["properties"]["hyperparameters"]["maxProperties"],
        json!(100)
    );
    assert_eq!(
        schema["properties"]["hyperparameters"]["additionalProperties"]["maxLength"],
        json!(2500)
    );
}
