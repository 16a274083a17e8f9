//! What each caller reads from DynamoDB, counted at the front door from moto's answers: how a
//! test shows a command's reads stay bounded however large the table grows.

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::CredentialScope;

/// One caller's DynamoDB reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamoReads {
    /// Scan calls: a listing that reads the whole table.
    pub scans: u64,
    /// Those scans by the table they read.
    #[serde(default)]
    pub scans_by_table: std::collections::BTreeMap<String, u64>,
    /// Query calls.
    pub queries: u64,
    /// GetItem calls.
    pub gets: u64,
    /// BatchGetItem calls.
    pub batch_gets: u64,
    /// Items read: Query's and Scan's `ScannedCount` (entries of an index, or records),
    /// the items GetItem and BatchGetItem returned.
    pub items_read: u64,
    /// Those items by the table they were read from.
    #[serde(default)]
    pub items_by_table: std::collections::BTreeMap<String, u64>,
    /// Bytes of the answers: what read units grow with (4 KB each on AWS).
    pub bytes_read: u64,
}

/// The DynamoDB read operation a call is, if it is one.
pub(super) fn read_operation(headers: &HeaderMap) -> Option<&'static str> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    let op = target.strip_prefix("DynamoDB_20120810.")?;
    ["Scan", "Query", "GetItem", "BatchGetItem"]
        .into_iter()
        .find(|known| *known == op)
}

/// The access key a call was signed with (who reads).
pub(super) fn reader(headers: &HeaderMap) -> String {
    CredentialScope::of(headers).map_or_else(|| "-".to_owned(), |s| s.access_key)
}

impl DynamoReads {
    /// Counts one successful `operation` asked by `request` whose answer is `answer`.
    pub(super) fn count(&mut self, operation: &str, request: &[u8], answer: &[u8]) {
        let value: Value = serde_json::from_slice(answer).unwrap_or_default();
        let asked: Value = serde_json::from_slice(request).unwrap_or_default();
        let table = asked["TableName"].as_str().unwrap_or("-").to_owned();
        let mut read = |table: &str, items: u64| {
            self.items_read += items;
            *self.items_by_table.entry(table.to_owned()).or_default() += items;
        };
        match operation {
            "Scan" | "Query" => {
                read(&table, value["ScannedCount"].as_u64().unwrap_or(0));
                if operation == "Scan" {
                    self.scans += 1;
                    *self.scans_by_table.entry(table).or_default() += 1;
                } else {
                    self.queries += 1;
                }
            }
            "GetItem" => {
                read(&table, u64::from(value.get("Item").is_some()));
                self.gets += 1;
            }
            _ => {
                for (table, items) in value["Responses"].as_object().into_iter().flatten() {
                    read(table, items.as_array().map_or(0, |i| i.len() as u64));
                }
                self.batch_gets += 1;
            }
        }
        self.bytes_read += answer.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_their_items() {
        let mut reads = DynamoReads::default();
        reads.count(
            "Query",
            b"{}",
            br#"{"Count":2,"ScannedCount":5,"Items":[{},{}]}"#,
        );
        reads.count("GetItem", b"{}", br#"{"Item":{"a":{"S":"b"}}}"#);
        reads.count("GetItem", b"{}", b"{}");
        reads.count("BatchGetItem", b"{}", br#"{"Responses":{"t":[{},{},{}]}}"#);
        reads.count("Scan", br#"{"TableName":"t"}"#, br#"{"ScannedCount":7}"#);
        assert_eq!(
            (reads.queries, reads.gets, reads.batch_gets, reads.scans),
            (1, 2, 1, 1)
        );
        assert_eq!(reads.items_read, 5 + 1 + 3 + 7);
        assert_eq!(reads.scans_by_table["t"], 1);
        assert_eq!(reads.items_by_table["t"], 10);
        assert!(reads.bytes_read > 50);
    }
}
