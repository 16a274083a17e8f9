//! The on-call dashboard in the template names only metrics that exist: trainq's own as the
//! functions emit them (name and dimensions, `trainq_common::metrics`), AWS's as AWS publishes
//! them for the resources the template creates; and it deploys into the local stack.

use std::collections::BTreeSet;

use serde_json::Value;
use trainq_common::metrics::{FUNCTIONS, Metric, NAMESPACE, RETRY_CAUSES};
use trainq_integration_tests::stacks::{deploy_local, template};
use trainq_integration_tests::world::World;

/// The dashboard's body as the template writes it, for stack prefix `trainq` in eu-west-1.
fn body() -> Value {
    let text = template();
    let mut lines = text.lines();
    lines
        .find(|l| l.trim() == "DashboardBody: !Sub |")
        .expect("the template has a dashboard");
    let json = lines
        .next()
        .unwrap()
        .trim()
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${StackPrefix}", "trainq");
    assert!(!json.contains("${"), "an unknown substitution: {json}");
    serde_json::from_str(&json).unwrap()
}

/// Names given in the template as `<key>: !Sub "${StackPrefix}-<name>"`, with the prefix.
fn named(key: &str) -> BTreeSet<String> {
    template()
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}: !Sub \"${{StackPrefix}}-"))
        })
        .map(|rest| format!("trainq-{}", rest.trim_end_matches('"')))
        .collect()
}

/// One metric a widget draws: namespace, name, dimensions (name, value; value `None` when a
/// SEARCH matches any).
#[derive(Debug)]
struct Drawn {
    namespace: String,
    name: String,
    dimensions: Vec<(String, Option<String>)>,
}

/// The metrics of a widget's `metrics` entry: `[namespace, name, dim, value, …]` or a SEARCH
/// expression `{namespace,dim} MetricName="name"`.
fn drawn(entry: &Value) -> Drawn {
    let items = entry.as_array().unwrap();
    if let Some(expression) = items[0].get("expression").and_then(Value::as_str) {
        let schema = expression
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .unwrap()
            .0;
        let mut parts = schema.split(',');
        let namespace = parts.next().unwrap().to_owned();
        let name = expression
            .split_once("MetricName=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .unwrap()
            .0
            .to_owned();
        return Drawn {
            namespace,
            name,
            dimensions: parts.map(|d| (d.to_owned(), None)).collect(),
        };
    }
    let text: Vec<String> = items
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    Drawn {
        namespace: text[0].clone(),
        name: text[1].clone(),
        dimensions: text[2..]
            .chunks(2)
            .map(|kv| (kv[0].clone(), Some(kv[1].clone())))
            .collect(),
    }
}

#[test]
fn every_metric_the_dashboard_draws_is_one_that_exists() {
    let queues = named("QueueName");
    let functions = named("FunctionName");
    let widgets = body()["widgets"].as_array().unwrap().clone();
    assert!(widgets.len() >= 10, "{widgets:?}");
    let mut seen = BTreeSet::new();
    for widget in &widgets {
        let title = widget["properties"]["title"].as_str().unwrap();
        for entry in widget["properties"]["metrics"].as_array().unwrap() {
            let m = drawn(entry);
            let dims: Vec<&str> = m.dimensions.iter().map(|(d, _)| d.as_str()).collect();
            let value = |dim: &str| {
                m.dimensions
                    .iter()
                    .find(|(d, _)| d == dim)
                    .and_then(|(_, v)| v.clone())
            };
            match m.namespace.as_str() {
                NAMESPACE => {
                    let emitted = Metric::ALL
                        .iter()
                        .find(|e| e.name_and_unit().0 == m.name && e.dimensions() == dims);
                    assert!(
                        emitted.is_some(),
                        "`{title}`: trainq emits no `{}` with dimensions {dims:?}",
                        m.name
                    );
                    if let Some(r) = value("Registry") {
                        assert!(["production", "research"].contains(&r.as_str()), "{r}");
                    }
                    if let Some(c) = value("Cause") {
                        assert!(RETRY_CAUSES.contains(&c.as_str()), "`{title}`: cause {c}");
                    }
                    if let Some(f) = value("Function") {
                        assert!(FUNCTIONS.contains(&f.as_str()), "`{title}`: function {f}");
                    }
                    seen.insert(m.name.clone());
                }
                "AWS/SQS" => {
                    assert!(
                        [
                            "ApproximateAgeOfOldestMessage",
                            "ApproximateNumberOfMessagesVisible"
                        ]
                        .contains(&m.name.as_str()),
                        "{m:?}"
                    );
                    assert_eq!(dims, ["QueueName"], "{m:?}");
                    let queue = value("QueueName").unwrap();
                    assert!(
                        queues.contains(&queue),
                        "`{title}`: no queue {queue} in {queues:?}"
                    );
                }
                "AWS/Lambda" => {
                    assert!(
                        ["Errors", "Duration", "Invocations", "Throttles"]
                            .contains(&m.name.as_str()),
                        "{m:?}"
                    );
                    assert_eq!(dims, ["FunctionName"], "{m:?}");
                    let function = value("FunctionName").unwrap();
                    assert!(
                        functions.contains(&function),
                        "`{title}`: no function {function}"
                    );
                }
                other => panic!("`{title}`: a namespace nothing publishes here: {other}"),
            }
        }
    }
    // What the issue asks the dashboard to show, by the metrics that show it.
    for name in [
        "Received",
        "Launched",
        "Queued",
        "Rejected",
        "Completed",
        "Failed",
        "Registered",
        "Retried",
        "SpotSavingsPercent",
        "PoolInUse",
        "PoolLimit",
        "ColdStart",
        "Alerts",
    ] {
        assert!(seen.contains(name), "the dashboard does not draw `{name}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_deploys_into_the_local_stack() {
    let w = World::new().await;
    let (prefix, outputs) = deploy_local(&w, &template()).await;
    assert_eq!(outputs["DashboardName"], format!("{prefix}-on-call"));
}
