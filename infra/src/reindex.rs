//! The one scan trainq makes of its jobs table, asked for by name (`trainq reindex`): records
//! written by a release before the sharded indexes lack the attributes those indexes are keyed
//! on (see [`crate::table_layout`]), so listings cannot see them until they are written again.
//! This adds the attributes to every such record, once, without touching anything else.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use trainq_common::ServiceError;

use crate::dynamo::from_item;
use crate::errors::classify;
use crate::table_layout::derived_attributes;

/// What a reindex did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReindexReport {
    /// Records read.
    pub scanned: usize,
    /// Records given their index attributes.
    pub updated: usize,
    /// Records written by someone else meanwhile (whose write added the attributes).
    pub raced: usize,
    /// Items that are no readable record, left as they are.
    pub unreadable: usize,
}

/// Gives every record of `table` that lacks them its index attributes; `progress` is told the
/// report after each page.
pub async fn reindex(
    client: &Client,
    table: &str,
    mut progress: impl FnMut(&ReindexReport),
) -> Result<ReindexReport, ServiceError> {
    let mut report = ReindexReport::default();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        for item in page.items.unwrap_or_default() {
            report.scanned += 1;
            if item.contains_key("created_shard") && item.contains_key("state_shard") {
                continue;
            }
            let Ok(record) = from_item(item) else {
                report.unreadable += 1;
                continue;
            };
            if add_attributes(client, table, &record).await? {
                report.updated += 1;
            } else {
                report.raced += 1;
            }
        }
        progress(&report);
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(report);
        }
    }
}

/// Sets `record`'s index attributes if it is still the version read; `false` if it is not.
async fn add_attributes(
    client: &Client,
    table: &str,
    record: &trainq_common::JobRecord,
) -> Result<bool, ServiceError> {
    let mut update = client
        .update_item()
        .table_name(table)
        .key(
            "request_id",
            AttributeValue::S(record.request_id.to_string()),
        )
        .condition_expression("version = :version")
        .expression_attribute_values(":version", AttributeValue::N(record.version.to_string()));
    let mut sets = Vec::new();
    for (name, value) in derived_attributes(record) {
        sets.push(format!("{name} = :{name}"));
        update = update.expression_attribute_values(format!(":{name}"), value);
    }
    sets.sort();
    match update
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
        {
            Ok(false)
        }
        Err(e) => Err(classify(e)),
    }
}
