//! Checking JSON documents against the docs' JSON Schemas with `jsonschema`, the Python
//! reference implementation the project's `.venv` already holds (moto needs it): a Rust
//! validator crate would turn on serde_json's `float_roundtrip` for the test build alone and
//! so compile the AWS SDK a second time.
//!
//! `strict` also closes every object the schema describes with `properties` (unless it says
//! otherwise), so a field the code emits and the docs do not list fails the check: the
//! published schemas stay open for additions, the tests hold the docs to the output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::local_stack::workspace;

const CHECK: &str = r#"
import json, sys
from jsonschema import Draft202012Validator

def close(node):
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for v in node.values():
            close(v)
    elif isinstance(node, list):
        for v in node:
            close(v)

out = []
for case in json.load(sys.stdin):
    schema = json.load(open(case["schema"]))
    if case["strict"]:
        close(schema)
    Draft202012Validator.check_schema(schema)
    errors = Draft202012Validator(schema).iter_errors(case["document"])
    out.append(["/".join(map(str, e.absolute_path)) + ": " + e.message for e in errors])
json.dump(out, sys.stdout)
"#;

/// The errors of each `(schema file, document)` (paths relative to the workspace), in order:
/// an empty list where the document conforms.
pub fn errors(cases: &[(&str, &Value)], strict: bool) -> Vec<Vec<String>> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(schema, document)| {
            json!({"schema": workspace().join(schema), "document": document, "strict": strict})
        })
        .collect();
    let python = workspace().join(".venv/bin/python");
    assert!(Path::new(&python).exists(), "`make venv` first");
    let mut child = Command::new(python)
        .arg("-c")
        .arg(CHECK)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&input).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the schema check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Panics with every error unless `document` conforms to `schema` (strictly, see the module).
pub fn assert_conforms(schema: &str, document: &Value) {
    let errors = errors(&[(schema, document)], true).remove(0);
    assert!(errors.is_empty(), "{schema}:\n{}", errors.join("\n"));
}
