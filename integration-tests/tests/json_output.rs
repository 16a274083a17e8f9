//! Every command's `--json` output against its published schema (`docs/json/`), with every
//! object the schema describes closed: a field printed and not documented fails, as does a
//! documented field of the wrong type. The stack is set up so each document has content to
//! check: a running and a queued request, registered, failed, cancelled and rejected ones, a
//! sweep, dead letters and a model package.

use serde_json::{Value, json};
use trainq_integration_tests::cli_stack::{FLAGS, Stack, stderr};
use trainq_integration_tests::json_schema;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

/// The sample request's flags on `instance_type` (the stack's one g5 slot is taken), with
/// `extra` flags.
fn flags_on<'a>(instance_type: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut flags: Vec<&str> = FLAGS.to_vec();
    let at = flags.iter().position(|f| *f == "--instance-type").unwrap();
    flags[at + 1] = instance_type;
    flags.extend_from_slice(extra);
    flags
}

/// The documents gathered, each with the schema it must follow.
struct Documents<'s> {
    stack: &'s Stack,
    checked: Vec<(String, Value)>,
}

impl Documents<'_> {
    /// Runs `trainq --json args…` (it must succeed), keeps its document for `schema`, and
    /// returns it.
    fn run(&mut self, schema: &str, args: &[&str]) -> Value {
        let out = self.stack.trainq(&[args, &["--json"]].concat());
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON document: {e}"));
        self.checked
            .push((format!("docs/json/{schema}.schema.json"), doc.clone()));
        doc
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_commands_json_follows_its_published_schema() {
    let (s, running, queued) = Stack::running_and_queued(TRAINER).await;
    let mut d = Documents {
        stack: &s,
        checked: Vec::new(),
    };

    // The waiting room and the live view while one request runs and one waits.
    let waiting = d.run("queue", &["queue"]);
    assert_eq!(waiting["waiting"][0]["request_id"], json!(queued));
    let top = d.run("top", &["top"]);
    assert!(
        top["running"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["request_id"] == json!(running)),
        "{top}"
    );
    d.run("status", &["status"]);

    // Requests on g4dn, which has room: checked, sent, followed to their end.
    let g4dn = flags_on("ml.g4dn.xlarge", &[]);
    d.run("submit", &[&["submit", "--dry-run"][..], &g4dn].concat());
    d.run("submit", &[&["submit"][..], &g4dn].concat());
    let record = d.run(
        "record",
        &[&["submit", "--wait", "--timeout", "120s"][..], &g4dn].concat(),
    );
    assert_eq!(record["state"], json!("Registered"), "{record}");
    let id = record["request_id"].as_str().unwrap().to_owned();
    let arn = record["model_package_arn"].as_str().unwrap().to_owned();
    let example =
        trainq_integration_tests::local_stack::workspace().join("docs/examples/request.json");
    d.run("validate", &["validate", example.to_str().unwrap()]);

    // A failed request, retried by hand; the queued one cancelled.
    let failing = flags_on("ml.g4dn.xlarge", &["--hp", "epochs=not-a-number"]);
    let out = s.trainq(&[&["submit"][..], &failing].concat());
    let failed = trainq_integration_tests::cli_stack::stdout(&out)
        .trim()
        .to_owned();
    s.wait_state(&failed, "Failed").await;
    d.run("record", &["jobs", "show", &failed]);
    d.run("jobs-retry", &["jobs", "retry", &failed]);
    d.run("jobs-cancel", &["jobs", "cancel", &queued]);

    // A rejected request keeps its raw body.
    let rejected = uuid::Uuid::new_v4().to_string();
    s.send_raw(&json!({"schema_version": 1, "request_id": rejected, "customer": "ACME"}))
        .await;
    s.wait_state(&rejected, "Rejected").await;
    let shown = d.run("record", &["jobs", "show", &rejected]);
    assert!(shown["raw_body"].is_string(), "{shown}");

    // A sweep of two trials, followed to their end and ranked.
    let sweep = s.write(
        "sweep.json",
        &json!({"experiment": "json-sweep", "grid": {"lr": ["0.05", "0.1"]},
            "base": {"schema_version": 1, "customer": "acme", "project": "scratch-detect",
                "registry": "production", "image": "defect-classifier:1.4.2",
                "dataset": {"version": "v1", "channels": {
                    "train": "s3://trainq-prod-data/acme/cli/train/",
                    "validation": "s3://trainq-prod-data/acme/cli/val/"}},
                "hyperparameters": {"epochs": "2"},
                "resources": {"instance_type": "ml.g4dn.xlarge", "max_runtime_s": 600}}}),
    );
    let trials = d.run("sweep-submit", &["sweep", "submit", &sweep]);
    for t in trials["trials"].as_array().unwrap() {
        s.wait_state(t["request_id"].as_str().unwrap(), "Registered")
            .await;
    }
    d.run("sweep-status", &["sweep", "status", "json-sweep"]);

    // Dead letters: a request to send back, and a body that is none.
    let dlq = s.devstack.stack().requests_dlq_url.clone();
    let mut again = record["request"].clone();
    again["request_id"] = json!(uuid::Uuid::new_v4().to_string());
    s.send_as("devstack", &dlq, &again).await;
    s.send_as("devstack", &dlq, &json!("not a request")).await;
    let listed = d.run("dlq-list", &["dlq", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    d.run("dlq-redrive", &["dlq", "redrive", "--dry-run"]);
    let moved = d.run("dlq-redrive", &["dlq", "redrive"]);
    assert_eq!(moved["kept"].as_array().unwrap().len(), 1, "{moved}");

    // The rest, over what is there now.
    let rows = d.run("jobs-list", &["jobs", "list"]);
    assert!(rows.as_array().unwrap().len() >= 7, "{rows}");
    d.run("models-list", &["models", "list"]);
    d.run("models-decide", &["models", "approve", &arn]);
    d.run("costs", &["costs"]);
    d.run("lineage", &["lineage", &id]);
    d.run("reindex", &["reindex"]);
    d.run("top", &["top"]);
    d.run("status", &["status"]);

    let cases: Vec<(&str, &Value)> = d
        .checked
        .iter()
        .map(|(schema, doc)| (schema.as_str(), doc))
        .collect();
    let errors = json_schema::errors(&cases, true);
    let failures: Vec<String> = errors
        .iter()
        .zip(&cases)
        .filter(|(e, _)| !e.is_empty())
        .map(|(e, (schema, doc))| format!("{schema}:\n  {}\n  in {doc}", e.join("\n  ")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every schema but the sweep file's and the request's was exercised.
    let used: std::collections::BTreeSet<&str> = cases.iter().map(|(s, _)| *s).collect();
    assert_eq!(used.len(), 18, "{used:?}");
}
