//! `trainq costs`: billable hours and spot savings by customer, project or registry, over a
//! window of request creation times.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use trainq_infra::queries::{JobQueries, Selection};

use super::jobs::since;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Table};

/// One group's figures.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Costs {
    /// Requests created in the window.
    pub requests: usize,
    /// Training jobs (attempts) launched.
    pub jobs: usize,
    /// Billable hours.
    pub billable_hours: f64,
    /// Training hours.
    pub training_hours: f64,
    /// 1 − billable / training over the spot attempts, percent.
    pub spot_savings_pct: Option<f64>,
}

/// Runs `trainq costs`.
pub async fn run(ctx: &Context, window: Duration, by: &str, json: bool) -> Result<(), CliError> {
    let from = since(window);
    let records = JobQueries::new(ctx.dynamodb(), &ctx.stack.jobs_table)
        .select(&Selection::All, Some(&from), usize::MAX)
        .await?;
    let mut groups: BTreeMap<String, (Costs, u64, u64)> = BTreeMap::new();
    for r in &records {
        let key = match by {
            "customer" => r.customer.clone().unwrap_or_else(|| "-".into()),
            "registry" => r.registry.map_or("-".into(), |k| k.as_str().to_owned()),
            _ => format!(
                "{}/{}",
                r.customer.as_deref().unwrap_or("-"),
                r.project.as_deref().unwrap_or("-")
            ),
        };
        let (c, spot_billed, spot_trained) = groups.entry(key).or_default();
        c.requests += 1;
        for a in r.attempts.iter().filter(|a| a.job_arn.is_some()) {
            c.jobs += 1;
            c.billable_hours += a.billable_s.unwrap_or(0) as f64 / 3600.0;
            c.training_hours += a.training_s.unwrap_or(0) as f64 / 3600.0;
            if let (true, Some(b), Some(t)) = (a.spot, a.billable_s, a.training_s) {
                *spot_billed += b;
                *spot_trained += t;
            }
        }
        c.spot_savings_pct =
            (*spot_trained > 0).then(|| (1.0 - *spot_billed as f64 / *spot_trained as f64) * 100.0);
    }
    let figures: BTreeMap<String, Costs> =
        groups.into_iter().map(|(k, (c, _, _))| (k, c)).collect();
    if json {
        output::json(&serde_json::json!({"since": from, "by": by, "groups": figures}));
        return Ok(());
    }
    let mut table = Table::new(&[
        by,
        "requests",
        "jobs",
        "billable h",
        "training h",
        "spot saved",
    ]);
    for (k, c) in &figures {
        table.row(vec![
            k.clone(),
            c.requests.to_string(),
            c.jobs.to_string(),
            format!("{:.3}", c.billable_hours),
            format!("{:.3}", c.training_hours),
            c.spot_savings_pct
                .map_or("-".into(), |p| format!("{p:.0}%")),
        ]);
    }
    if table.is_empty() {
        crate::say!("no requests since {from}");
    } else {
        crate::say!("since {from}\n{}", table.render());
    }
    Ok(())
}
