//! How the jobs table is laid out for reading at ten million records: its secondary indexes,
//! the write shards that keep any one index partition cool, and the attributes derived from a
//! record that key and feed them (written with every record, never read back into it).
//!
//! Each index projects only what its queries need: keys for listings (a page's records are
//! then read by key, see [`crate::batch_get`]), and the billing summary for `trainq costs`.
//! An index whose key and projected attributes a write leaves unchanged is not written at
//! all, so most record writes cost one small index write (the state index's moving key).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use trainq_common::JobRecord;
use trainq_common::state::JobState;
use uuid::Uuid;

/// Names of the table's secondary indexes.
pub mod index {
    /// Records whose outbox holds undelivered alerts (a sparse index keyed by
    /// `alerts_pending`, by `updated_at`, keys only): what the reconcile delivers.
    pub const PENDING_ALERTS: &str = "pending-alerts";
    /// By `state_shard` (`<state>#<shard>`), by `updated_at`; keys, `defer_count`, customer,
    /// project and registry: the reconcile's stale records, `jobs list --state`, `status`.
    pub const BY_STATE: &str = "by-state-shard";
    /// By `created_shard`, by `created_at`; keys, customer, project, registry and billing:
    /// the newest requests of the whole table, and `trainq costs` over a window.
    pub const BY_CREATED: &str = "by-created";
    /// By `customer_project`, by `created_at`, keys only.
    pub const BY_PROJECT: &str = "by-project";
    /// By `experiment_id`, by `created_at`, keys only: a research sweep's trials.
    pub const BY_EXPERIMENT: &str = "by-experiment";
    /// The waiting room: `Queued` records only (a sparse index), by `queue_class` (the class
    /// rank) and `queue_order` (customer, age, id), projecting only their `waiting` place.
    pub const WAITING_ROOM: &str = "waiting-room";
}

/// Write shards of the state and creation-time indexes. A state (`InProgress`) or a day's
/// requests would otherwise all write one index partition (DynamoDB's per-partition limit is
/// 1,000 writes/s); eight give each state 8,000/s, and a listing reads eight partitions.
pub const SHARDS: u8 = 8;

/// The shard a request's index entries live in: spread evenly by its (random or hashed) id.
pub fn shard_of(request_id: Uuid) -> u8 {
    (request_id.as_u128() % u128::from(SHARDS)) as u8
}

/// The by-state index's partition key of `state`'s `shard`.
pub fn state_key(state: JobState, shard: u8) -> String {
    format!("{}#{shard}", state.as_str())
}

/// The by-created index's partition key of `shard`.
pub fn created_key(shard: u8) -> String {
    format!("c#{shard}")
}

/// The attributes the indexes read that are not fields of the record: the shard keys and
/// the billing summary.
pub fn derived_attributes(record: &JobRecord) -> HashMap<String, AttributeValue> {
    let shard = shard_of(record.request_id);
    let mut out = HashMap::from([
        (
            "state_shard".to_owned(),
            AttributeValue::S(state_key(record.state, shard)),
        ),
        (
            "created_shard".to_owned(),
            AttributeValue::S(created_key(shard)),
        ),
    ]);
    if let Ok(billing) = serde_dynamo::to_attribute_value(record.billing()) {
        out.insert("billing".to_owned(), billing);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_spread_over_every_shard_and_keys_name_state_and_shard() {
        let mut seen = [0u32; SHARDS as usize];
        for _ in 0..800 {
            seen[shard_of(Uuid::new_v4()) as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "uneven shards: {seen:?}");
        assert_eq!(state_key(JobState::InProgress, 3), "InProgress#3");
        let r = JobRecord::new(Uuid::from_u128(13), JobState::Queued);
        let attrs = derived_attributes(&r);
        assert_eq!(attrs["state_shard"].as_s().unwrap(), "Queued#5");
        assert_eq!(attrs["created_shard"].as_s().unwrap(), "c#5");
        assert!(attrs["billing"].as_m().is_ok());
    }
}
