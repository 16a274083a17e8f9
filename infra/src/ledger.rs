//! The capacity ledger over DynamoDB: one item per pool, keyed `pool`
//! (`ml.g5.xlarge/spot`), with `used` (instances held) and one attribute per holder
//! (`holder:<job name>` → instances). A take is one conditional update — the holder absent
//! and `used` at most `limit − count` — so holders never exceed the limit, whatever the
//! interleaving; a release removes the holder and subtracts exactly what it held, on the
//! condition that it still holds that.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use trainq_common::ServiceError;
use trainq_common::ports::{CapacityLedger, Taken};
use trainq_common::scheduling::Pool;

use crate::errors::classify;

/// The prefix of the attributes that name holders.
const HOLDER: &str = "holder:";
/// How often a release is tried again when the pool changed under it.
const RELEASE_TRIES: usize = 5;

/// [`CapacityLedger`] over a DynamoDB table keyed `pool` (S).
#[derive(Clone)]
pub struct DynamoCapacityLedger {
    client: Client,
    table: String,
}

impl DynamoCapacityLedger {
    /// An adapter for the table named `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn item(&self, pool: &Pool) -> Result<HashMap<String, AttributeValue>, ServiceError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pool", AttributeValue::S(pool.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.unwrap_or_default())
    }
}

fn number(v: Option<&AttributeValue>) -> u32 {
    v.and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl CapacityLedger for DynamoCapacityLedger {
    async fn take(
        &self,
        pool: &Pool,
        holder: &str,
        count: u32,
        limit: u32,
    ) -> Result<Taken, ServiceError> {
        if count == 0 || count > limit {
            return Ok(Taken::Full {
                used: number(self.item(pool).await?.get("used")),
            });
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pool", AttributeValue::S(pool.to_string()))
            .update_expression("SET #holder = :count, #limit = :limit ADD used :count")
            .condition_expression(
                "attribute_not_exists(#holder) AND (attribute_not_exists(used) OR used <= :room)",
            )
            .expression_attribute_names("#holder", format!("{HOLDER}{holder}"))
            .expression_attribute_names("#limit", "limit")
            .expression_attribute_values(":count", AttributeValue::N(count.to_string()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":room", AttributeValue::N((limit - count).to_string()))
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

    async fn release(&self, pool: &Pool, holder: &str) -> Result<(), ServiceError> {
        let name = format!("{HOLDER}{holder}");
        for _ in 0..RELEASE_TRIES {
            let item = self.item(pool).await?;
            let Some(held) = item.get(&name) else {
                return Ok(());
            };
            let count = number(Some(held));
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pool", AttributeValue::S(pool.to_string()))
                .update_expression("REMOVE #holder ADD used :minus")
                .condition_expression("#holder = :count")
                .expression_attribute_names("#holder", &name)
                .expression_attribute_values(":count", AttributeValue::N(count.to_string()))
                .expression_attribute_values(":minus", AttributeValue::N(format!("-{count}")))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    continue;
                }
                Err(e) => return Err(classify(e)),
            }
        }
        Err(ServiceError::Transient(format!(
            "release of {holder} from {pool}: the pool kept changing"
        )))
    }

    async fn holders(&self, pool: &Pool) -> Result<BTreeMap<String, u32>, ServiceError> {
        Ok(self
            .item(pool)
            .await?
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(HOLDER)?.to_owned(), number(Some(v)))))
            .collect())
    }
}
