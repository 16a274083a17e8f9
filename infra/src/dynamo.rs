//! The jobs table adapter: one item per request, written only with conditional writes.
//!
//! Table layout (the CloudFormation template and the integration tests create the same):
//! key `request_id` (S); the secondary indexes and their shards are in [`crate::table_layout`].

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use trainq_common::outbox::PENDING;
use trainq_common::ports::{JobStore, StaleCursor, StalePage, Write};
use trainq_common::scheduling::Place;
use trainq_common::state::JobState;
use trainq_common::{JobRecord, ServiceError};
use uuid::Uuid;

use crate::errors::classify;
use crate::table_layout::{SHARDS, derived_attributes, state_key};

pub use crate::table_layout::index;

/// The most queries one look at the waiting room makes (one per class and customer waiting):
/// past it, the customers after in the index's order wait for the next look.
const WAITING_QUERIES: usize = 500;

/// [`JobStore`] over a DynamoDB table.
#[derive(Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    /// An adapter for the table named `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn conditional_put(
        &self,
        record: &JobRecord,
        condition: &str,
        values: Option<HashMap<String, AttributeValue>>,
    ) -> Result<Write, ServiceError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Write::Written),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                let PutItemError::ConditionalCheckFailedException(failed) = e.into_err() else {
                    unreachable!("matched above")
                };
                let current = match failed.item {
                    Some(item) => Some(Box::new(from_item(item)?)),
                    None => None,
                };
                Ok(Write::Conflict(current))
            }
            Err(e) => Err(classify(e)),
        }
    }
}

impl JobStore for DynamoJobStore {
    async fn put_new(&self, record: &JobRecord) -> Result<Write, ServiceError> {
        self.conditional_put(record, "attribute_not_exists(request_id)", None)
            .await
    }

    async fn put_if_version(
        &self,
        record: &JobRecord,
        expected_version: u64,
    ) -> Result<Write, ServiceError> {
        let values = HashMap::from([(
            ":expected".to_owned(),
            AttributeValue::N(expected_version.to_string()),
        )]);
        self.conditional_put(record, "version = :expected", Some(values))
            .await
    }

    async fn get(&self, request_id: Uuid) -> Result<Option<JobRecord>, ServiceError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("request_id", AttributeValue::S(request_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }

    async fn list_stale(
        &self,
        state: JobState,
        updated_before: &str,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> Result<StalePage, ServiceError> {
        // The shards in turn, each oldest first, from where the last page stopped: a page
        // ends in a shard (its `next` points into it) or after the last one (`next` is None).
        let mut shard = after.map_or(0, |c| c.shard.min(SHARDS - 1));
        let mut start = after.map(|c| stale_start(state, c));
        let mut keys: Vec<(u8, String, Uuid)> = Vec::new();
        let next = loop {
            let wanted = limit - keys.len();
            let found = self
                .stale_keys(state, shard, updated_before, wanted + 1, start.take())
                .await?;
            let full = found.len() > wanted;
            keys.extend(
                found
                    .into_iter()
                    .take(wanted)
                    .map(|(at, id)| (shard, at, id)),
            );
            let last = keys.last().map(|(s, at, id)| StaleCursor {
                shard: *s,
                updated_at: at.clone(),
                request_id: *id,
            });
            if full || (keys.len() == limit && shard + 1 < SHARDS) {
                break last;
            }
            if shard + 1 == SHARDS {
                break None;
            }
            shard += 1;
        };
        let ids: Vec<Uuid> = keys.iter().map(|(_, _, id)| *id).collect();
        let records = crate::batch_get::get_records(&self.client, &self.table, &ids).await?;
        Ok(StalePage { records, next })
    }

    async fn pending_alerts(
        &self,
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Uuid>, ServiceError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index::PENDING_ALERTS)
            .key_condition_expression("alerts_pending = :p AND updated_at < :before")
            .expression_attribute_values(":p", AttributeValue::S(PENDING.into()))
            .expression_attribute_values(":before", AttributeValue::S(updated_before.into()));
        let items = collect_items(query, limit).await?;
        Ok(items.iter().filter_map(uuid).collect())
    }

    async fn waiting(
        &self,
        ranks: u32,
        per_customer: usize,
    ) -> Result<Vec<(Uuid, Place)>, ServiceError> {
        let mut out = Vec::new();
        let mut budget = WAITING_QUERIES;
        for rank in 0..ranks {
            self.waiting_in(rank, per_customer, &mut budget, &mut out)
                .await?;
        }
        if budget == 0 {
            tracing::warn!(
                queries = WAITING_QUERIES,
                "the waiting room has more customers than one look reads; the rest wait for the next"
            );
        }
        Ok(out)
    }
}

impl DynamoJobStore {
    /// Up to `limit` (`updated_at`, id) of `state`'s `shard` last written before `before`,
    /// oldest first, after `start` (an ExclusiveStartKey of the by-state index).
    async fn stale_keys(
        &self,
        state: JobState,
        shard: u8,
        before: &str,
        limit: usize,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<(String, Uuid)>, ServiceError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index::BY_STATE)
            .key_condition_expression("state_shard = :s AND updated_at < :before")
            .expression_attribute_values(":s", AttributeValue::S(state_key(state, shard)))
            .expression_attribute_values(":before", AttributeValue::S(before.into()))
            .scan_index_forward(true)
            .set_exclusive_start_key(start);
        let items = collect_items(query, limit).await?;
        Ok(items
            .iter()
            .filter_map(|i| Some((string(i, "updated_at")?, uuid(i)?)))
            .collect())
    }

    /// The oldest `per_customer` waiting requests of every customer in class `rank`: a
    /// skip-scan of the index, one query per customer, each starting after the last customer
    /// seen. `budget` counts the queries left.
    async fn waiting_in(
        &self,
        rank: u32,
        per_customer: usize,
        budget: &mut usize,
        out: &mut Vec<(Uuid, Place)>,
    ) -> Result<(), ServiceError> {
        let mut after: Option<String> = None;
        while *budget > 0 {
            *budget -= 1;
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index::WAITING_ROOM)
                .expression_attribute_values(":rank", AttributeValue::S(rank.to_string()))
                .limit(i32::try_from(per_customer.max(1)).unwrap_or(i32::MAX))
                .scan_index_forward(true);
            query = match &after {
                Some(cursor) => query
                    .key_condition_expression("queue_class = :rank AND queue_order > :after")
                    .expression_attribute_values(":after", AttributeValue::S(cursor.clone())),
                None => query.key_condition_expression("queue_class = :rank"),
            };
            let page = query.send().await.map_err(classify)?;
            let items = page.items.unwrap_or_default();
            let Some(last) = items.last() else {
                return Ok(());
            };
            let last_customer = last
                .get("queue_order")
                .and_then(|v| v.as_s().ok())
                .and_then(|o| o.split('#').next())
                .unwrap_or_default()
                .to_owned();
            for item in &items {
                let id = item
                    .get("request_id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| Uuid::parse_str(s).ok());
                let place = item
                    .get("waiting")
                    .cloned()
                    .and_then(|v| serde_dynamo::from_attribute_value::<_, Place>(v).ok());
                if let (Some(id), Some(place)) = (id, place) {
                    out.push((id, place));
                }
            }
            if page.last_evaluated_key.is_none() {
                return Ok(());
            }
            // Customer slugs are `[a-z0-9-]`: `~` sorts after every entry of the last one.
            after = Some(format!("{last_customer}#~"));
        }
        Ok(())
    }
}

/// Runs `query` page after page until `limit` items are read or none are left; each page
/// asks only for what is still wanted.
pub(crate) async fn collect_items(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    limit: usize,
) -> Result<Vec<HashMap<String, AttributeValue>>, ServiceError> {
    let mut items = Vec::new();
    // The first page starts where the query says (its own ExclusiveStartKey, if any).
    let mut start = query.get_exclusive_start_key().clone();
    while limit > items.len() {
        let wanted = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
        let out = query
            .clone()
            .limit(wanted)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    items.truncate(limit);
    Ok(items)
}

/// A string attribute of an item.
pub(crate) fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

/// The `request_id` of an item.
pub(crate) fn uuid(item: &HashMap<String, AttributeValue>) -> Option<Uuid> {
    item.get("request_id")?.as_s().ok()?.parse().ok()
}

/// The by-state index's ExclusiveStartKey after `cursor`: the table's key and the index's.
fn stale_start(state: JobState, cursor: &StaleCursor) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "request_id".to_owned(),
            AttributeValue::S(cursor.request_id.to_string()),
        ),
        (
            "state_shard".to_owned(),
            AttributeValue::S(state_key(state, cursor.shard)),
        ),
        (
            "updated_at".to_owned(),
            AttributeValue::S(cursor.updated_at.clone()),
        ),
    ])
}

/// The item a record is stored as: its fields, fitted to the size budget, and the attributes
/// the indexes read (see [`crate::table_layout`]).
pub fn to_item(record: &JobRecord) -> Result<HashMap<String, AttributeValue>, ServiceError> {
    // The last guard of the item limit: a write over 400 KB would fail for ever.
    let fitted;
    let record = if record.size() > trainq_common::record_size::MAX_RECORD_BYTES {
        let mut smaller = record.clone();
        smaller.fit();
        tracing::warn!(request_id = %record.request_id, "record over its size budget; older detail dropped");
        fitted = smaller;
        &fitted
    } else {
        record
    };
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(record)
        .map_err(|e| ServiceError::Invalid(format!("record to item: {e}")))?;
    item.extend(derived_attributes(record));
    Ok(item)
}

/// Reads a stored item; an item this code cannot read is reported, not guessed at.
pub fn from_item(item: HashMap<String, AttributeValue>) -> Result<JobRecord, ServiceError> {
    serde_dynamo::from_item(item)
        .map_err(|e| ServiceError::Permanent(format!("unreadable job record: {e}")))
}
