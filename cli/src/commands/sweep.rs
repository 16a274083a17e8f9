//! `trainq sweep`: a sweep file (a base request plus a grid or a list of hyperparameters)
//! becomes one request per trial under one experiment id, sent in batches; `sweep status`
//! shows the trials with their metrics, best first.
//!
//! ```json
//! {"experiment": "lr-sweep-7", "base": { …a request… },
//!  "grid": {"lr": ["0.01", "0.1"], "epochs": ["5", "10"]}}
//! ```
//! or `"trials": [{"lr": "0.01"}, {"lr": "0.1", "epochs": "20"}]` instead of `grid`. Each
//! trial's request id is derived from (customer, project, experiment, trial), so sending the
//! same sweep file twice trains each trial once.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use trainq_common::JobRecord;
use trainq_common::TrainingRequest;
use trainq_common::naming::dedupe_request_id;
use trainq_common::registration::completed_attempt;
use trainq_common::request::{parse, validate};
use trainq_infra::client::{BATCH, TrainqClient};
use trainq_infra::queries::{JobQueries, Selection};

use super::submit::{invalid, read_json};
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output::{self, Table, or_dash};
use crate::progress::Progress;

/// A sweep file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// The experiment id every trial carries.
    pub experiment: String,
    /// The request every trial starts from.
    pub base: Value,
    /// Hyperparameter → values: every combination is a trial.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<String>>,
    /// Or the trials, each a hyperparameter overlay.
    #[serde(default)]
    pub trials: Vec<BTreeMap<String, String>>,
}

/// Most trials one sweep may send.
const MAX_TRIALS: usize = 500;

/// The trials of a sweep: (label, request body).
pub fn expand(sweep: &SweepFile) -> Result<Vec<(String, Value)>, CliError> {
    let bad = |m: String| {
        CliError::new(Status::Invalid, m)
            .hint("a sweep file has `experiment`, `base`, and `grid` or `trials`")
    };
    let overlays: Vec<BTreeMap<String, String>> =
        match (sweep.grid.is_empty(), sweep.trials.is_empty()) {
            (false, true) => {
                let mut combos = vec![BTreeMap::new()];
                for (key, values) in &sweep.grid {
                    if values.is_empty() {
                        return Err(bad(format!("`grid.{key}` has no values")));
                    }
                    combos = combos
                        .into_iter()
                        .flat_map(|c| {
                            values.iter().map(move |v| {
                                let mut c = c.clone();
                                c.insert(key.clone(), v.clone());
                                c
                            })
                        })
                        .collect();
                    if combos.len() > MAX_TRIALS {
                        return Err(bad(format!("the grid makes more than {MAX_TRIALS} trials")));
                    }
                }
                combos
            }
            (true, false) => sweep.trials.clone(),
            (false, false) => return Err(bad("give `grid` or `trials`, not both".into())),
            (true, true) => return Err(bad("`grid` or `trials` is required".into())),
        };
    if overlays.len() > MAX_TRIALS {
        return Err(bad(format!("more than {MAX_TRIALS} trials")));
    }
    let base = sweep
        .base
        .as_object()
        .ok_or_else(|| bad("`base` must be a request object".into()))?;
    overlays
        .into_iter()
        .map(|overlay| {
            let label: Vec<String> = overlay.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let label = label.join(",");
            let mut body = Value::Object(base.clone());
            let hps = body
                .as_object_mut()
                .map(|o| o.entry("hyperparameters").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| bad("`base.hyperparameters` must be an object".into()))?;
            for (k, v) in &overlay {
                hps.insert(k.clone(), json!(v));
            }
            body["experiment"] = json!({"id": sweep.experiment, "trial": label});
            body["reason"] = json!("experiment");
            let customer = body["customer"].as_str().unwrap_or_default().to_owned();
            let project = body["project"].as_str().unwrap_or_default().to_owned();
            let key = format!("sweep:{}/{label}", sweep.experiment);
            body["request_id"] = json!(dedupe_request_id(&customer, &project, &key).to_string());
            Ok((label, body))
        })
        .collect()
}

/// Sends the trials a batch at a time, with progress on stderr; their ids in order.
async fn send(ctx: &Context, requests: &[TrainingRequest]) -> Result<Vec<uuid::Uuid>, CliError> {
    let client = TrainqClient::new(ctx.sqs(), &ctx.stack.requests_queue_url);
    let mut progress = Progress::new("sending trials", requests.len() as u64);
    let mut ids = Vec::with_capacity(requests.len());
    for batch in requests.chunks(BATCH) {
        ids.extend(client.enqueue_all(batch.to_vec()).await?);
        progress.advance(batch.len() as u64);
    }
    progress.finish();
    Ok(ids)
}

/// Runs `trainq sweep submit`.
pub async fn submit(ctx: &Context, path: &Path, dry_run: bool, json: bool) -> Result<(), CliError> {
    let sweep: SweepFile = serde_json::from_value(read_json(path)?)
        .map_err(|e| CliError::new(Status::Invalid, format!("{}: {e}", path.display())))?;
    let registries = ctx.registries()?;
    let mut requests = Vec::new();
    let mut labels = Vec::new();
    for (label, body) in expand(&sweep)? {
        let request = parse(&body.to_string()).map_err(|e| {
            let mut err = invalid(e);
            err.message = format!("trial `{label}`: {}", err.message);
            err
        })?;
        let id = request.request_id.unwrap_or_default();
        validate(request.clone(), &registries, id).map_err(|e| {
            let mut err = invalid(e);
            err.message = format!("trial `{label}`: {}", err.message);
            err
        })?;
        requests.push(request);
        labels.push(label);
    }
    let ids: Vec<uuid::Uuid> = if dry_run {
        requests
            .iter()
            .map(|r| r.request_id.unwrap_or_default())
            .collect()
    } else {
        send(ctx, &requests).await?
    };
    if json {
        let trials: Vec<Value> = labels
            .iter()
            .zip(&ids)
            .map(|(l, id)| json!({"trial": l, "request_id": id}))
            .collect();
        output::json(&json!({"experiment": sweep.experiment, "sent": !dry_run, "trials": trials}));
        return Ok(());
    }
    let mut table = Table::new(&["trial", "request"]);
    for (label, id) in labels.iter().zip(&ids) {
        table.row(vec![label.clone(), id.to_string()]);
    }
    crate::say!("{}", table.render());
    let verb = if dry_run {
        "valid, not sent (--dry-run)"
    } else {
        "sent"
    };
    crate::say!(
        "{} trials of {} {verb}; `trainq sweep status {}`",
        ids.len(),
        sweep.experiment,
        sweep.experiment
    );
    Ok(())
}

/// The metric that ranks a trial, and whether lower is better (losses and errors).
fn rank_metric(records: &[JobRecord], asked: Option<&str>) -> (String, bool) {
    let metric = asked
        .map(str::to_owned)
        .or_else(|| {
            records.iter().find_map(|r| {
                r.request
                    .as_ref()?
                    .approval
                    .as_ref()
                    .map(|a| a.metric.clone())
            })
        })
        .unwrap_or_else(|| "validation:accuracy".into());
    let lower = metric.contains("loss") || metric.contains("error");
    (metric, lower)
}

/// Runs `trainq sweep status`.
pub async fn status(
    ctx: &Context,
    experiment: &str,
    metric: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let queries = JobQueries::new(ctx.dynamodb(), &ctx.stack.jobs_table);
    // A sweep's trials: its own index partition, read whole (sweeps are tens of trials).
    let records = queries
        .select(
            &Selection::Experiment(experiment.to_owned()),
            None,
            10_000,
            None,
            |_| true,
        )
        .await?
        .records;
    if records.is_empty() {
        return Err(CliError::new(Status::NotFound, format!("no trials of experiment `{experiment}`"))
            .hint("`trainq jobs list --experiment ID` lists by experiment; a sweep just sent appears once dispatched"));
    }
    let (metric, lower) = rank_metric(&records, metric);
    let value = |r: &JobRecord| {
        completed_attempt(r)
            .or(r.current_attempt())
            .and_then(|a| a.final_metrics.get(&metric).copied())
    };
    let mut ranked: Vec<(&JobRecord, Option<f64>)> =
        records.iter().map(|r| (r, value(r))).collect();
    ranked.sort_by(|(_, a), (_, b)| match (a, b) {
        (Some(a), Some(b)) if lower => a.total_cmp(b),
        (Some(a), Some(b)) => b.total_cmp(a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    if json {
        let trials: Vec<Value> = ranked
            .iter()
            .map(|(r, v)| {
                json!({
                    "trial": r.request.as_ref().and_then(|q| q.experiment.as_ref()?.trial.clone()),
                    "request_id": r.request_id, "state": r.state, "metric": metric, "value": v,
                    "attempts": r.attempts.len(), "model_approval": r.model_approval,
                })
            })
            .collect();
        output::json(&json!({"experiment": experiment, "ranked_by": metric, "trials": trials}));
        return Ok(());
    }
    let mut table = Table::new(&[
        "trial",
        "state",
        metric.as_str(),
        "attempts",
        "model",
        "request",
    ]);
    for (r, v) in &ranked {
        table.row(vec![
            or_dash(
                r.request
                    .as_ref()
                    .and_then(|q| q.experiment.as_ref()?.trial.clone()),
            ),
            r.state.to_string(),
            v.map_or("-".into(), |v| format!("{v:.4}")),
            r.attempts.len().to_string(),
            or_dash(r.model_approval.as_deref()),
            r.request_id.to_string(),
        ]);
    }
    let order = if lower { "lowest" } else { "highest" };
    crate::say!(
        "experiment {experiment}: {} trials, {order} {metric} first\n{}",
        ranked.len(),
        table.render()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(extra: Value) -> SweepFile {
        let mut v = json!({"experiment": "lr-sweep-7", "base": trainq_common::testing::sample_research_request()});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_grid_makes_every_combination_with_stable_ids() {
        let s = sweep(json!({"grid": {"lr": ["0.01", "0.1"], "epochs": ["5", "10", "20"]}}));
        let trials = expand(&s).unwrap();
        assert_eq!(trials.len(), 6);
        let (label, body) = &trials[0];
        assert_eq!(label, "epochs=5,lr=0.01");
        assert_eq!(
            body["experiment"],
            json!({"id": "lr-sweep-7", "trial": "epochs=5,lr=0.01"})
        );
        assert_eq!(body["hyperparameters"]["lr"], "0.01");
        assert_eq!(
            expand(&s).unwrap()[0].1["request_id"],
            body["request_id"],
            "same file, same ids"
        );
        let ids: std::collections::BTreeSet<String> = trials
            .iter()
            .map(|(_, b)| b["request_id"].to_string())
            .collect();
        assert_eq!(ids.len(), 6);
    }

    #[test]
    fn trials_overlay_the_base_and_bad_files_say_why() {
        let s = sweep(json!({"trials": [{"lr": "0.3"}]}));
        assert_eq!(expand(&s).unwrap()[0].1["hyperparameters"]["lr"], "0.3");
        assert!(
            expand(&sweep(json!({})))
                .unwrap_err()
                .message
                .contains("required")
        );
        let both = sweep(json!({"grid": {"lr": ["1"]}, "trials": [{"lr": "2"}]}));
        assert!(expand(&both).unwrap_err().message.contains("not both"));
        let empty = sweep(json!({"grid": {"lr": []}}));
        assert!(expand(&empty).unwrap_err().message.contains("grid.lr"));
    }

    /// `docs/sweep.schema.json` describes exactly the fields `SweepFile` reads, closed as it is.
    #[test]
    fn the_published_schema_has_the_types_fields() {
        let schema: Value =
            serde_json::from_str(include_str!("../../../docs/sweep.schema.json")).unwrap();
        let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(props, ["base", "experiment", "grid", "trials"]);
        assert_eq!(schema["required"], json!(["experiment", "base"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        let mut v = json!({"experiment": "e", "base": {}, "grid": {"lr": ["1"]}});
        assert!(serde_json::from_value::<SweepFile>(v.clone()).is_ok());
        v["grids"] = json!({});
        let e = serde_json::from_value::<SweepFile>(v).unwrap_err();
        assert!(e.to_string().contains("unknown field `grids`"), "{e}");
        let example: SweepFile =
            serde_json::from_str(include_str!("../../../docs/examples/sweep.json")).unwrap();
        assert_eq!(expand(&example).unwrap().len(), 6);
    }
}
