//! `trainq lineage`: the chain from what caused a request to the model it produced — dedupe
//! key and shift signal, sender, dataset version and content digests, the request and its
//! refusals, every attempt (job, instance, image), the model's manifest and its verdict, the
//! package (as registered and now) and every gate check. Found from any link: a request id, a
//! job name, a model package ARN, or a dedupe key (with `--customer` and `--project`).

use serde::Serialize;
use serde_json::{Value, json};
use trainq_common::JobRecord;
use trainq_common::approval::GateCheck;
use trainq_common::naming::{dedupe_request_id, parse_job_name};
use uuid::Uuid;

use crate::commands::jobs::record;
use crate::commands::models::describe_package;
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output;

/// The version of `--json`'s shape (fields are only ever added within a version).
const LINEAGE_VERSION: u32 = 1;

/// Runs `trainq lineage`.
pub async fn run(
    ctx: &Context,
    what: &str,
    customer: Option<&str>,
    project: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let id = resolve(ctx, what.trim(), customer, project).await?;
    let r = record(ctx, id).await?;
    let package_now = match &r.model_package_arn {
        Some(arn) => describe_package(ctx, arn)
            .await?
            .model_approval_status()
            .map(|s| s.as_str().to_owned()),
        None => None,
    };
    let chain = chain(&r, package_now.as_deref());
    if json {
        output::json(&chain);
    } else {
        print(&chain);
    }
    Ok(())
}

/// The request a link names.
async fn resolve(
    ctx: &Context,
    what: &str,
    customer: Option<&str>,
    project: Option<&str>,
) -> Result<Uuid, CliError> {
    if let Ok(id) = Uuid::parse_str(what) {
        return Ok(id);
    }
    if let Some((id, _)) = parse_job_name(what) {
        return Ok(id);
    }
    if what.starts_with("arn:") && what.contains(":model-package/") {
        let package = describe_package(ctx, what).await?;
        let id = package
            .customer_metadata_properties()
            .and_then(|m| m.get("trainq:request-id"))
            .and_then(|id| Uuid::parse_str(id).ok());
        return id.ok_or_else(|| {
            CliError::new(
                Status::NotFound,
                format!("{what} was not registered by trainq (no trainq:request-id)"),
            )
        });
    }
    match (customer, project) {
        (Some(c), Some(p)) => Ok(dedupe_request_id(c, p, what)),
        _ => Err(CliError::new(
            Status::Invalid,
            format!("`{what}` is no request id, job name or model package ARN"),
        )
        .hint("for a dedupe key, name its --customer and --project")),
    }
}

/// The chain, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Chain<'a> {
    lineage_version: u32,
    origin: Value,
    dataset: Value,
    request: Value,
    refusals: &'a [trainq_common::record::Refusal],
    attempts: Vec<Value>,
    model: Value,
    gate: &'a [GateCheck],
}

fn chain<'a>(r: &'a JobRecord, package_now: Option<&str>) -> Chain<'a> {
    let request = r.request.as_ref();
    let origin = request.and_then(|q| q.origin.as_ref());
    let channels: Vec<Value> = request
        .map(|q| {
            q.dataset
                .channels
                .iter()
                .map(|(name, uri)| {
                    json!({"channel": name, "uri": uri, "digest": q.dataset.digests.get(name)})
                })
                .collect()
        })
        .unwrap_or_default();
    let attempts = r
        .attempts
        .iter()
        .map(|a| {
            json!({"number": a.number, "job_name": a.job_name, "instance_type": a.instance_type,
                "spot": a.spot, "status": a.status, "launched_at": a.launched_at,
                "ended_at": a.ended_at, "failure_reason": a.failure_reason,
                "model_artifact": a.model_artifact})
        })
        .collect();
    Chain {
        lineage_version: LINEAGE_VERSION,
        origin: json!({
            "dedupe_key": origin.and_then(|o| o.dedupe_key.clone()),
            "signal": origin.and_then(|o| o.signal.clone()),
            "sender": r.sender, "message_id": r.message_id, "enqueued_at": r.enqueued_at,
        }),
        dataset: json!({"version": request.map(|q| q.dataset.version.clone()), "channels": channels}),
        request: json!({
            "request_id": r.request_id, "state": r.state, "reason": r.reason,
            "registry": r.registry, "customer": r.customer, "project": r.project,
            "image": request.map(|q| q.image.clone()), "digest": r.request_digest,
            "created_at": r.created_at,
        }),
        refusals: &r.refusals,
        attempts,
        model: json!({
            "package_arn": r.model_package_arn, "group": r.model_group,
            "registered_as": r.model_approval, "now": package_now,
            "manifest_digest": r.manifest_digest, "compatibility": r.compatibility,
        }),
        gate: &r.gate_checks,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print(c: &Chain<'_>) {
    let say = |label: &str, line: String| crate::say!("{label:<11} {line}");
    let o = &c.origin;
    say(
        "origin",
        format!(
            "dedupe key {} · signal {} · sent by {} (message {}, {})",
            text(&o["dedupe_key"]),
            text(&o["signal"]),
            text(&o["sender"]),
            text(&o["message_id"]),
            text(&o["enqueued_at"])
        ),
    );
    say(
        "dataset",
        format!("version {}", text(&c.dataset["version"])),
    );
    for ch in c.dataset["channels"].as_array().into_iter().flatten() {
        say(
            "",
            format!(
                "{:<10} {}  {}",
                text(&ch["channel"]),
                text(&ch["uri"]),
                text(&ch["digest"])
            ),
        );
    }
    let q = &c.request;
    say(
        "request",
        format!(
            "{} {} {}/{} — {}{}",
            text(&q["request_id"]),
            text(&q["registry"]),
            text(&q["customer"]),
            text(&q["project"]),
            text(&q["state"]),
            q["reason"]
                .as_str()
                .map_or(String::new(), |why| format!(": {why}"))
        ),
    );
    say(
        "",
        format!(
            "image {}   digest {}",
            text(&q["image"]),
            text(&q["digest"])
        ),
    );
    for f in c.refusals {
        say(
            "refused",
            format!(
                "{} from {} at {}: {}",
                f.message_id.as_deref().unwrap_or("-"),
                f.sender.as_deref().unwrap_or("-"),
                f.at,
                f.reason
            ),
        );
    }
    for a in &c.attempts {
        say(
            &format!("attempt {}", text(&a["number"])),
            format!(
                "{} on {}{} — {}{}",
                text(&a["job_name"]),
                text(&a["instance_type"]),
                if a["spot"] == true { " (spot)" } else { "" },
                text(&a["status"]),
                a["failure_reason"]
                    .as_str()
                    .map_or(String::new(), |why| format!(": {why}"))
            ),
        );
    }
    let m = &c.model;
    if m["package_arn"].is_null() {
        say("model", "not registered".to_owned());
        return;
    }
    say(
        "model",
        format!(
            "{} — registered {}, now {}",
            text(&m["package_arn"]),
            text(&m["registered_as"]),
            text(&m["now"])
        ),
    );
    say(
        "manifest",
        format!(
            "{} — {}",
            text(&m["manifest_digest"]),
            m["compatibility"]["verdict"]
                .as_str()
                .unwrap_or("not checked")
        ),
    );
    for g in c.gate {
        say(
            "gate",
            format!(
                "{} {} = {} must be {}{} {}",
                serde_json::to_value(g.check)
                    .map(|v| text(&v))
                    .unwrap_or_default(),
                g.metric,
                g.value.map_or("-".to_owned(), |v| v.to_string()),
                g.bound,
                g.champion
                    .as_deref()
                    .map_or(String::new(), |c| format!(" (against {c})")),
                if g.passed { "✓" } else { "✗" }
            ),
        );
    }
}
