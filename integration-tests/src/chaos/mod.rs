//! The chaos run: many requests through the dispatcher and watcher (the real handlers, over
//! the wire) while everything that can go wrong does — every message delivered one to three
//! times, invocations dying between their steps, SageMaker throttling creates and enforcing a
//! quota, state-change events duplicated, reordered and dropped, spot capacity lost — and then
//! the promise checked: nothing lost, nothing doubled, every record equal to SageMaker's truth,
//! one model package per registered request. A share of the production requests comes from a
//! researcher's credentials (an impostor on the shared queue): none of them may launch. A share
//! of the completed jobs writes a manifest that breaks the model in service (seeded in both
//! registries before the run): none of those models may be approved. Operators act through the
//! `trainq` binary at moments of their own — a share of the requests is cancelled, a share of
//! them fails and is retried — and EventBridge refuses a fifth of trainq's alerts: after
//! settling, no job runs for a cancelled request, every alert a record's final state calls for
//! arrived at least once (none left in an outbox), and every record is within its size bound.

mod faults;
mod operators;
mod report;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;
use trainq_common::chaos;
use trainq_common::testing::{sample_request, sample_research_request};
use uuid::Uuid;

pub use report::Figures;

use crate::world::World;

/// What the run does, and how hard.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// Requests sent.
    pub requests: usize,
    /// Chance in 1000 that an invocation dies at each fault point it passes.
    pub crash_per_mille: u32,
    /// Share of CreateTrainingJob calls throttled.
    pub throttle_rate: f64,
    /// Instances of the main instance type that may run at once (SageMaker's quota; trainq's
    /// own limits, [`POOL_LIMITS`], stay below it).
    pub quota: u32,
    /// Percent of state-change events delivered twice (the copy later, so also reordered).
    pub duplicate_pct: u64,
    /// Percent of state-change events dropped (the reconcile must heal them).
    pub drop_pct: u64,
    /// Percent of jobs that lose their spot capacity.
    pub spot_loss_pct: u64,
    /// Percent of production requests sent with a researcher's credentials.
    pub impostor_pct: u64,
    /// Percent of completed jobs whose manifest is incompatible with the model in service.
    pub incompatible_pct: u64,
    /// Percent of requests an operator cancels (with the CLI, at a moment of its own).
    pub cancel_pct: u64,
    /// Percent of requests an operator retries if they fail.
    pub retry_pct: u64,
    /// Share of trainq's PutEvents calls (its alerts) EventBridge refuses.
    pub alert_failure_rate: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// How long the run may take.
    pub deadline: Duration,
}

impl ChaosConfig {
    /// The CI run (`requests`), or `CHAOS_REQUESTS` of them.
    pub fn from_env(requests: usize) -> Self {
        let requests = std::env::var("CHAOS_REQUESTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(requests);
        Self {
            requests,
            crash_per_mille: 50,
            throttle_rate: 0.2,
            quota: 15,
            duplicate_pct: 20,
            drop_pct: 10,
            spot_loss_pct: 15,
            impostor_pct: 10,
            incompatible_pct: 10,
            cancel_pct: 5,
            retry_pct: 5,
            alert_failure_rate: 0.2,
            seed: 20_261_124,
            deadline: Duration::from_secs(60 + requests as u64 * 2),
        }
    }
}

/// trainq's limits for the main instance type's pools: together below the quota SageMaker
/// enforces on the instance type, so a create refused for quota means the ledger let one too
/// many through. The run checks SageMaker's peak in each pool against them.
pub(crate) const POOL_LIMITS: &[(&str, u32)] =
    &[("ml.g5.xlarge/spot", 9), ("ml.g5.xlarge/on-demand", 4)];

/// A deterministic number in `0..100` for `(salt, key)`.
pub(crate) fn percent(seed: u64, salt: &str, key: &str) -> u64 {
    let id = Uuid::new_v5(
        &Uuid::from_u128(u128::from(seed)),
        format!("{salt}/{key}").as_bytes(),
    );
    (id.as_u128() % 100) as u64
}

/// One request of the run.
pub(crate) struct Sent {
    /// Its id.
    pub(crate) id: Uuid,
    /// Its body.
    pub(crate) body: String,
    /// Sent with a researcher's credentials although it asks for production.
    pub(crate) impostor: bool,
}

/// The requests: two production for every research one, each with an id of its own; a share
/// of the production ones sent by a researcher.
fn requests(config: &ChaosConfig) -> Vec<Sent> {
    (0..config.requests)
        .map(|i| {
            let research = i % 3 == 2;
            let mut body = if research {
                sample_research_request()
            } else {
                sample_request()
            };
            let id = Uuid::new_v4();
            body["request_id"] = json!(id.to_string());
            body["hyperparameters"] = json!({"epochs": "3", "trial": i.to_string()});
            let impostor =
                !research && percent(config.seed, "impostor", &i.to_string()) < config.impostor_pct;
            Sent {
                id,
                body: body.to_string(),
                impostor,
            }
        })
        .collect()
}

/// Runs the chaos and returns what happened, with the violations of the promise (if any).
pub async fn run(config: &ChaosConfig) -> Figures {
    let w = World::new().await;
    w.set_faults(json!({"quotas": {"ml.g5.xlarge": config.quota}}))
        .await;
    seed_models_in_service(&w).await;
    w.set_faults(json!({
        "throttle_rate": config.throttle_rate,
        "quotas": {"ml.g5.xlarge": config.quota},
        "alert_failure_rate": config.alert_failure_rate,
    }))
    .await;
    let started = Instant::now();
    let mut figures = Figures::new(config);
    let sent = requests(config);
    faults::send_with_duplicates(&w, config, &sent, &mut figures).await;
    chaos::arm(config.crash_per_mille, config.seed);

    let limits = POOL_LIMITS
        .iter()
        .map(|(pool, n)| format!("{pool}={n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let fast = [
        ("TRAINQ_LAUNCH_LEASE_S", "3"),
        ("TRAINQ_REGISTRATION_LEASE_S", "2"),
        ("TRAINQ_RECONCILE_AFTER_S", "3"),
        ("TRAINQ_POOL_LIMITS", limits.as_str()),
    ];
    let dispatcher = w.dispatcher_with(w.store(), w.dispatcher_config(&fast));
    let watcher = w.watcher_with(w.watcher_config(&fast));
    let ids: BTreeSet<Uuid> = sent.iter().map(|s| s.id).collect();
    let impostors: BTreeSet<Uuid> = sent.iter().filter(|s| s.impostor).map(|s| s.id).collect();
    figures.impostors = impostors.len();
    let mut operators = operators::Operators::new(&w, config, &ids);
    let mut alerts = verify::Alerts::default();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut round = 0u64;
    loop {
        round += 1;
        faults::dispatch_round(&w, &dispatcher, &mut figures).await;
        faults::sagemaker_round(&w, config, &mut finished, &mut figures).await;
        faults::events_round(&w, &watcher, config, &mut figures).await;
        operators.round(&w, round, &mut figures).await;
        if round.is_multiple_of(2) {
            alerts.take(&w).await;
        }
        if round.is_multiple_of(4) {
            let report = watcher.reconcile().await;
            figures.reconciled += report.healed;
            chaos::take_crashed();
        }
        if round.is_multiple_of(5) {
            let progress = verify::progress(&w, &ids).await;
            if progress.settled() {
                break;
            }
            if round.is_multiple_of(20) {
                // `make chaos` runs for minutes; say where it stands.
                eprintln!(
                    "chaos {:>5.0} s, round {round}: {} of {} requests still open, \
                     {} request and {} event messages queued",
                    started.elapsed().as_secs_f64(),
                    progress.open,
                    ids.len(),
                    progress.requests_queued,
                    progress.events_queued,
                );
            }
        }
        if started.elapsed() > config.deadline {
            figures
                .violations
                .push(format!("not settled within {:?}", config.deadline));
            break;
        }
    }
    chaos::arm(0, config.seed);
    figures.crashes = chaos::crashes();
    verify::deliver_what_is_left(&w, &watcher_config_for_alerts(&w), &mut alerts).await;
    figures.duration = started.elapsed();
    figures.endpoint = w.stats().await;
    verify::promise(&w, &ids, &mut figures).await;
    verify::nothing_runs_for_cancelled(&w, &operators.cancelled(), &mut figures).await;
    verify::every_alert_delivered(&w, &ids, &alerts, &mut figures).await;
    verify::no_impostor_launched(&w, &impostors, &mut figures).await;
    verify::no_incompatible_approved(&w, &mut figures).await;
    figures
}

/// A watcher whose reconcile delivers every alert left in an outbox, however fresh.
fn watcher_config_for_alerts(w: &World) -> trainq_watcher::WatcherConfig {
    w.watcher_config(&[("TRAINQ_RECONCILE_ALERTS_AFTER_S", "0")])
}

/// One approved model in each registry's group (with the sample manifest), so every model of
/// the run is compared with one in service.
async fn seed_models_in_service(w: &World) {
    for mut body in [sample_request(), sample_research_request()] {
        body["request_id"] = json!(Uuid::new_v4().to_string());
        body.as_object_mut().unwrap().remove("approval");
        let id = w.launch(&body).await;
        let job = trainq_common::naming::job_name(id, 1);
        w.finish_job(
            &job,
            json!({"status": "Completed", "metrics": {"validation:accuracy": 0.95}}),
        )
        .await;
    }
    w.drain_events().await;
}

/// Counts by key, for the report.
pub(crate) fn histogram<I: IntoIterator<Item = String>>(items: I) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for i in items {
        *h.entry(i).or_default() += 1;
    }
    h
}
