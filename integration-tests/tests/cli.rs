//! The `trainq` binary against a local stack, every subcommand, the error paths included.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use trainq_integration_tests::cli_stack::{DATA, FLAGS, Stack, stderr, stdout, trainq_with};
use trainq_integration_tests::local_stack::workspace;
use trainq_integration_tests::poll;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_follow_and_inspect_requests_sweeps_models_and_costs() {
    let s = Stack::start(TRAINER, |_| {}).await;
    s.upload_data().await;

    // submit from flags with a dedupe key, following it to its end.
    let mut args = vec![
        "submit",
        "--dedupe-key",
        "2026-11-24",
        "--wait",
        "--timeout",
        "90s",
    ];
    args.extend_from_slice(FLAGS);
    let out = s.trainq(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    let id = line.split_whitespace().next().unwrap().to_owned();
    assert!(line.contains("Registered"), "{line}");
    assert!(stderr(&out).contains("InProgress"), "progress is shown");
    let again = s.trainq(
        &[
            &["submit", "--dedupe-key", "2026-11-24", "--json"][..],
            FLAGS,
        ]
        .concat(),
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["request_id"], json!(id), "same key, same request id");

    // The README's trap: a backend's first try under a dedupe key is rejected (its data is
    // another customer's); the corrected request with the same key launches, and --wait
    // follows this message, not the old rejection.
    let key = "2026-11-25";
    let taken = trainq_common::naming::dedupe_request_id("acme", "scratch-detect", key);
    let mut wrong: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("docs/examples/shift-request.json")).unwrap(),
    )
    .unwrap();
    wrong["request_id"] = json!(taken.to_string());
    wrong["dataset"]["channels"] = json!({"train": "s3://trainq-prod-data/globex/train/"});
    wrong["dataset"].as_object_mut().unwrap().remove("digests");
    s.send_raw(&wrong).await;
    s.wait_state(&taken.to_string(), "Rejected").await;
    let mut args = vec!["submit", "--dedupe-key", key, "--wait", "--timeout", "90s"];
    args.extend_from_slice(FLAGS);
    let out = s.trainq(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{taken} Registered")),
        "{}",
        stdout(&out)
    );
    let record = s.wait_state(&taken.to_string(), "Registered").await;
    assert_eq!(
        record["refusals"].as_array().unwrap().len(),
        1,
        "the rejection stays in its history"
    );

    // jobs list / show, tables and JSON.
    let list = s.trainq(&["jobs", "list", "--state", "registered"]);
    assert!(stdout(&list).contains(&id), "{}", stdout(&list));
    let listed: Value = serde_json::from_slice(
        &s.trainq(&[
            "jobs",
            "list",
            "--json",
            "--customer",
            "acme",
            "--project",
            "scratch-detect",
        ])
        .stdout,
    )
    .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&id.as_str()) && ids.contains(&taken.to_string().as_str()));
    // Rows, not records: bodies and histories are `jobs show`'s.
    let row = &listed[0];
    assert!(
        row["attempts"].is_number() && row["job_name"].is_string(),
        "{row}"
    );
    for heavy in ["request", "raw_body", "refusals", "outbox"] {
        assert!(row.get(heavy).is_none(), "{heavy} in {row}");
    }
    let show = stdout(&s.trainq(&["jobs", "show", &id]));
    for part in [
        "attempt 1",
        "ml.g5.xlarge spot (rung 1 of 2)",
        "ended: completed",
        "T Training ",
        "TTTT",
        "billable",
        "metrics: ",
        "training.log",
        "model ",
    ] {
        assert!(show.contains(part), "`{part}` missing from:\n{show}");
    }

    // The lineage from any link: the dedupe key, the job, the package; text and JSON.
    let by_key = stdout(&s.trainq(&[
        "lineage",
        "2026-11-24",
        "--customer",
        "acme",
        "--project",
        "scratch-detect",
    ]));
    for part in [
        "dedupe key 2026-11-24",
        "sent by AIDADEVSTACKONCALL",
        "train      s3://trainq-prod-data/acme/cli/train/",
        "attempt 1",
        "manifest",
        "first_model",
        "gate        policy validation:accuracy",
    ] {
        assert!(by_key.contains(part), "`{part}` missing from:\n{by_key}");
    }
    let job = format!("tq-{}-1", id.replace('-', ""));
    let chain: Value =
        serde_json::from_slice(&s.trainq(&["lineage", &job, "--json"]).stdout).unwrap();
    assert_eq!(chain["lineage_version"], 1);
    assert_eq!(chain["request"]["request_id"], json!(id));
    assert_eq!(chain["origin"]["dedupe_key"], "2026-11-24");
    let arn = chain["model"]["package_arn"].as_str().unwrap().to_owned();
    assert!(
        chain["model"]["manifest_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let via_package: Value =
        serde_json::from_slice(&s.trainq(&["lineage", &arn, "--json"]).stdout).unwrap();
    assert_eq!(via_package["request"]["request_id"], json!(id));
    assert_eq!(via_package["model"]["now"], chain["model"]["now"]);
    // The README's lineage example request is valid on the local stack as written.
    let example = workspace().join("docs/examples/shift-request.json");
    let dry = s.trainq(&["submit", example.to_str().unwrap(), "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    // So is the README's sample request (its first JSON block), bucket and all.
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let sample = readme
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let sample = s.write("readme-sample.json", &serde_json::from_str(sample).unwrap());
    let dry = s.trainq(&["submit", &sample, "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let nothing = s.trainq(&["lineage", "not-a-link"]);
    assert_eq!(nothing.status.code(), Some(2), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("--customer"),
        "{}",
        stderr(&nothing)
    );

    // A sweep file: two trials under one experiment, then their ranking.
    let mut base: Value = json!({"schema_version": 1, "customer": "acme", "project": "scratch-detect",
        "registry": "production", "reason": "experiment", "image": "defect-classifier:1.4.2",
        "dataset": {"version": "v1", "channels": {"train": format!("{DATA}train/"), "validation": format!("{DATA}val/")}},
        "hyperparameters": {"epochs": "2"}, "resources": {"instance_type": "ml.g5.xlarge", "max_runtime_s": 600}});
    let sweep = s.write(
        "sweep.json",
        &json!({"experiment": "cli-sweep", "base": base.take(), "grid": {"lr": ["0.001", "0.1"]}}),
    );
    let sent = s.trainq(&["sweep", "submit", &sweep, "--json"]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert!(
        stderr(&sent).contains("sending trials 2/2"),
        "{}",
        stderr(&sent)
    );
    let trials: Value = serde_json::from_slice(&sent.stdout).unwrap();
    for t in trials["trials"].as_array().unwrap() {
        s.wait_state(t["request_id"].as_str().unwrap(), "Registered")
            .await;
    }
    let ranked: Value =
        serde_json::from_slice(&s.trainq(&["sweep", "status", "cli-sweep", "--json"]).stdout)
            .unwrap();
    let order: Vec<&str> = ranked["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trial"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["lr=0.1", "lr=0.001"], "best first");

    // Models: listed with metrics, approved and rejected.
    let models: Value = serde_json::from_slice(
        &s.trainq(&["models", "list", "--registry", "production", "--json"])
            .stdout,
    )
    .unwrap();
    let models = models.as_array().unwrap();
    assert_eq!(
        models.len(),
        4,
        "the two requests and the sweep's two trials"
    );
    assert!(models[0]["metrics"]["validation:accuracy"].is_string());
    let arn = models[0]["arn"].as_str().unwrap();
    assert!(
        s.trainq(&["models", "reject", arn, "--reason", "drift"])
            .status
            .success()
    );
    let after: Value =
        serde_json::from_slice(&s.trainq(&["models", "list", "--json"]).stdout).unwrap();
    let rejected = after
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["arn"] == arn)
        .unwrap();
    assert_eq!(rejected["approval"], "Rejected");
    assert!(
        rejected["metrics"]["validation:accuracy"].is_string(),
        "metadata survives the update"
    );
    assert!(s.trainq(&["models", "approve", arn]).status.success());

    // `jobs show` says a package's approval as it is now, not as it was registered.
    let shown: Value =
        serde_json::from_slice(&s.trainq(&["jobs", "show", &id, "--json"]).stdout).unwrap();
    let own = shown["model_package_arn"].as_str().unwrap();
    let registered = shown["model_approval"].as_str().unwrap();
    assert!(s.trainq(&["models", "reject", own]).status.success());
    let text = stdout(&s.trainq(&["jobs", "show", &id]));
    let line = text.lines().find(|l| l.starts_with("model ")).unwrap();
    assert!(
        line.contains(&format!(", Rejected; registered {registered})")),
        "{line}"
    );

    // Costs and status.
    let costs: Value = serde_json::from_slice(
        &s.trainq(&["costs", "--since", "1h", "--by", "registry", "--json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(costs["groups"]["production"]["requests"], 4);
    assert!(
        costs["groups"]["production"]["spot_savings_pct"].is_number(),
        "spot jobs report savings: {costs}"
    );
    let status = s.trainq(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["dead_letter_queue"]["visible"], 0);
    assert!(stdout(&s.trainq(&["--help"])).contains("Exit status"));
    s.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_cancel_and_the_dead_letter_queue() {
    let s = Stack::start(TRAINER, |c| {
        c.stack_parameters
            .insert("RequestsMaxReceiveCount".into(), "2".into());
        c.environment
            .insert("TRAINQ_DEFER_BASE_S".into(), "1".into());
        c.environment
            .insert("TRAINQ_DEFER_MAX_S".into(), "1".into());
    })
    .await;

    // No data yet: the job fails, --wait says so with status 5; retry once the data is there.
    let out = s.trainq(&[&["submit", "--wait", "--timeout", "60s"][..], FLAGS].concat());
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Data download failed"),
        "{}",
        stderr(&out)
    );
    let id = stdout(&out).split_whitespace().next().unwrap().to_owned();
    s.upload_data().await;
    let retried = s.trainq(&["jobs", "retry", &id]);
    assert!(retried.status.success(), "{}", stderr(&retried));
    let record = s.wait_state(&id, "Registered").await;
    assert_eq!(record["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.trainq(&["jobs", "retry", &id]).status.code(),
        Some(1),
        "a registered request is not retried"
    );

    // Cancel a long job: it stops, the request ends Cancelled; cancelling again is refused.
    let long_id = s.submit_long().await;
    let cancelled = s.trainq(&["jobs", "cancel", &long_id, "--wait", "--timeout", "60s"]);
    assert!(
        stdout(&cancelled).contains("Cancelled"),
        "{}",
        stderr(&cancelled)
    );
    let record = poll::until("the job to stop", Duration::from_secs(60), || async {
        let r: Value =
            serde_json::from_slice(&s.trainq(&["jobs", "show", &long_id, "--json"]).stdout).ok()?;
        (r["attempts"][0]["status"] == "Stopped").then_some(r)
    })
    .await;
    assert_eq!(
        record["state"], "Cancelled",
        "a late event does not revive it"
    );
    assert_eq!(
        s.trainq(&["jobs", "cancel", &long_id]).status.code(),
        Some(1)
    );

    // Throttled on every delivery: dead-lettered after 2 receives; listed with why; redriven.
    let url = &s.devstack.stack().devstack.as_ref().unwrap().sagemaker_url;
    let faults = |f: Value| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .put(format!("{url}/_devstack/faults"))
                .body(f.to_string())
                .send()
                .await
                .unwrap();
        }
    };
    faults(json!({"throttle_rate": 1.0})).await;
    let dead = stdout(&s.trainq(&[&["submit"][..], FLAGS].concat()))
        .trim()
        .to_owned();
    let listed = poll::until("a dead letter", Duration::from_secs(60), || async {
        let v: Value = serde_json::from_slice(&s.trainq(&["dlq", "list", "--json"]).stdout).ok()?;
        (!v.as_array()?.is_empty()).then_some(v)
    })
    .await;
    assert_eq!(listed[0]["request_id"], json!(dead));
    // Dead-lettered by throttling, the request itself still waits in the waiting room.
    assert!(
        listed[0]["reason"].as_str().unwrap().contains("throttled"),
        "{listed}"
    );
    assert_eq!(listed[0]["state"], json!("Queued"));
    // `trainq status` counts it from the records: queued, pushed back by throttling.
    let status: Value = serde_json::from_slice(&s.trainq(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["waiting_room"]["deferred"], 1, "{status}");
    assert!(
        status["pools"].as_array().is_some_and(|p| !p.is_empty()),
        "{status}"
    );
    assert!(
        stdout(&s.trainq(&["status"])).contains("1 of them pushed back by throttling"),
        "the human view says the same"
    );
    // A researcher's production request in the DLQ is not laundered by an operator's redrive.
    let mut impostor: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("docs/examples/shift-request.json")).unwrap(),
    )
    .unwrap();
    impostor["request_id"] = json!(uuid::Uuid::new_v4().to_string());
    let dlq = s.devstack.stack().requests_dlq_url.clone();
    s.send_as("research", &dlq, &impostor).await;
    // And a message that is no request at all is kept and said so, not skipped in silence.
    s.send_as("devstack", &dlq, &json!("not a request")).await;
    let dry = s.trainq(&["dlq", "redrive", "--dry-run"]);
    assert!(
        stdout(&dry).contains("1 messages would go back"),
        "{}",
        stdout(&dry)
    );
    faults(json!({})).await;
    let out = s.trainq(&["dlq", "redrive", "--json"]);
    // Progress goes to stderr as plain lines in a pipe; stdout stays JSON.
    assert!(
        stderr(&out).contains("moving to the requests queue 3/3"),
        "{}",
        stderr(&out)
    );
    let redriven: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        redriven["messages"].as_array().unwrap().len(),
        1,
        "{redriven}"
    );
    let kept = redriven["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "{redriven}");
    let why_of = |id: &Value| {
        kept.iter()
            .find(|k| &k["request_id"] == id)
            .and_then(|k| k["why"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        why_of(&impostor["request_id"])
            .contains("may not send requests to the production registry"),
        "{redriven}"
    );
    assert!(
        kept.iter().any(|k| k["why"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not a JSON object")),
        "{redriven}"
    );
    s.wait_state(&dead, "Registered").await;
    s.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_unknown_ids_and_an_unreachable_stack_fail_with_their_status() {
    let s = Stack::start(TRAINER, |_| {}).await;
    let unknown = s.trainq(&["jobs", "show", "00000000-0000-0000-0000-000000000001"]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(stderr(&unknown).contains("hint:"));
    assert_eq!(s.trainq(&["jobs", "show", "nope"]).status.code(), Some(2));
    assert_eq!(
        s.trainq(&["submit", "/nonexistent.json"]).status.code(),
        Some(2)
    );
    let not_json = s.write("bad.json", &json!("{"));
    std::fs::write(&not_json, "{ not json").unwrap();
    assert_eq!(s.trainq(&["submit", &not_json]).status.code(), Some(2));
    let mut bad = trainq_common::testing::sample_request();
    bad["dataset"]["channels"] = json!({"train": format!("{DATA}train/")});
    bad["resources"]["instance_type"] = json!("ml.banana.huge");
    let bad = s.write("invalid.json", &bad);
    let refused = s.trainq(&["submit", &bad]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("`resources.instance_type`"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        s.trainq(&["jobs", "list", "--state", "Sleeping"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        s.trainq(&["sweep", "status", "no-such-sweep"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        s.trainq(&["frobnicate"]).status.code(),
        Some(2),
        "clap's usage error"
    );

    // A sender's text reaches the terminal shown, not obeyed: escape sequences (ESC as JSON
    // escapes it, CSI as SQS carries it) and a bidi override in a rejected request.
    let hostile = uuid::Uuid::new_v4();
    s.send_raw(&json!({"request_id": hostile.to_string(),
        "customer": "\u{1b}[2J\u{9b}31mgotcha\u{202e}", "project": "p"}))
        .await;
    s.wait_state(&hostile.to_string(), "Rejected").await;
    let shown = s.trainq(&["jobs", "show", &hostile.to_string()]);
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        !text.contains(['\u{1b}', '\u{9b}', '\u{202e}']),
        "a control character reached the terminal: {text:?}"
    );
    assert!(
        text.contains("\\u{1b}[2J\\u{9b}31mgotcha\\u{202e}"),
        "{text}"
    );
    let listed = stdout(&s.trainq(&["jobs", "list", "--state", "rejected"]));
    assert!(
        !listed.contains(['\u{1b}', '\u{9b}', '\u{202e}']),
        "{listed:?}"
    );

    // The Python example of docs/backend.md: same id rule, schema-checked, really enqueued.
    let python = |args: &[&str]| {
        std::process::Command::new(workspace().join(".venv/bin/python"))
            .arg(workspace().join("docs/examples/enqueue.py"))
            .args(args)
            .output()
            .expect("run enqueue.py")
    };
    let rule = trainq_common::naming::dedupe_request_id("acme", "scratch-detect", "shift-9");
    let id = python(&["--id", "acme", "scratch-detect", "shift-9"]);
    assert_eq!(
        stdout(&id).trim(),
        rule.to_string(),
        "Python and Rust agree on the id"
    );
    let mut request = trainq_common::testing::sample_request();
    request.as_object_mut().unwrap().remove("request_id");
    request["dataset"]["channels"] = json!({"train": format!("{DATA}train/")});
    let file = s.write("python-request.json", &request);
    let stack_file = s.file.to_string_lossy().into_owned();
    let sent = python(&[&stack_file, &file, "shift-9"]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert_eq!(stdout(&sent).trim(), rule.to_string());
    poll::until(
        "the Python-sent request's record",
        Duration::from_secs(60),
        || async {
            s.trainq(&["jobs", "show", &rule.to_string()])
                .status
                .success()
                .then_some(())
        },
    )
    .await;
    request["resources"]["instance_count"] = json!("two");
    let bad = s.write("python-bad.json", &request);
    let refused = python(&[&stack_file, &bad]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("`resources.instance_count`"),
        "{}",
        stderr(&refused)
    );

    // The stack file names endpoints nobody listens on.
    let mut gone = s.devstack.stack().clone();
    gone.endpoints
        .insert("default".into(), "http://127.0.0.1:9".into());
    let gone_file = s.write("gone.json", &serde_json::to_value(&gone).unwrap());
    let out = trainq_with(Path::new(&gone_file), &["jobs", "list"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"));
    let out = trainq_with(Path::new("/nonexistent/stack.json"), &["status"]);
    assert_eq!(out.status.code(), Some(4));
    s.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_status_show_the_waiting_room_and_the_pools() {
    // A long job takes the one instance; the next request waits for it.
    let (s, long_id, waiting_id) = Stack::running_and_queued(TRAINER).await;
    let record = s.wait_state(&waiting_id, "Queued").await;
    assert_eq!(
        record["waiting"]["pools"],
        json!(["ml.g5.xlarge/spot", "ml.g5.xlarge/on-demand"])
    );

    let queue: Value = serde_json::from_slice(&s.trainq(&["queue", "--json"]).stdout).unwrap();
    let first = &queue["waiting"][0];
    assert_eq!(first["request_id"], json!(waiting_id), "{queue}");
    // `trainq submit` asks for a manual production training: the second class.
    assert_eq!(
        (first["position"].clone(), first["class"].clone()),
        (json!(1), json!(1))
    );
    assert!(stdout(&s.trainq(&["queue"])).contains(&waiting_id));

    let status: Value = serde_json::from_slice(&s.trainq(&["status", "--json"]).stdout).unwrap();
    let pool = status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pool"] == "ml.g5.xlarge/spot")
        .cloned()
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(
        (
            pool["in_use"].clone(),
            pool["limit"].clone(),
            pool["waiting"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{status}"
    );
    assert!(pool["pressure_since_ms"].is_number(), "{status}");
    assert_eq!(status["requests_by_state"]["Queued"], json!(1));

    // A waiting request is cancelled out of the waiting room.
    assert!(s.trainq(&["jobs", "cancel", &waiting_id]).status.success());
    s.wait_state(&waiting_id, "Cancelled").await;
    assert!(stdout(&s.trainq(&["queue"])).contains("nobody waits"));
    assert!(s.trainq(&["jobs", "cancel", &long_id]).status.success());
    s.devstack.stop().await;
}
