//! Reading the jobs table the way people look at it, at any size: every listing reads one
//! index newest first (merging its shards), a page of keys at a time, then only the records
//! it shows, by key. Nothing here scans the table. A listing whose filters the index cannot
//! apply stops after a budget of index entries and says so, rather than read on unasked.

use std::cmp::Ordering;
use std::collections::VecDeque;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder as QueryBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use trainq_common::billing::Billing;
use trainq_common::state::JobState;
use trainq_common::{JobRecord, ServiceError};

use crate::batch_get::{Item, get_records};
use crate::dynamo::{index, string, uuid};
use crate::errors::classify;
use crate::table_layout::{SHARDS, created_key, state_key};

/// Which records to read, and through which index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Records in a state, by `updated_at` (the by-state index's shards), narrowed by the
    /// attributes that index projects.
    State(JobState, Narrowing),
    /// A customer's project (`customer#project`), by `created_at`.
    Project(String),
    /// An experiment's trials, by `created_at`.
    Experiment(String),
    /// Every record, by `created_at` (the by-created index's shards), narrowed by the
    /// attributes that index projects.
    Created(Narrowing),
}

/// Conditions the by-state and by-created indexes apply themselves (they project these
/// attributes), so a listing of one registry or customer fetches only its own records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Only this customer's.
    pub customer: Option<String>,
    /// Only this project's (any customer's, unless `customer` says).
    pub project: Option<String>,
    /// Only this registry's (`production`, `research`).
    pub registry: Option<String>,
}

/// A listing's records and what reading them cost.
#[derive(Debug, Default)]
pub struct Listing {
    /// The records, newest first.
    pub records: Vec<JobRecord>,
    /// Index entries read (DynamoDB's `ScannedCount`).
    pub entries_read: usize,
    /// Records read by key (`BatchGetItem`).
    pub records_read: usize,
    /// Whether the budget ran out before the index did or `limit` records were found: more
    /// may match further back.
    pub cut_short: bool,
}

/// The records in one state, counted by [`JobQueries::count`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCount {
    /// All of them.
    pub all: usize,
    /// Those pushed back by throttling or quota at least once.
    pub pushed_back: usize,
}

/// The records of one state, as [`JobQueries::summary`] finds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateSummary {
    /// How many.
    pub count: usize,
    /// When the one unchanged longest was last written (RFC 3339).
    pub oldest_updated_at: Option<String>,
}

/// Bounds on a listing's sort time (RFC 3339, both inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// At or after.
    pub since: Option<String>,
    /// At or before.
    pub until: Option<String>,
}

/// One request's line in `trainq costs`: what the by-created index projects.
#[derive(Debug, Clone, PartialEq)]
pub struct CostEntry {
    /// Customer slug.
    pub customer: Option<String>,
    /// Project slug.
    pub project: Option<String>,
    /// Registry.
    pub registry: Option<String>,
    /// What the request cost.
    pub billing: Billing,
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

    /// Up to `limit` records of `selection` that `keep` accepts, newest first, whose sort
    /// time (`updated_at` for a state, `created_at` otherwise) is at or after `since` (RFC
    /// 3339). Reads at most about `budget` items, index entries and records together (`None`:
    /// until the index ends).
    pub async fn select(
        &self,
        selection: &Selection,
        since: Option<&str>,
        limit: usize,
        budget: Option<usize>,
        keep: impl Fn(&JobRecord) -> bool,
    ) -> Result<Listing, ServiceError> {
        let window = Window {
            since: since.map(str::to_owned),
            until: None,
        };
        self.select_window(selection, &window, limit, budget, keep)
            .await
    }

    /// [`select`](Self::select) within `window` of sort times: with `until`, the records
    /// unchanged (or created) since before it, such as the stuck ones of a state.
    pub async fn select_window(
        &self,
        selection: &Selection,
        window: &Window,
        limit: usize,
        budget: Option<usize>,
        keep: impl Fn(&JobRecord) -> bool,
    ) -> Result<Listing, ServiceError> {
        let page = i32::try_from(limit.clamp(10, PAGE)).unwrap_or(10);
        let mut merged = Merged::new(self, selection, window, budget, page);
        let mut listing = Listing::default();
        while listing.records.len() < limit {
            // A page of keys at a time: no fewer than 10 (filters may drop some), no more than
            // one BatchGetItem reads.
            let wanted = (limit - listing.records.len()).clamp(10, 100);
            let mut ids = Vec::with_capacity(wanted);
            while ids.len() < wanted {
                match merged.next().await? {
                    Some(item) => ids.extend(uuid(&item)),
                    None => break,
                }
            }
            if ids.is_empty() {
                break;
            }
            let page = get_records(&self.client, &self.table, &ids).await?;
            listing.records_read += page.len();
            merged.spent += page.len();
            listing.records.extend(page.into_iter().filter(|r| keep(r)));
        }
        listing.records.truncate(limit);
        listing.entries_read = merged.entries_read;
        listing.cut_short = merged.cut_short;
        Ok(listing)
    }

    /// How many records are in `state`, and how many of those were pushed back at least
    /// once (`defer_count > 0`, which the by-state index projects): one count query per
    /// shard, its `ScannedCount` counting all, its `Count` those the filter kept. Reads only
    /// index entries.
    pub async fn count(&self, state: JobState) -> Result<StateCount, ServiceError> {
        let mut counted = StateCount::default();
        for shard in 0..SHARDS {
            let query = self
                .index_query(index::BY_STATE, "state_shard", state_key(state, shard))
                .select(Select::Count)
                .filter_expression("defer_count > :zero")
                .expression_attribute_values(":zero", AttributeValue::N("0".into()));
            let mut start = None;
            loop {
                let out = query
                    .clone()
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(classify)?;
                counted.all += usize::try_from(out.scanned_count).unwrap_or(0);
                counted.pushed_back += usize::try_from(out.count).unwrap_or(0);
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(counted)
    }

    /// How many records in `state` match `narrowing`, and the `updated_at` of the one
    /// unchanged longest: one pass over each shard's index entries, oldest first, reading
    /// only their keys and sort time (what a count reads, no record).
    pub async fn summary(
        &self,
        state: JobState,
        narrowing: &Narrowing,
    ) -> Result<StateSummary, ServiceError> {
        let mut summary = StateSummary::default();
        for shard in 0..SHARDS {
            let query = self
                .index_query(index::BY_STATE, "state_shard", state_key(state, shard))
                .scan_index_forward(true)
                .projection_expression("#u")
                .expression_attribute_names("#u", "updated_at");
            let items = crate::dynamo::collect_items(narrow(query, narrowing), usize::MAX).await?;
            summary.count += items.len();
            if let Some(oldest) = items.first().and_then(|i| string(i, "updated_at"))
                && summary
                    .oldest_updated_at
                    .as_ref()
                    .is_none_or(|o| oldest < *o)
            {
                summary.oldest_updated_at = Some(oldest);
            }
        }
        Ok(summary)
    }

    /// The cost lines of every request created at or after `since`, from the by-created
    /// index alone (no record is read).
    pub async fn costs_since(&self, since: &str) -> Result<Vec<CostEntry>, ServiceError> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            let query = self
                .index_query(index::BY_CREATED, "created_shard", created_key(shard))
                .key_condition_expression("#k = :k AND #r >= :since")
                .expression_attribute_names("#r", "created_at")
                .expression_attribute_values(":since", AttributeValue::S(since.to_owned()));
            for item in crate::dynamo::collect_items(query, usize::MAX).await? {
                out.push(CostEntry {
                    customer: string(&item, "customer"),
                    project: string(&item, "project"),
                    registry: string(&item, "registry"),
                    billing: item
                        .get("billing")
                        .cloned()
                        .and_then(|b| serde_dynamo::from_attribute_value(b).ok())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// A query of `index` where its partition key `key` is `value` (`#k = :k`).
    fn index_query(&self, index: &str, key: &str, value: String) -> QueryBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":k", AttributeValue::S(value))
    }
}

/// The index entries of a selection, newest first, merged over the index's partitions
/// (its shards), read a page at a time as the merge needs them.
struct Merged<'a> {
    queries: &'a JobQueries,
    index: &'static str,
    sort_key: &'static str,
    partitions: Vec<Partition>,
    window: Window,
    narrowing: Narrowing,
    budget: Option<usize>,
    page: i32,
    entries_read: usize,
    /// Items read against the budget: index entries and the records fetched for them.
    spent: usize,
    cut_short: bool,
}

/// One partition of the merge: entries read and not yet handed out, and where its next
/// page starts.
struct Partition {
    key: &'static str,
    value: String,
    buffer: VecDeque<Item>,
    start: Option<Item>,
    done: bool,
}

/// The most index entries a page of one partition reads (a listing of `limit` rows reads
/// pages of `limit`, within 10..=100).
const PAGE: usize = 100;

impl<'a> Merged<'a> {
    fn new(
        queries: &'a JobQueries,
        selection: &Selection,
        window: &Window,
        budget: Option<usize>,
        page: i32,
    ) -> Self {
        let partition = |key: &'static str, value: String| Partition {
            key,
            value,
            buffer: VecDeque::new(),
            start: None,
            done: false,
        };
        let (index, sort_key, partitions, narrowing) = match selection {
            Selection::State(s, n) => (
                index::BY_STATE,
                "updated_at",
                (0..SHARDS)
                    .map(|shard| partition("state_shard", state_key(*s, shard)))
                    .collect(),
                n.clone(),
            ),
            Selection::Project(p) => (
                index::BY_PROJECT,
                "created_at",
                vec![partition("customer_project", p.clone())],
                Narrowing::default(),
            ),
            Selection::Experiment(e) => (
                index::BY_EXPERIMENT,
                "created_at",
                vec![partition("experiment_id", e.clone())],
                Narrowing::default(),
            ),
            Selection::Created(n) => (
                index::BY_CREATED,
                "created_at",
                (0..SHARDS)
                    .map(|s| partition("created_shard", created_key(s)))
                    .collect(),
                n.clone(),
            ),
        };
        Self {
            queries,
            index,
            sort_key,
            partitions,
            window: window.clone(),
            narrowing,
            budget,
            page,
            entries_read: 0,
            spent: 0,
            cut_short: false,
        }
    }

    /// The newest entry not yet handed out; `None` when every partition is read, or when
    /// the budget ran out before a partition could say what comes next (`cut_short`).
    async fn next(&mut self) -> Result<Option<Item>, ServiceError> {
        for i in 0..self.partitions.len() {
            while self.partitions[i].buffer.is_empty() && !self.partitions[i].done {
                if self.budget.is_some_and(|b| self.spent >= b) {
                    self.cut_short = true;
                    return Ok(None);
                }
                self.fill(i).await?;
            }
        }
        let sort_key = self.sort_key;
        let newest = self
            .partitions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.buffer.front()?)))
            .max_by(|(_, a), (_, b)| newer(a, b, sort_key))
            .map(|(i, _)| i);
        Ok(newest.and_then(|i| self.partitions[i].buffer.pop_front()))
    }

    /// Reads partition `i`'s next page.
    async fn fill(&mut self, i: usize) -> Result<(), ServiceError> {
        let p = &self.partitions[i];
        let mut query = self
            .queries
            .index_query(self.index, p.key, p.value.clone())
            .scan_index_forward(false)
            .limit(self.page)
            .set_exclusive_start_key(p.start.clone());
        let bound = |name: &str, value: &Option<String>| {
            value
                .as_ref()
                .map(|v| (format!(":{name}"), AttributeValue::S(v.clone())))
        };
        let bounds: Vec<_> = [
            bound("since", &self.window.since),
            bound("until", &self.window.until),
        ]
        .into_iter()
        .flatten()
        .collect();
        let condition = match (&self.window.since, &self.window.until) {
            (Some(_), Some(_)) => Some("#k = :k AND #r BETWEEN :since AND :until"),
            (Some(_), None) => Some("#k = :k AND #r >= :since"),
            (None, Some(_)) => Some("#k = :k AND #r <= :until"),
            (None, None) => None,
        };
        if let Some(condition) = condition {
            query = query
                .key_condition_expression(condition)
                .expression_attribute_names("#r", self.sort_key);
            for (name, value) in bounds {
                query = query.expression_attribute_values(name, value);
            }
        }
        let out = narrow(query, &self.narrowing)
            .send()
            .await
            .map_err(classify)?;
        let scanned = usize::try_from(out.scanned_count).unwrap_or(0);
        self.entries_read += scanned;
        self.spent += scanned;
        let p = &mut self.partitions[i];
        p.buffer.extend(out.items.unwrap_or_default());
        p.start = out.last_evaluated_key;
        p.done = p.start.is_none();
        Ok(())
    }
}

/// `query` filtered to `narrowing` (attributes the by-state and by-created indexes project).
fn narrow(mut query: QueryBuilder, narrowing: &Narrowing) -> QueryBuilder {
    let mut filters = Vec::new();
    for (name, value) in [
        ("customer", &narrowing.customer),
        ("project", &narrowing.project),
        ("registry", &narrowing.registry),
    ] {
        if let Some(value) = value {
            filters.push(format!("#{name} = :{name}"));
            query = query
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), AttributeValue::S(value.clone()));
        }
    }
    if filters.is_empty() {
        query
    } else {
        query.filter_expression(filters.join(" AND "))
    }
}

/// Orders two index entries by sort key, then request id (the order DynamoDB keeps).
fn newer(a: &Item, b: &Item, sort_key: &str) -> Ordering {
    let key = |i: &Item| (string(i, sort_key), string(i, "request_id"));
    key(a).cmp(&key(b))
}
