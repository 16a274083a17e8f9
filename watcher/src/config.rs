//! The watcher's configuration, read once at cold start.

use trainq_common::Registries;
use trainq_common::config::{ConfigError, Env};
use trainq_common::scheduling::SchedulerConfig;

/// Everything the watcher reads from its environment.
#[derive(Debug, Clone)]
pub struct WatcherConfig {
    /// Both registries (`TRAINQ_PRODUCTION_*`, `TRAINQ_RESEARCH_*`): images and model groups.
    pub registries: Registries,
    /// The jobs table (`TRAINQ_JOBS_TABLE`).
    pub jobs_table: String,
    /// The alerts bus (`TRAINQ_ALERTS_BUS`).
    pub alerts_bus: String,
    /// Where alerts' runbook links point (`TRAINQ_RUNBOOK_URL`, default the repository's
    /// `docs/runbook.md`).
    pub runbook_url: String,
    /// The requests queue (`TRAINQ_REQUESTS_QUEUE_URL`): retries go back through it.
    pub requests_queue_url: String,
    /// How long a watcher holds the registration of a completed request before another may
    /// take over (`TRAINQ_REGISTRATION_LEASE_S`, default 60; keep it below the events queue's
    /// visibility timeout, so a crashed holder's redelivered event finds the lease lapsed).
    pub registration_lease_s: u32,
    /// Reconcile: records untouched this long in a non-terminal state are checked against
    /// SageMaker (`TRAINQ_RECONCILE_AFTER_S`, default 900).
    pub reconcile_after_s: u32,
    /// Reconcile: at most this many records per state and run (`TRAINQ_RECONCILE_MAX`,
    /// default 1000), oldest first.
    pub reconcile_max: u32,
    /// Reconcile: alerts left in a record's outbox this long are delivered
    /// (`TRAINQ_RECONCILE_ALERTS_AFTER_S`, default 60): by then their writer, or the
    /// redelivered event, would have.
    pub reconcile_alerts_after_s: u32,
    /// The scheduler: the capacity ledger the watcher gives slots back to, and its policy.
    pub scheduler: SchedulerConfig,
}

impl WatcherConfig {
    /// Reads the configuration; the error names the variable at fault.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            registries: env.registries()?,
            jobs_table: env.required("TRAINQ_JOBS_TABLE")?,
            alerts_bus: env.required("TRAINQ_ALERTS_BUS")?,
            runbook_url: env
                .optional("TRAINQ_RUNBOOK_URL")
                .unwrap_or_else(|| trainq_common::alert::DEFAULT_RUNBOOK.to_owned()),
            requests_queue_url: env.required("TRAINQ_REQUESTS_QUEUE_URL")?,
            registration_lease_s: env.number_in("TRAINQ_REGISTRATION_LEASE_S", 60, 0, 3600)?,
            reconcile_after_s: env.number_in("TRAINQ_RECONCILE_AFTER_S", 900, 0, 86_400)?,
            reconcile_max: env.number_in("TRAINQ_RECONCILE_MAX", 1000, 1, 100_000)?,
            reconcile_alerts_after_s: env.number_in(
                "TRAINQ_RECONCILE_ALERTS_AFTER_S",
                60,
                0,
                86_400,
            )?,
            scheduler: SchedulerConfig::from_env(env)?,
        })
    }
}
