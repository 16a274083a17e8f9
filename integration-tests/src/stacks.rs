//! The template deployed into moto as it goes to AWS (`Target=aws`): functions, mappings,
//! roles, alarms — for the template's tests and for running the functions with their roles.

use std::collections::BTreeMap;

use crate::local_stack::workspace;
use crate::world::World;

/// The registry parameters of an AWS deployment (as in infra/deploy/parameters.example).
pub fn aws_parameters(prefix: &str, artifacts: &str) -> BTreeMap<String, String> {
    let images = r#"{"defect-classifier": ["validation:accuracy", "train:loss"]}"#;
    [
        ("Target", "aws"),
        ("StackPrefix", prefix),
        ("ArtifactBucket", artifacts),
        (
            "ProductionEcrRegistry",
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com",
        ),
        ("ProductionImages", images),
        ("ProductionDataBuckets", "acme-prod-data,acme-prod-data-2"),
        ("ProductionModelBucket", "acme-prod-models"),
        (
            "ProductionSenders",
            "AROAPRODUCTIONBACKEND:*,AIDAONCALLENGINEER",
        ),
        (
            "ResearchEcrRegistry",
            "222222222222.dkr.ecr.eu-west-1.amazonaws.com",
        ),
        ("ResearchImages", images),
        ("ResearchDataBuckets", "acme-research-data"),
        ("ResearchModelBucket", "acme-research-models"),
        ("ResearchSenders", "AROARESEARCHERS:*,AIDAONCALLENGINEER"),
        ("DispatcherTimeout", "30"),
        ("AlertEmail", "oncall@example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A stack prefix of its own (`t` and 8 hex digits), so tests deploy side by side in one moto.
pub fn fresh_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// The parameters of a deployment as the devstack makes it (`Target=local`), named `prefix`.
pub fn local_parameters(prefix: &str) -> BTreeMap<String, String> {
    let mut params = aws_parameters(prefix, "unused-artifacts");
    params.insert("Target".into(), "local".into());
    params
}

/// Deploys `template` as the devstack does (`Target=local`) under a fresh prefix: (prefix,
/// the stack's outputs).
pub async fn deploy_local(w: &World, template: &str) -> (String, BTreeMap<String, String>) {
    let prefix = fresh_prefix();
    let outputs =
        trainq_devstack::stack::deploy(&w.sdk, &prefix, template, &local_parameters(&prefix))
            .await
            .unwrap();
    (prefix, outputs)
}

/// The template's text.
pub fn template() -> String {
    std::fs::read_to_string(workspace().join("infra/cloudformation/template.yaml")).unwrap()
}

/// Uploads placeholder function zips (moto does not run them) and deploys the AWS template.
pub async fn deploy_for_aws(w: &World, prefix: &str) -> BTreeMap<String, String> {
    let artifacts = format!("{prefix}-artifacts");
    w.ensure_bucket(&artifacts).await;
    for key in ["trainq/trainq-dispatcher.zip", "trainq/trainq-watcher.zip"] {
        w.s3()
            .put_object()
            .bucket(&artifacts)
            .key(key)
            .body(b"PK\x05\x06".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    trainq_devstack::stack::deploy(
        &w.sdk,
        prefix,
        &template(),
        &aws_parameters(prefix, &artifacts),
    )
    .await
    .expect("the AWS template deploys into moto")
}

/// A deployed function's configuration, as moto's Lambda keeps it.
pub async fn function(
    w: &World,
    function: &str,
) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
    aws_sdk_lambda::Client::new(&w.sdk)
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetFunctionConfiguration {function}: {e:?}"))
}

/// The environment a deployed function runs with.
pub async fn function_env(w: &World, function: &str) -> BTreeMap<String, String> {
    self::function(w, function)
        .await
        .environment()
        .and_then(|e| e.variables().cloned())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// moto cannot run the functions, but would try to on every message its event source
/// mappings see: the tests that drive the functions themselves turn the mappings off.
pub async fn disable_mappings(w: &World, prefix: &str) {
    let lambda = aws_sdk_lambda::Client::new(&w.sdk);
    let mappings = lambda.list_event_source_mappings().send().await.unwrap();
    for m in mappings.event_source_mappings() {
        if m.function_arn().is_some_and(|a| a.contains(prefix)) {
            lambda
                .update_event_source_mapping()
                .uuid(m.uuid().unwrap_or_default())
                .enabled(false)
                .send()
                .await
                .unwrap();
        }
    }
}

/// The inline policy documents of a deployed role, as IAM holds them.
pub async fn role_policies(w: &World, role: &str) -> Vec<serde_json::Value> {
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListRolePolicies {role}: {e:?}"));
    let mut documents = Vec::new();
    for name in names.policy_names() {
        let policy = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .unwrap();
        // IAM answers the document URL-encoded JSON; moto's CloudFormation stores a role's
        // inline policy as a Python literal instead, which its own Python reads back.
        let text = policy.policy_document();
        let decoded: String =
            form_urlencoded::parse(format!("d={}", text.replace('+', "%2B")).as_bytes())
                .map(|(_, v)| v.into_owned())
                .next()
                .unwrap_or_default();
        let document = serde_json::from_str(text)
            .or_else(|_| serde_json::from_str(&decoded))
            .or_else(|_| serde_json::from_str(&python_literal_as_json(text)))
            .unwrap_or_else(|e| panic!("policy {name} of {role}: {e}: {text}"));
        documents.push(document);
    }
    documents
}

/// A Python literal (as moto writes a role's inline policy) as JSON, read by the project's
/// own Python.
fn python_literal_as_json(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(workspace().join(".venv/bin/python"))
        .args([
            "-c",
            "import ast, json, sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the project's .venv (make venv)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
