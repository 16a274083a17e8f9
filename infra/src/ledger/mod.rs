//! The capacity ledger over DynamoDB: one table keyed `id` (S) holding
//! - one item per pool (`pool#ml.g5.xlarge/spot`) with `used` (instances held), one attribute
//!   per holder (`holder:<job name>` → `{n, customer}`), and the scheduler's notes on it
//!   (`learned_limit` and `learned_until_ms`, `pressure_since_ms`);
//! - one item per customer (`usage#acme`): decayed instance-seconds and when they were counted;
//! - one item for the CreateTrainingJob call rate (`calls#create-training-job`): the second
//!   and the calls made in it.
//!
//! A take is one conditional update — the holder absent and `used` at most `limit − count` —
//! so holders never exceed the limit, whatever the interleaving; a release removes the holder
//! and subtracts exactly what it held, on the condition that it still holds it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use trainq_common::ServiceError;
use trainq_common::ports::{CapacityLedger, Taken};
use trainq_common::scheduling::{Holding, LearnedLimit, Pool, PoolBook, Usage};

use crate::errors::classify;

mod usage;

/// The prefix of the attributes that name holders.
const HOLDER: &str = "holder:";
/// Key prefixes of the three kinds of item.
const POOL: &str = "pool#";
const USAGE: &str = "usage#";
const CALLS: &str = "calls#create-training-job";
const BOOKMARK: &str = "bookmark#";
/// The dispatcher's doorbell: set by the first slot freed since the last round began.
const DOORBELL: &str = "doorbell";

type Item = HashMap<String, AttributeValue>;

/// [`CapacityLedger`] over a DynamoDB table keyed `id` (S).
#[derive(Clone)]
pub struct DynamoCapacityLedger {
    client: Client,
    table: String,
}

fn key(id: String) -> (String, AttributeValue) {
    ("id".to_owned(), AttributeValue::S(id))
}

fn pool_key(pool: &Pool) -> String {
    format!("{POOL}{pool}")
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number<T: std::str::FromStr + Default>(v: Option<&AttributeValue>) -> T {
    v.and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default()
}

/// Sends a conditional update: `true` if written, `false` if its condition failed.
async fn conditional(update: UpdateItemFluentBuilder) -> Result<bool, ServiceError> {
    match update.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
        {
            Ok(false)
        }
        Err(e) => Err(classify(e)),
    }
}

/// A pool's entry as stored.
fn book(item: &Item) -> PoolBook {
    let holders: BTreeMap<String, Holding> = item
        .iter()
        .filter_map(|(k, v)| {
            let job = k.strip_prefix(HOLDER)?;
            let m = v.as_m().ok()?;
            Some((
                job.to_owned(),
                Holding {
                    count: number(m.get("n")),
                    customer: m
                        .get("customer")
                        .and_then(|c| c.as_s().ok())
                        .cloned()
                        .unwrap_or_default(),
                },
            ))
        })
        .collect();
    let learned = item.get("learned_limit").map(|l| LearnedLimit {
        limit: number(Some(l)),
        until_ms: number(item.get("learned_until_ms")),
    });
    PoolBook {
        used: number(item.get("used")),
        holders,
        learned,
        pressure_since_ms: item.get("pressure_since_ms").map(|v| number(Some(v))),
    }
}

impl DynamoCapacityLedger {
    /// An adapter for the table named `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn item(&self, id: String) -> Result<Item, ServiceError> {
        let (k, v) = key(id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(k, v)
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.unwrap_or_default())
    }

    /// Strongly consistent reads of many items by id (absent items are left out).
    async fn items(&self, ids: Vec<String>) -> Result<HashMap<String, Item>, ServiceError> {
        let keys = ids.into_iter().map(|id| HashMap::from([key(id)])).collect();
        // Boxed: inlined, this future's layout nests too deep for the compiler's query limit in
        // the functions' handlers.
        let items = Box::pin(crate::batch_get::get_items(&self.client, &self.table, keys)).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| Some((item.get("id")?.as_s().ok()?.clone(), item)))
            .collect())
    }

    /// An UpdateItem of the item `id`.
    fn update(&self, id: String) -> UpdateItemFluentBuilder {
        let (k, v) = key(id);
        self.client.update_item().table_name(&self.table).key(k, v)
    }

    /// Starts this second's call count at one (`false` if another caller started it first).
    async fn start_second(&self, second: i64) -> Result<bool, ServiceError> {
        let update = self
            .update(CALLS.into())
            .update_expression("SET #s = :s, calls = :one")
            .condition_expression("attribute_not_exists(#s) OR #s < :s")
            .expression_attribute_names("#s", "second")
            .expression_attribute_values(":s", n(second))
            .expression_attribute_values(":one", n(1));
        conditional(update).await
    }
}

impl CapacityLedger for DynamoCapacityLedger {
    async fn take(
        &self,
        pool: &Pool,
        holder: &str,
        customer: &str,
        count: u32,
        limit: u32,
    ) -> Result<Taken, ServiceError> {
        if count == 0 || count > limit {
            return Ok(Taken::Full {
                used: number(self.item(pool_key(pool)).await?.get("used")),
            });
        }
        let holding = AttributeValue::M(HashMap::from([
            ("n".to_owned(), n(count)),
            (
                "customer".to_owned(),
                AttributeValue::S(customer.to_owned()),
            ),
        ]));
        let result = self
            .update(pool_key(pool))
            .update_expression("SET #holder = :holding, #limit = :limit ADD used :count")
            .condition_expression(
                "attribute_not_exists(#holder) AND (attribute_not_exists(used) OR used <= :room)",
            )
            .expression_attribute_names("#holder", format!("{HOLDER}{holder}"))
            .expression_attribute_names("#limit", "limit")
            .expression_attribute_values(":holding", holding)
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":room", n(limit - count))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Taken::Taken),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let old = failed.item.clone().unwrap_or_default();
                    if old.contains_key(&format!("{HOLDER}{holder}")) {
                        Ok(Taken::AlreadyHeld)
                    } else {
                        Ok(Taken::Full {
                            used: number(old.get("used")),
                        })
                    }
                }
                _ => Err(classify(e)),
            },
        }
    }

    async fn release(&self, pool: &Pool, holder: &str) -> Result<bool, ServiceError> {
        let name = format!("{HOLDER}{holder}");
        let Some(held) = book(&self.item(pool_key(pool)).await?)
            .holders
            .remove(holder)
        else {
            return Ok(false);
        };
        // A holder's count never changes while it holds (one job, one size), so "still
        // holds" is the whole condition: of two racing releases, one subtracts.
        let update = self
            .update(pool_key(pool))
            .update_expression("REMOVE #holder ADD used :minus")
            .condition_expression("attribute_exists(#holder)")
            .expression_attribute_names("#holder", &name)
            .expression_attribute_values(":minus", n(format!("-{}", held.count)));
        conditional(update).await
    }

    async fn pools(&self, pools: &[Pool]) -> Result<BTreeMap<Pool, PoolBook>, ServiceError> {
        let items = self.items(pools.iter().map(pool_key).collect()).await?;
        Ok(pools
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    items.get(&pool_key(p)).map(book).unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn all_pools(&self) -> Result<BTreeMap<Pool, PoolBook>, ServiceError> {
        let mut books = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("begins_with(id, :pool)")
                .expression_attribute_values(":pool", AttributeValue::S(POOL.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                let pool = item
                    .get("id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|id| id.strip_prefix(POOL))
                    .and_then(|p| p.parse::<Pool>().ok());
                if let Some(pool) = pool {
                    books.insert(pool, book(&item));
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(books);
            }
        }
    }

    async fn learn_limit(&self, pool: &Pool, learned: LearnedLimit) -> Result<(), ServiceError> {
        self.update(pool_key(pool))
            .update_expression("SET learned_limit = :limit, learned_until_ms = :until")
            .expression_attribute_values(":limit", n(learned.limit))
            .expression_attribute_values(":until", n(learned.until_ms))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn begin_pressure(&self, pool: &Pool, now_ms: i64) -> Result<bool, ServiceError> {
        let update = self
            .update(pool_key(pool))
            .update_expression("SET pressure_since_ms = :now")
            .condition_expression("attribute_not_exists(pressure_since_ms)")
            .expression_attribute_values(":now", n(now_ms));
        conditional(update).await
    }

    async fn end_pressure(&self, pool: &Pool) -> Result<(), ServiceError> {
        self.update(pool_key(pool))
            .update_expression("REMOVE pressure_since_ms")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn usage(&self, customers: &[String]) -> Result<BTreeMap<String, Usage>, ServiceError> {
        self.usage_of(customers).await
    }

    async fn ring_doorbell(&self, now_ms: i64, stale_ms: i64) -> Result<bool, ServiceError> {
        let update = self
            .update(DOORBELL.to_owned())
            .update_expression("SET rung_ms = :now")
            .condition_expression("attribute_not_exists(rung_ms) OR rung_ms < :stale")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":stale", n(now_ms - stale_ms));
        conditional(update).await
    }

    async fn answer_doorbell(&self) -> Result<(), ServiceError> {
        self.update(DOORBELL.to_owned())
            .update_expression("REMOVE rung_ms")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn bookmark(&self, name: &str) -> Result<Option<String>, ServiceError> {
        let item = self.item(format!("{BOOKMARK}{name}")).await?;
        Ok(item.get("at").and_then(|v| v.as_s().ok()).cloned())
    }

    async fn set_bookmark(&self, name: &str, value: Option<&str>) -> Result<(), ServiceError> {
        let update = self.update(format!("{BOOKMARK}{name}"));
        let update = match value {
            Some(at) => update
                .update_expression("SET #at = :at")
                .expression_attribute_values(":at", AttributeValue::S(at.to_owned())),
            None => update.update_expression("REMOVE #at"),
        };
        update
            .expression_attribute_names("#at", "at")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn charge(
        &self,
        customer: &str,
        instance_seconds: f64,
        now_ms: i64,
        half_life_s: f64,
    ) -> Result<(), ServiceError> {
        self.charge_usage(customer, instance_seconds, now_ms, half_life_s)
            .await
    }

    async fn call_slot(&self, per_second: u32, now_ms: i64) -> Result<bool, ServiceError> {
        self.take_call(per_second, now_ms).await
    }
}
