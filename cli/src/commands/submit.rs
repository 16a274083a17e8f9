//! `trainq submit`: a request from a file or flags, validated with the dispatcher's own code
//! before it is sent, then optionally followed to its end.

use std::path::Path;

use serde_json::{Map, Value, json};
use trainq_common::naming::{apply_dedupe_key, client_request_id};
use trainq_common::request::{parse, validate};
use trainq_infra::client::TrainqClient;

use crate::args::{RequestFlags, SubmitArgs};
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::{follow, output};

/// Runs `trainq submit`.
pub async fn run(ctx: &Context, args: SubmitArgs, json: bool) -> Result<(), CliError> {
    let body = match &args.file {
        Some(path) => read_json(path)?,
        None => from_flags(&args.fields, args.dedupe_key.is_some())?,
    };
    let mut request = parse(&body.to_string()).map_err(invalid)?;
    let id = client_request_id(&request, args.dedupe_key.as_deref());
    request.request_id = Some(id);
    if let Some(key) = &args.dedupe_key {
        apply_dedupe_key(&mut request, key);
    }
    validate(request.clone(), &ctx.registries()?, id).map_err(invalid)?;
    if args.dry_run {
        if json {
            output::json(&json!({"request_id": id, "valid": true, "sent": false}));
        } else {
            crate::say!("valid; request {id} (not sent: --dry-run)");
        }
        return Ok(());
    }
    let sent = TrainqClient::new(ctx.sqs(), &ctx.stack.requests_queue_url)
        .submit(request, None)
        .await?;
    if !args.wait {
        if json {
            output::json(&json!({"request_id": id}));
        } else {
            crate::say!("{id}");
        }
        return Ok(());
    }
    crate::note!("request {id} sent; following it (Ctrl-C stops following, not the request)");
    let record = follow::wait(ctx, id, &sent.message_id, args.timeout).await?;
    if json {
        output::json(&record);
    } else {
        crate::say!("{id} {}", record.state);
    }
    if follow::succeeded(&record) {
        Ok(())
    } else {
        Err(CliError::new(
            Status::Unsuccessful,
            format!(
                "request {id} ended {}: {}",
                record.state,
                record.reason.as_deref().unwrap_or("no reason recorded")
            ),
        )
        .hint(format!("`trainq jobs show {id}` tells the whole story")))
    }
}

/// A request that does not validate: exit status 2, the message names the field.
pub fn invalid(e: trainq_common::RequestError) -> CliError {
    CliError::new(Status::Invalid, format!("invalid request: {e}"))
        .hint("the request schema is in README.md and docs/request.schema.json")
}

/// Reads a JSON file; the error names it.
pub fn read_json(path: &Path) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(Status::Invalid, format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::new(
            Status::Invalid,
            format!("{}: not JSON: {e}", path.display()),
        )
        .hint("a request file is one JSON object (schema v1)")
    })
}

/// Splits `KEY=VALUE` (or `KEY<sep>VALUE`).
fn pair<'a>(flag: &str, text: &'a str, sep: &str) -> Result<(&'a str, &'a str), CliError> {
    text.split_once(sep)
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| {
            CliError::new(
                Status::Invalid,
                format!("--{flag} `{text}`: expected KEY{sep}VALUE"),
            )
        })
}

/// The request the flags describe.
fn from_flags(f: &RequestFlags, dedupe: bool) -> Result<Value, CliError> {
    let required = |flag: &str, v: &Option<String>| {
        v.clone().ok_or_else(|| {
            CliError::new(Status::Invalid, format!("--{flag} is required without a request file"))
                .hint("give a request file, or --customer --project --registry --image --dataset-version --channel --instance-type")
        })
    };
    let mut channels = Map::new();
    for c in &f.channels {
        let (name, uri) = pair("channel", c, "=")?;
        channels.insert(name.to_owned(), json!(uri));
    }
    if channels.is_empty() {
        return Err(CliError::new(
            Status::Invalid,
            "--channel is required without a request file",
        )
        .hint("e.g. --channel train=s3://bucket/prefix/"));
    }
    let mut hyperparameters = Map::new();
    for h in &f.hyperparameters {
        let (k, v) = pair("hp", h, "=")?;
        hyperparameters.insert(k.to_owned(), json!(v));
    }
    let reason = f.reason.clone().unwrap_or_else(|| {
        if dedupe {
            "data_shift"
        } else if f.experiment.is_some() {
            "experiment"
        } else {
            "manual"
        }
        .to_owned()
    });
    let mut body = json!({
        "schema_version": 1,
        "customer": required("customer", &f.customer)?,
        "project": required("project", &f.project)?,
        "registry": required("registry", &f.registry)?,
        "reason": reason,
        "image": required("image", &f.image)?,
        "dataset": {"version": required("dataset-version", &f.dataset_version)?, "channels": channels},
        "hyperparameters": hyperparameters,
        "resources": {
            "instance_type": required("instance-type", &f.instance_type)?,
            "max_runtime_s": f.max_runtime_s,
            "spot": !f.on_demand,
            "fallback_instance_types": f.fallbacks,
        },
    });
    if let Some(n) = f.instance_count {
        body["resources"]["instance_count"] = json!(n);
    }
    if let Some(gate) = &f.gate {
        let (metric, min) = pair("gate", gate, ">=")?;
        let min: f64 = min.parse().map_err(|_| {
            CliError::new(
                Status::Invalid,
                format!("--gate `{gate}`: the minimum must be a number"),
            )
        })?;
        body["approval"] = json!({"metric": metric, "min": min});
    }
    if let Some(id) = &f.experiment {
        body["experiment"] = json!({"id": id});
        if let Some(trial) = &f.trial {
            body["experiment"]["trial"] = json!(trial);
        }
    }
    if let Some(n) = f.max_attempts {
        body["retry"] = json!({"max_attempts": n});
    }
    Ok(body)
}
