//! `trainq costs`: billable hours and spot savings by customer, project or registry, over a
//! window of request creation times.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use trainq_common::billing::Billing;
use trainq_infra::queries::JobQueries;

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

/// Runs `trainq costs`: from the by-created index alone (each entry carries its request's
/// billing summary), so a window costs its index entries, never a record or a scan.
pub async fn run(ctx: &Context, window: Duration, by: &str, json: bool) -> Result<(), CliError> {
    let from = since(window);
    let entries = JobQueries::new(ctx.dynamodb(), &ctx.stack.jobs_table)
        .costs_since(&from)
        .await?;
    let mut groups: BTreeMap<String, (usize, Billing)> = BTreeMap::new();
    for e in &entries {
        let key = match by {
            "customer" => e.customer.clone().unwrap_or_else(|| "-".into()),
            "registry" => e.registry.clone().unwrap_or_else(|| "-".into()),
            _ => format!(
                "{}/{}",
                e.customer.as_deref().unwrap_or("-"),
                e.project.as_deref().unwrap_or("-")
            ),
        };
        let (requests, sum) = groups.entry(key).or_default();
        *requests += 1;
        sum.add(&e.billing);
    }
    let figures: BTreeMap<String, Costs> = groups
        .into_iter()
        .map(|(k, (requests, sum))| {
            let costs = Costs {
                requests,
                jobs: sum.jobs as usize,
                billable_hours: sum.billable_s as f64 / 3600.0,
                training_hours: sum.training_s as f64 / 3600.0,
                spot_savings_pct: sum.spot_savings_pct(),
            };
            (k, costs)
        })
        .collect();
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
