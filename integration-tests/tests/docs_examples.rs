//! The docs' examples as a new user runs them against a local stack: the README's own-data
//! block (shell, as written), the sample request file, and `trainq validate` on what the JSON
//! Schema cannot see.

use serde_json::{Value, json};
use trainq_integration_tests::cli_stack::{Stack, stderr, stdout};
use trainq_integration_tests::json_schema;
use trainq_integration_tests::local_stack::workspace;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

/// The first ```` ```sh ```` block after `heading` in the doc at `path`.
fn sh_block_after(path: &str, heading: &str) -> String {
    let text = std::fs::read_to_string(workspace().join(path)).unwrap();
    let (_, after) = text.split_once(heading).expect("the heading");
    let (_, block) = after.split_once("```sh\n").expect("a sh block");
    block.split("```").next().unwrap().to_owned()
}

/// Runs the first sh block after `heading` in the doc at `path` with bash, from the repository
/// root, against `s` (as `TRAINQ_CONFIG`); it must succeed.
fn run_doc_block(s: &Stack, path: &str, heading: &str) -> std::process::Output {
    let block = sh_block_after(path, heading);
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &block])
        .current_dir(workspace())
        .env("TRAINQ_CONFIG", &s.file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{block}: {}", stderr(&out));
    out
}

#[test]
fn the_readme_sample_request_is_the_example_file() {
    let text = readme();
    let sample = text
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let sample: Value = serde_json::from_str(sample).unwrap();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("docs/examples/request.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sample, file);
}

fn example(name: &str) -> Value {
    let path = workspace().join("docs/examples").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The README's JSON block that follows `heading`.
fn json_block_after(heading: &str) -> Value {
    let text = readme();
    let (_, after) = text.split_once(heading).expect("the heading");
    let (_, block) = after.split_once("```json\n").expect("a json block");
    serde_json::from_str(block.split("```").next().unwrap()).unwrap()
}

#[test]
fn the_example_files_conform_to_their_schemas_and_the_readme_shows_them() {
    let sweep = example("sweep.json");
    assert_eq!(
        json_block_after("### Research sweeps: the sweep file"),
        sweep
    );
    json_schema::assert_conforms("docs/request.schema.json", &example("request.json"));
    json_schema::assert_conforms("docs/request.schema.json", &example("shift-request.json"));
    json_schema::assert_conforms("docs/sweep.schema.json", &sweep);
    // The schema refuses what the CLI refuses: both or neither of grid and trials, an
    // unknown field, a value that is no string.
    let mut both = sweep.clone();
    both["trials"] = json!([{"lr": "0.3"}]);
    let mut neither = sweep.clone();
    neither.as_object_mut().unwrap().remove("grid");
    let mut unknown = sweep.clone();
    unknown["grids"] = json!({});
    let mut number = sweep.clone();
    number["grid"]["lr"] = json!([0.01]);
    let cases: Vec<(&str, &Value)> = [&both, &neither, &unknown, &number]
        .into_iter()
        .map(|v| ("docs/sweep.schema.json", v))
        .collect();
    for (errors, (_, doc)) in json_schema::errors(&cases, false).iter().zip(&cases) {
        assert!(!errors.is_empty(), "the schema accepted {doc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_own_data_block_runs_as_written() {
    let s = Stack::start(TRAINER, |_| {}).await;
    let block = sh_block_after(
        "README.md",
        "### Your own data and requests on the local stack",
    );
    let eval = "eval \"$(target/debug/trainq-devstack env)\"\n";
    assert!(block.starts_with(eval), "{block}");
    // The test's own stack stands in for the one `trainq-devstack env` would describe.
    let env = trainq_devstack::control::env_exports(s.devstack.stack(), &s.file);
    let script = s.dir.join("own-data.sh");
    std::fs::write(&script, format!("{env}{}", &block[eval.len()..])).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg(&script)
        .current_dir(workspace())
        .env_remove("TRAINQ_CONFIG")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}\n{}\n{block}",
        stdout(&out),
        stderr(&out)
    );
    let lines = stdout(&out);
    assert!(lines.contains("valid"), "validate said so: {lines}");
    assert!(
        lines.contains("5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10 Registered"),
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_what_the_schema_cannot() {
    let s = Stack::start(TRAINER, |_| {}).await;
    let example = workspace().join("docs/examples/request.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    // Each passes the JSON Schema; each breaks a rule of the deployment.
    let mut other_bucket = sample.clone();
    other_bucket["dataset"]["channels"]["train"] = json!("s3://trainq-research-data/acme/train/");
    let mut other_customer = sample.clone();
    other_customer["dataset"]["channels"]["train"] = json!("s3://trainq-prod-data/globex/train/");
    let mut unlisted_image = sample.clone();
    unlisted_image["image"] = json!("not-on-the-list:1.0");
    let mut full_uri = sample.clone();
    full_uri["image"] =
        json!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1.4.2");
    let mut unknown_metric = sample.clone();
    unknown_metric["approval"]["metric"] = json!("validation:f1");
    let many: String = [
        &sample,
        &other_bucket,
        &other_customer,
        &unlisted_image,
        &full_uri,
        &unknown_metric,
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect();
    let file = s.dir.join("many.ndjson");
    std::fs::write(&file, many).unwrap();
    let out = s.trainq(&["validate", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("5 of 6"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sender_checked"], json!(false));
    let fields: Vec<&str> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        fields,
        [
            "-",
            "dataset.channels.train",
            "dataset.channels.train",
            "image",
            "image",
            "approval.metric"
        ]
    );
    assert_eq!(
        report["requests"][0]["request_id"],
        json!("5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10")
    );
    assert!(
        report["requests"][1]["rule"]
            .as_str()
            .unwrap()
            .contains("allowed: trainq-prod-data"),
        "the refusal lists what is allowed: {}",
        report["requests"][1]
    );

    // The sender: one the production registry allows, and one it does not.
    let path = example.to_str().unwrap();
    let allowed = s.trainq(&["validate", path, "--sender", "AROADEVSTACKBACKEND:worker-1"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(
        !stdout(&allowed).contains("not checked"),
        "{}",
        stdout(&allowed)
    );
    let refused = s.trainq(&["validate", path, "--sender", "AROADEVSTACKRESEARCH:alice"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stdout(&refused).contains("(sender)"),
        "{}",
        stdout(&refused)
    );
    // The README's sweep example builds and validates as written.
    let sweep = workspace().join("docs/examples/sweep.json");
    let dry = s.trainq(&["sweep", "submit", sweep.to_str().unwrap(), "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("6 trials of lr-sweep-7 valid"),
        "{}",
        stdout(&dry)
    );
    // docs/json's example checks a document as written; backend.md's validates both examples.
    let out = run_doc_block(&s, "docs/json/README.md", "To check a document");
    assert_eq!(stdout(&out).trim(), "conforms");
    let out = run_doc_block(&s, "docs/backend.md", "## What the schema cannot check");
    assert_eq!(
        stdout(&out).matches(" valid ").count(),
        2,
        "{}",
        stdout(&out)
    );
    // Without --sender the table says the sender was not checked.
    let unchecked = s.trainq(&["validate", path]);
    assert!(unchecked.status.success(), "{}", stderr(&unchecked));
    assert!(
        stdout(&unchecked).contains("not checked"),
        "{}",
        stdout(&unchecked)
    );
    // Not JSON: the file's verdict says so, the command does not panic.
    let garbage = s.dir.join("garbage.json");
    std::fs::write(&garbage, "{\"schema_version\": 1,").unwrap();
    let out = s.trainq(&["validate", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("not JSON"), "{}", stdout(&out));
}
