//! What `trainq top` shows, read once per refresh: the pools against their limits and who
//! waits for them, requests by state with the oldest in each, the running attempts as
//! SageMaker describes them, what looks stuck, and the latest alerts. Every figure comes from
//! an index query, the capacity ledger or one DescribeTrainingJob per running row shown, so a
//! refresh costs the same at ten thousand records as at ten million.

use std::collections::BTreeMap;

use serde::Serialize;
use trainq_common::JobRecord;
use trainq_common::ports::TrainingService;
use trainq_common::state::JobState;
use trainq_common::time_util::{
    epoch_ms_to_rfc3339, now_epoch_ms, now_rfc3339, rfc3339_to_epoch_ms,
};
use trainq_infra::SageMakerTraining;
use trainq_infra::queries::{JobQueries, Narrowing, Selection, Window};

use crate::commands::queue;
use crate::context::Context;
use crate::error::CliError;

/// What the view is narrowed to (keys `r` and `c`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Only this registry's requests (`production`, `research`).
    pub registry: Option<String>,
    /// Only this customer's.
    pub customer: Option<String>,
}

impl Filter {
    fn narrowing(&self) -> Narrowing {
        Narrowing {
            customer: self.customer.clone(),
            project: None,
            registry: self.registry.clone(),
        }
    }
}

/// One refresh's worth of figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was read (RFC 3339).
    pub taken_at: String,
    /// What it is narrowed to.
    pub filter: Filter,
    /// Every pool with instances in use, a configured limit or requests waiting for it.
    pub pools: Vec<PoolLine>,
    /// Requests on their way, by state.
    pub states: Vec<StateLine>,
    /// Attempts running now, longest running first.
    pub running: Vec<Running>,
    /// Requests that look stuck, and why.
    pub stuck: Vec<Stuck>,
    /// The latest alerts, newest first.
    pub alerts: Vec<AlertLine>,
    /// Customers seen in this snapshot (what key `c` cycles through).
    pub customers: Vec<String>,
}

/// A pool: instances held against its limit, and the requests that wait for it first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PoolLine {
    /// `ml.g5.xlarge/spot`.
    pub pool: String,
    /// Instances held.
    pub in_use: u32,
    /// Its limit now (a limit learnt from SageMaker's refusal may lower the configured one).
    pub limit: u32,
    /// Requests whose next rung is this pool, by priority class, highest class first.
    pub waiting: Vec<(String, usize)>,
    /// Seconds since the pool came under pressure, if it is.
    pub pressure_s: Option<i64>,
}

/// The requests in one state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StateLine {
    /// The state.
    pub state: String,
    /// How many.
    pub count: usize,
    /// Seconds since the one unchanged longest was last written.
    pub oldest_s: Option<i64>,
}

/// A running attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Running {
    /// The request.
    pub request_id: String,
    /// Customer and project (`acme/scratch-detect`).
    pub owner: String,
    /// The registry.
    pub registry: String,
    /// The training job.
    pub job_name: String,
    /// The rung it runs on (`ml.g5.xlarge spot`).
    pub rung: String,
    /// SageMaker's secondary status (`Training`, `Downloading`, …).
    pub secondary: String,
    /// Seconds since SageMaker created the job.
    pub elapsed_s: i64,
    /// The request's max runtime.
    pub max_runtime_s: u32,
    /// The last metric SageMaker reports, `name=value`.
    pub metric: Option<String>,
}

/// A request that looks stuck.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stuck {
    /// The request.
    pub request_id: String,
    /// Its state.
    pub state: String,
    /// Why it looks stuck.
    pub why: String,
}

/// An alert, as the record that raised it shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertLine {
    /// When (RFC 3339).
    pub at: String,
    /// Its `detail-type` (`Training Job Failed`, …).
    pub kind: String,
    /// The request (empty for a pool's pressure).
    pub request_id: String,
    /// What it is about: `customer/project` or the pool.
    pub about: String,
    /// Its reason.
    pub reason: String,
}

/// Thresholds past which a request is shown as stuck.
#[derive(Debug, Clone, Copy)]
pub struct StuckAfter {
    /// States a request passes through in moments (`Received`, `Launching`, `Retrying`,
    /// `Interrupted`, `Completed`, `Cancelling`).
    pub passing_s: i64,
    /// `Queued`: waiting longer than usual for capacity.
    pub queued_s: i64,
}

impl Default for StuckAfter {
    fn default() -> Self {
        Self {
            passing_s: 600,
            queued_s: 3600,
        }
    }
}

/// Running rows described per refresh (one DescribeTrainingJob each).
const RUNNING_ROWS: usize = 15;
/// Stuck requests listed per state.
const STUCK_PER_STATE: usize = 5;
/// Alerts shown: the newest of each state that raises them are read, so the newest
/// `ALERTS` of all are exact.
const ALERTS: usize = 8;
/// Most index entries and records a listing of one section reads.
const BUDGET: usize = 400;

/// States a request only passes through.
const PASSING: [JobState; 6] = [
    JobState::Received,
    JobState::Launching,
    JobState::Retrying,
    JobState::Interrupted,
    JobState::Completed,
    JobState::Cancelling,
];

/// Reads a snapshot narrowed to `filter`.
pub async fn gather(
    ctx: &Context,
    filter: &Filter,
    stuck_after: StuckAfter,
) -> Result<Snapshot, CliError> {
    let queries = JobQueries::new(ctx.dynamodb(), &ctx.stack.jobs_table);
    let narrowing = filter.narrowing();
    let now = now_epoch_ms();
    let mut states = Vec::new();
    for state in JobState::ALL.into_iter().filter(|s| !s.is_terminal()) {
        let s = queries.summary(state, &narrowing).await?;
        states.push(StateLine {
            state: state.as_str().to_owned(),
            count: s.count,
            oldest_s: s.oldest_updated_at.as_deref().map(|t| age_s(t, now)),
        });
    }
    let in_progress = listing(&queries, JobState::InProgress, &narrowing, None).await?;
    let running = running(ctx, &in_progress, now).await;
    let stuck = stuck(&queries, &narrowing, stuck_after, now).await?;
    let (pools, waiting_customers) = pools(ctx, filter, now).await?;
    let mut alerts = alerts(&queries, &narrowing).await?;
    alerts.extend(pools.iter().filter_map(|p| {
        Some(AlertLine {
            at: epoch_ms_to_rfc3339(now - p.pressure_s? * 1000)?,
            kind: "Training Capacity Pressure".into(),
            request_id: String::new(),
            about: p.pool.clone(),
            reason: format!("{} of {} instances held; requests wait", p.in_use, p.limit),
        })
    }));
    alerts.sort_by(|a, b| b.at.cmp(&a.at));
    alerts.truncate(ALERTS);
    let mut customers: Vec<String> = in_progress
        .iter()
        .filter_map(|r| r.customer.clone())
        .chain(waiting_customers)
        .collect();
    customers.sort();
    customers.dedup();
    Ok(Snapshot {
        taken_at: now_rfc3339(),
        filter: filter.clone(),
        pools,
        states,
        running,
        stuck,
        alerts,
        customers,
    })
}

/// The newest records of `state` (unchanged since before `until`, if given).
async fn listing(
    queries: &JobQueries,
    state: JobState,
    narrowing: &Narrowing,
    until: Option<String>,
) -> Result<Vec<JobRecord>, CliError> {
    let limit = if until.is_some() {
        STUCK_PER_STATE
    } else {
        RUNNING_ROWS
    };
    let window = Window { since: None, until };
    let selection = Selection::State(state, narrowing.clone());
    Ok(queries
        .select_window(&selection, &window, limit, Some(BUDGET), |_| true)
        .await?
        .records)
}

/// The running attempts of `records`, each as DescribeTrainingJob reports it now (the record's
/// own figures when SageMaker cannot be asked), longest running first.
async fn running(ctx: &Context, records: &[JobRecord], now: i64) -> Vec<Running> {
    let training = SageMakerTraining::new(ctx.sagemaker());
    let mut rows = Vec::new();
    for r in records {
        let Some(a) = r.current_attempt() else {
            continue;
        };
        let described = training.describe_training_job(&a.job_name).await.ok();
        let secondary = described
            .as_ref()
            .and_then(|d| d.secondary_status.clone())
            .or_else(|| a.secondary_history.last().map(|s| s.status.clone()))
            .unwrap_or_default();
        let started = described
            .as_ref()
            .and_then(|d| d.created_ms)
            .or_else(|| a.launched_at.as_deref().and_then(rfc3339_to_epoch_ms));
        let request = r.request.as_ref();
        // The gate's metric when the job reports it (what decides the model), else the last.
        let gate = request
            .and_then(|q| q.approval.as_ref())
            .map(|g| g.metric.as_str());
        let reported: Vec<(String, f64)> = match &described {
            Some(d) if !d.final_metrics.is_empty() => d.final_metrics.clone(),
            _ => a.final_metrics.clone().into_iter().collect(),
        };
        let metric = reported
            .iter()
            .find(|(name, _)| Some(name.as_str()) == gate)
            .or(reported.last())
            .map(|(name, value)| format!("{name}={value:.4}"));
        rows.push(Running {
            request_id: r.request_id.to_string(),
            owner: format!(
                "{}/{}",
                r.customer.as_deref().unwrap_or("?"),
                r.project.as_deref().unwrap_or("?")
            ),
            registry: r
                .registry
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
            job_name: a.job_name.clone(),
            rung: format!(
                "{} {}",
                a.instance_type,
                if a.spot { "spot" } else { "on-demand" }
            ),
            secondary,
            elapsed_s: started.map_or(0, |s| (now - s).max(0) / 1000),
            max_runtime_s: request.map_or(0, |q| q.resources.max_runtime_s),
            metric,
        });
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.elapsed_s));
    rows
}

/// Requests unchanged for longer than their state should hold them.
async fn stuck(
    queries: &JobQueries,
    narrowing: &Narrowing,
    after: StuckAfter,
    now: i64,
) -> Result<Vec<Stuck>, CliError> {
    let mut out = Vec::new();
    let states = PASSING
        .iter()
        .map(|s| (*s, after.passing_s))
        .chain([(JobState::Queued, after.queued_s)]);
    for (state, threshold_s) in states {
        let until = epoch_ms_to_rfc3339(now - threshold_s * 1000);
        for r in listing(queries, state, narrowing, until).await? {
            let age = age_s(&r.updated_at, now);
            let why = match (state, r.lease_until) {
                (JobState::Launching, Some(lease)) if lease * 1000 < now => {
                    format!(
                        "launch lease expired {} ago",
                        compact_s((now / 1000 - lease).max(0))
                    )
                }
                (JobState::Queued, _) => format!("waiting for capacity for {}", compact_s(age)),
                _ => format!("unchanged for {}", compact_s(age)),
            };
            out.push(Stuck {
                request_id: r.request_id.to_string(),
                state: state.as_str().to_owned(),
                why,
            });
        }
    }
    Ok(out)
}

/// The latest alerts, read from the records that raised them: EventBridge keeps no history
/// to read back, and each alert's record carries its kind and reason.
async fn alerts(queries: &JobQueries, narrowing: &Narrowing) -> Result<Vec<AlertLine>, CliError> {
    let mut out = Vec::new();
    for state in [
        JobState::Failed,
        JobState::Rejected,
        JobState::RegistrationRejected,
        JobState::Expired,
        JobState::Registered,
    ] {
        let selection = Selection::State(state, narrowing.clone());
        let records = queries
            .select(&selection, None, ALERTS, Some(BUDGET), |_| true)
            .await?
            .records;
        out.extend(records.iter().filter_map(alert_of));
    }
    Ok(out)
}

/// The alert an ended record raised, if any.
fn alert_of(r: &JobRecord) -> Option<AlertLine> {
    let reason = r.reason.clone().unwrap_or_default();
    let kind = match r.state {
        JobState::Failed if reason.contains("retries exhausted") => "Training Retries Exhausted",
        JobState::Failed => "Training Job Failed",
        JobState::Rejected => "Training Request Rejected",
        JobState::RegistrationRejected => "Model Registration Failed",
        JobState::Expired => "Training Request Expired",
        JobState::Registered if r.model_approval.as_deref() == Some("PendingManualApproval") => {
            "Model Held By Gate"
        }
        JobState::Registered => "Model Registered",
        _ => return None,
    };
    Some(AlertLine {
        at: r.updated_at.clone(),
        kind: kind.into(),
        request_id: r.request_id.to_string(),
        about: format!(
            "{}/{}",
            r.customer.as_deref().unwrap_or("?"),
            r.project.as_deref().unwrap_or("?")
        ),
        reason,
    })
}

/// The pools, with who waits for each by class, and the customers waiting.
async fn pools(
    ctx: &Context,
    filter: &Filter,
    now: i64,
) -> Result<(Vec<PoolLine>, Vec<String>), CliError> {
    let Some((config, ledger)) = ctx.scheduler()? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let books = queue::pools(&config, &ledger).await?;
    let waiting = queue::waiting_in_order(ctx, &config, &ledger).await?;
    let shown = |customer: &str| filter.customer.as_deref().is_none_or(|c| c == customer);
    let customers = waiting.iter().map(|(_, p)| p.customer.clone()).collect();
    let lines = books
        .into_iter()
        .filter(|(pool, _)| !pool.is_account())
        .map(|(pool, book)| {
            let mut by_class: BTreeMap<u32, usize> = BTreeMap::new();
            for (_, place) in waiting.iter().filter(|(_, p)| shown(&p.customer)) {
                if place.pools.first() == Some(&pool) {
                    *by_class.entry(place.rank).or_default() += 1;
                }
            }
            PoolLine {
                pool: pool.to_string(),
                in_use: book.used,
                limit: book.capacity(config.limit(&pool), now).limit,
                waiting: by_class
                    .into_iter()
                    .map(|(rank, n)| (config.classes.label(rank), n))
                    .collect(),
                pressure_s: book.pressure_since_ms.map(|s| (now - s).max(0) / 1000),
            }
        })
        .collect();
    Ok((lines, customers))
}

/// Seconds from `rfc3339` to `now_ms`.
fn age_s(rfc3339: &str, now_ms: i64) -> i64 {
    rfc3339_to_epoch_ms(rfc3339).map_or(0, |t| (now_ms - t).max(0) / 1000)
}

/// `42s`, `7m`, `3h05m`, `2d04h`: durations that fit a column.
pub fn compact_s(s: i64) -> String {
    match s {
        ..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}
