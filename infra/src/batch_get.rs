//! Reading many items by key (BatchGetItem): a page of records after a query of a keys-only
//! index, the capacity ledger's pools.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use trainq_common::{JobRecord, ServiceError};
use uuid::Uuid;

use crate::dynamo::from_item;
use crate::errors::classify;

/// An item, or a key, as the SDK holds it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// BatchGetItem's limit of keys per call.
const KEYS_PER_CALL: usize = 100;

/// How often keys DynamoDB left unprocessed (throttling, the 16 MB answer limit) are asked
/// again before the read fails as throttled.
const UNPROCESSED_TRIES: u32 = 8;

/// The items of `keys` (each key once) that exist in `table`, in no particular order;
/// strongly consistent reads.
pub(crate) async fn get_items(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
) -> Result<Vec<Item>, ServiceError> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_CALL) {
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(chunk.to_vec()))
            .consistent_read(true)
            .build()
            .map_err(|e| ServiceError::Invalid(format!("batch get keys: {e}")))?;
        let mut tries = 0;
        loop {
            let out = client
                .batch_get_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(classify)?;
            found.extend(
                out.responses
                    .unwrap_or_default()
                    .remove(table)
                    .unwrap_or_default(),
            );
            match out.unprocessed_keys.unwrap_or_default().remove(table) {
                Some(left) if !left.keys.is_empty() => {
                    tries += 1;
                    if tries >= UNPROCESSED_TRIES {
                        return Err(ServiceError::Throttled(format!(
                            "BatchGetItem left {} keys of {table} unprocessed {tries} times",
                            left.keys.len()
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(50 << tries.min(5))).await;
                    pending = left;
                }
                _ => break,
            }
        }
    }
    Ok(found)
}

/// The records of `ids` that exist, in the order of `ids` (strongly consistent reads).
pub async fn get_records(
    client: &Client,
    table: &str,
    ids: &[Uuid],
) -> Result<Vec<JobRecord>, ServiceError> {
    let mut unique: Vec<Uuid> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let keys = unique
        .iter()
        .map(|id| HashMap::from([("request_id".to_owned(), AttributeValue::S(id.to_string()))]))
        .collect();
    let mut found: HashMap<Uuid, JobRecord> = HashMap::with_capacity(ids.len());
    for item in get_items(client, table, keys).await? {
        let record = from_item(item)?;
        found.insert(record.request_id, record);
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}
