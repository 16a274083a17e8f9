//! `trainq models list`, `approve` and `reject`: the Model Registry as trainq fills it.

use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageSortBy, SortOrder};
use serde_json::json;
use trainq_common::registration::METRIC_KEY_PREFIX;

use crate::context::Context;
use crate::error::{CliError, Status, aws};
use crate::output::{self, Table, or_dash};

/// The group name prefixes to list: one registry's, or both.
fn prefixes(ctx: &Context, registry: Option<&str>) -> Result<Vec<String>, CliError> {
    let registries = ctx.registries()?;
    let all = [
        (
            "production",
            registries.production.model_package_group_prefix.clone(),
        ),
        (
            "research",
            registries.research.model_package_group_prefix.clone(),
        ),
    ];
    match registry {
        None => Ok(all.into_iter().map(|(_, p)| format!("{p}-")).collect()),
        Some(r) => all
            .into_iter()
            .find(|(name, _)| *name == r)
            .map(|(_, p)| vec![format!("{p}-")])
            .ok_or_else(|| {
                CliError::new(Status::Invalid, format!("unknown registry `{r}`"))
                    .hint("production or research")
            }),
    }
}

/// Runs `trainq models list`.
pub async fn list(
    ctx: &Context,
    registry: Option<&str>,
    contains: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let sm = ctx.sagemaker();
    let prefixes = prefixes(ctx, registry)?;
    let mut groups = Vec::new();
    let mut token = None;
    loop {
        let out = sm
            .list_model_package_groups()
            .set_name_contains(contains.map(str::to_owned))
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("ListModelPackageGroups", e))?;
        groups.extend(
            out.model_package_group_summary_list()
                .iter()
                .filter_map(|g| g.model_package_group_name().map(str::to_owned))
                .filter(|name| prefixes.iter().any(|p| name.starts_with(p.as_str()))),
        );
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    let mut rows = Vec::new();
    for group in groups {
        let packages = sm
            .list_model_packages()
            .model_package_group_name(&group)
            .sort_by(ModelPackageSortBy::CreationTime)
            .sort_order(SortOrder::Descending)
            .max_results(100)
            .send()
            .await
            .map_err(|e| aws("ListModelPackages", e))?;
        for summary in packages.model_package_summary_list() {
            let Some(arn) = summary.model_package_arn() else {
                continue;
            };
            let p = sm
                .describe_model_package()
                .model_package_name(arn)
                .send()
                .await
                .map_err(|e| aws("DescribeModelPackage", e))?;
            let meta = p
                .customer_metadata_properties()
                .cloned()
                .unwrap_or_default();
            let metrics: serde_json::Map<String, serde_json::Value> = meta
                .iter()
                .filter_map(|(k, v)| {
                    Some((k.strip_prefix(METRIC_KEY_PREFIX)?.to_owned(), json!(v)))
                })
                .collect();
            rows.push(json!({
                "group": group, "version": p.model_package_version(), "arn": arn,
                "approval": p.model_approval_status().map(|s| s.as_str().to_owned()),
                "metrics": metrics, "request_id": meta.get("trainq:request-id"),
                "experiment": meta.get("trainq:experiment"),
            }));
        }
    }
    if json {
        output::json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        crate::say!("no model packages");
        return Ok(());
    }
    let mut table = Table::new(&[
        "group",
        "version",
        "approval",
        "metrics",
        "experiment",
        "arn",
    ]);
    for r in &rows {
        let metrics: Vec<String> = r["metrics"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        table.row(vec![
            or_dash(r["group"].as_str()),
            or_dash(r["version"].as_i64()),
            or_dash(r["approval"].as_str()),
            metrics.join(" "),
            or_dash(r["experiment"].as_str()),
            or_dash(r["arn"].as_str()),
        ]);
    }
    crate::say!("{}", table.render());
    Ok(())
}

/// Runs `trainq models approve` / `reject`.
pub async fn decide(
    ctx: &Context,
    arn: &str,
    approve: bool,
    reason: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let sm = ctx.sagemaker();
    let current = describe_package(ctx, arn).await?;
    let status = if approve {
        ModelApprovalStatus::Approved
    } else {
        ModelApprovalStatus::Rejected
    };
    let who = std::env::var("USER").unwrap_or_else(|_| "an operator".into());
    let description = match reason {
        Some(r) => format!("{} by {who}: {r}", status.as_str()),
        None => format!("{} by {who}", status.as_str()),
    };
    sm.update_model_package()
        .model_package_arn(arn)
        .model_approval_status(status.clone())
        .approval_description(description)
        // Sent back unchanged: AWS merges, but moto replaces the properties on update.
        .set_customer_metadata_properties(current.customer_metadata_properties().cloned())
        .send()
        .await
        .map_err(|e| aws("UpdateModelPackage", e))?;
    if json {
        output::json(&json!({"arn": arn, "approval": status.as_str()}));
    } else {
        crate::say!("{arn}: {}", status.as_str());
    }
    Ok(())
}

/// DescribeModelPackage of `arn`; a package that does not exist is `NotFound`.
pub(crate) async fn describe_package(
    ctx: &Context,
    arn: &str,
) -> Result<
    aws_sdk_sagemaker::operation::describe_model_package::DescribeModelPackageOutput,
    CliError,
> {
    ctx.sagemaker()
        .describe_model_package()
        .model_package_name(arn)
        .send()
        .await
        .map_err(|e| {
            let err = aws("DescribeModelPackage", e);
            if err.status == Status::Invalid {
                CliError::new(Status::NotFound, format!("no model package {arn}"))
                    .hint("`trainq models list` shows them")
            } else {
                err
            }
        })
}
