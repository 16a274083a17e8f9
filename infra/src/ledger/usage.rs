//! The ledger's two counters beside the pools: customers' decayed usage (the fair share's
//! memory) and the CreateTrainingJob call rate.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use trainq_common::ServiceError;
use trainq_common::scheduling::Usage;

use super::{CALLS, DynamoCapacityLedger, USAGE, conditional, n, number};
use crate::errors::classify;

/// How often a usage charge is tried again when a concurrent charge changed the item first
/// (each try waits a little longer, with jitter, so racing charges spread out).
const CHARGE_TRIES: u64 = 30;

/// A wait of up to `5 · attempt` ms, varied by the clock's nanoseconds (no RNG needed for
/// spreading a handful of racing writers).
fn jitter_ms(attempt: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    1 + nanos % (5 * attempt.min(20))
}

impl DynamoCapacityLedger {
    /// [`trainq_common::ports::CapacityLedger::usage`].
    pub(super) async fn usage_of(
        &self,
        customers: &[String],
    ) -> Result<BTreeMap<String, Usage>, ServiceError> {
        let items = self
            .items(customers.iter().map(|c| format!("{USAGE}{c}")).collect())
            .await?;
        Ok(customers
            .iter()
            .filter_map(|c| {
                let item = items.get(&format!("{USAGE}{c}"))?;
                Some((
                    c.clone(),
                    Usage {
                        instance_seconds: number(item.get("instance_seconds")),
                        at_ms: number(item.get("at_ms")),
                    },
                ))
            })
            .collect())
    }

    /// [`trainq_common::ports::CapacityLedger::charge`].
    pub(super) async fn charge_usage(
        &self,
        customer: &str,
        instance_seconds: f64,
        now_ms: i64,
        half_life_s: f64,
    ) -> Result<(), ServiceError> {
        let id = format!("{USAGE}{customer}");
        for attempt in 0..CHARGE_TRIES {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(jitter_ms(attempt))).await;
            }
            let item = self.item(id.clone()).await?;
            let old = Usage {
                instance_seconds: number(item.get("instance_seconds")),
                at_ms: number(item.get("at_ms")),
            };
            let new = old.add(instance_seconds, now_ms, half_life_s);
            // Optimistic: written only over the usage read, so no charge is lost to a race.
            let mut update = self
                .update(id.clone())
                .update_expression("SET instance_seconds = :s, at_ms = :at")
                .expression_attribute_values(":s", n(format!("{:.3}", new.instance_seconds)))
                .expression_attribute_values(":at", n(new.at_ms));
            update = match item.get("at_ms") {
                Some(at) => update
                    .condition_expression("at_ms = :old AND instance_seconds = :olds")
                    .expression_attribute_values(":old", at.clone())
                    .expression_attribute_values(
                        ":olds",
                        item.get("instance_seconds").cloned().unwrap_or(n(0)),
                    ),
                None => update.condition_expression("attribute_not_exists(at_ms)"),
            };
            if conditional(update).await? {
                return Ok(());
            }
        }
        Err(ServiceError::Transient(format!(
            "usage of {customer}: the item kept changing"
        )))
    }

    /// [`trainq_common::ports::CapacityLedger::call_slot`].
    pub(super) async fn take_call(
        &self,
        per_second: u32,
        now_ms: i64,
    ) -> Result<bool, ServiceError> {
        let second = now_ms.div_euclid(1000);
        for _ in 0..2 {
            let result = self
                .update(CALLS.into())
                .update_expression("ADD calls :one")
                .condition_expression("#s = :s AND calls < :rate")
                .expression_attribute_names("#s", "second")
                .expression_attribute_values(":s", n(second))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":rate", n(per_second))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match result {
                Ok(_) => return Ok(true),
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(f)) => {
                        f.item.clone().unwrap_or_default()
                    }
                    _ => return Err(classify(e)),
                },
            };
            let stored: i64 = number(old.get("second"));
            if stored >= second {
                return Ok(false); // this second's calls are spent
            }
            if self.start_second(second).await? {
                return Ok(true);
            }
            // Another caller started the second first: count this call against it.
        }
        Ok(false)
    }
}
