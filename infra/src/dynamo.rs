//! The jobs table adapter: one item per request, written only with conditional writes.
//!
//! Table layout (the CloudFormation template and the integration tests create the same):
//! key `request_id` (S); indexes `by-state` (`state`, `updated_at`), `by-project`
//! (`customer_project`, `created_at`) and `by-experiment` (`experiment_id`, `created_at`).

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

/// Names of the table's secondary indexes.
pub mod index {
    /// Records whose outbox holds undelivered alerts (a sparse index keyed by
    /// `alerts_pending`, by `updated_at`, keys only): what the reconcile delivers.
    pub const PENDING_ALERTS: &str = "pending-alerts";
    /// By `state`, newest `updated_at` first: the on-call "what is stuck" view.
    pub const BY_STATE: &str = "by-state";
    /// By `customer_project`, by `created_at`.
    pub const BY_PROJECT: &str = "by-project";
    /// By `experiment_id`, by `created_at`: a research sweep's trials.
    pub const BY_EXPERIMENT: &str = "by-experiment";
    /// The waiting room: `Queued` records only (a sparse index), by `queue_class` (the class
    /// rank) and `queue_order` (customer, age, id), projecting only their `waiting` place.
    pub const WAITING_ROOM: &str = "waiting-room";
}

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
        // The index's pages start after a key: the table's and the index's (DynamoDB's
        // ExclusiveStartKey of a GSI query), so records with equal `updated_at` are not skipped.
        let start = after.map(|c| {
            HashMap::from([
                (
                    "request_id".to_owned(),
                    AttributeValue::S(c.request_id.to_string()),
                ),
                ("state".to_owned(), AttributeValue::S(state.as_str().into())),
                (
                    "updated_at".to_owned(),
                    AttributeValue::S(c.updated_at.clone()),
                ),
            ])
        });
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index::BY_STATE)
            .key_condition_expression("#state = :state AND updated_at < :before")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", AttributeValue::S(state.as_str().into()))
            .expression_attribute_values(":before", AttributeValue::S(updated_before.into()))
            .scan_index_forward(true)
            .set_exclusive_start_key(start);
        // One more than asked says whether a next page exists.
        let mut records = collect_query(query, limit + 1).await?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next = more.then(|| records.last()).flatten().map(|r| StaleCursor {
            shard: 0,
            updated_at: r.updated_at.clone(),
            request_id: r.request_id,
        });
        Ok(StalePage { records, next })
    }

    async fn pending_alerts(
        &self,
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Uuid>, ServiceError> {
        let mut ids = Vec::new();
        let mut start = None;
        while ids.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index::PENDING_ALERTS)
                .key_condition_expression("alerts_pending = :p AND updated_at < :before")
                .expression_attribute_values(":p", AttributeValue::S(PENDING.into()))
                .expression_attribute_values(":before", AttributeValue::S(updated_before.into()))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            ids.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|i| i.get("request_id")?.as_s().ok()?.parse::<Uuid>().ok()),
            );
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        ids.truncate(limit);
        Ok(ids)
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

/// Runs `query` page after page until `limit` records are read or none are left.
pub(crate) async fn collect_query(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    limit: usize,
) -> Result<Vec<JobRecord>, ServiceError> {
    let mut records = Vec::new();
    // The first page starts where the query says (its own ExclusiveStartKey, if any).
    let mut start = query.get_exclusive_start_key().clone();
    while limit > records.len() {
        let out = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        for item in out.items.unwrap_or_default() {
            records.push(from_item(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    records.truncate(limit);
    Ok(records)
}

fn to_item(record: &JobRecord) -> Result<HashMap<String, AttributeValue>, ServiceError> {
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
    serde_dynamo::to_item(record).map_err(|e| ServiceError::Invalid(format!("record to item: {e}")))
}

/// Reads a stored item; an item this code cannot read is reported, not guessed at.
pub fn from_item(item: HashMap<String, AttributeValue>) -> Result<JobRecord, ServiceError> {
    serde_dynamo::from_item(item)
        .map_err(|e| ServiceError::Permanent(format!("unreadable job record: {e}")))
}
