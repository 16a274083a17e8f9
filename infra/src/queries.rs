//! Reading the jobs table the way people look at it: by state, by customer and project, by
//! experiment (the three indexes), or everything; newest first, paginated through.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use trainq_common::{JobRecord, ServiceError};

use crate::dynamo::{collect_query, from_item, index};
use crate::errors::classify;

/// Which records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Records in a state, by `updated_at`.
    State(String),
    /// A customer's project (`customer#project`), by `created_at`.
    Project(String),
    /// An experiment's trials, by `created_at`.
    Experiment(String),
    /// Every record (a scan), sorted by `created_at` here.
    All,
}

/// Queries over the jobs table.
#[derive(Clone)]
pub struct JobQueries {
    client: Client,
    table: String,
}

impl JobQueries {
    /// Queries over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Up to `limit` records of `selection` whose sort time (`updated_at` for a state,
    /// `created_at` otherwise) is at or after `since` (RFC 3339), newest first.
    pub async fn select(
        &self,
        selection: &Selection,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, ServiceError> {
        let (index, key, value, range) = match selection {
            Selection::State(s) => (index::BY_STATE, "state", s, "updated_at"),
            Selection::Project(p) => (index::BY_PROJECT, "customer_project", p, "created_at"),
            Selection::Experiment(e) => (index::BY_EXPERIMENT, "experiment_id", e, "created_at"),
            Selection::All => return self.scan(since, limit).await,
        };
        let mut condition = "#k = :k".to_owned();
        let mut names = HashMap::from([("#k".to_owned(), key.to_owned())]);
        let mut values = HashMap::from([(":k".to_owned(), AttributeValue::S(value.clone()))]);
        if let Some(since) = since {
            condition.push_str(" AND #r >= :since");
            names.insert("#r".into(), range.into());
            values.insert(":since".into(), AttributeValue::S(since.to_owned()));
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(&condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(false);
        collect_query(query, limit).await
    }

    async fn scan(
        &self,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, ServiceError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start);
            if let Some(since) = since {
                request = request
                    .filter_expression("created_at >= :since")
                    .expression_attribute_values(":since", AttributeValue::S(since.to_owned()));
            }
            let out = request.send().await.map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                records.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        records.truncate(limit);
        Ok(records)
    }
}
