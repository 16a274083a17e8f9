//! The dispatcher's configuration, read once at cold start.

use trainq_common::Registries;
use trainq_common::config::{ConfigError, Env};

/// Everything the dispatcher reads from its environment.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Both registries (`TRAINQ_PRODUCTION_*`, `TRAINQ_RESEARCH_*`).
    pub registries: Registries,
    /// The jobs table (`TRAINQ_JOBS_TABLE`).
    pub jobs_table: String,
    /// The alerts bus (`TRAINQ_ALERTS_BUS`).
    pub alerts_bus: String,
    /// The requests queue URL (`TRAINQ_REQUESTS_QUEUE_URL`), for visibility changes.
    pub requests_queue_url: String,
    /// How long a claim holds the launch before a redelivery may take over
    /// (`TRAINQ_LAUNCH_LEASE_S`, default 120: above the function's timeout).
    pub lease_s: u32,
    /// First redelivery delay of a deferred request (`TRAINQ_DEFER_BASE_S`, default 30).
    pub defer_base_s: u32,
    /// Longest redelivery delay (`TRAINQ_DEFER_MAX_S`, default 900; SQS allows 43200).
    pub defer_max_s: u32,
}

impl DispatcherConfig {
    /// Reads the configuration; the error names the variable at fault.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            registries: env.registries()?,
            jobs_table: env.required("TRAINQ_JOBS_TABLE")?,
            alerts_bus: env.required("TRAINQ_ALERTS_BUS")?,
            requests_queue_url: env.required("TRAINQ_REQUESTS_QUEUE_URL")?,
            lease_s: env.number_in("TRAINQ_LAUNCH_LEASE_S", 120, 0, 3600)?,
            defer_base_s: env.number_in("TRAINQ_DEFER_BASE_S", 30, 1, 43_200)?,
            defer_max_s: env.number_in("TRAINQ_DEFER_MAX_S", 900, 1, 43_200)?,
        })
    }
}
