//! The watcher's configuration, read once at cold start.

use trainq_common::config::{ConfigError, Env};

/// Everything the watcher reads from its environment.
#[derive(Debug, Clone)]
pub struct WatcherConfig {
    /// The jobs table (`TRAINQ_JOBS_TABLE`).
    pub jobs_table: String,
    /// The alerts bus (`TRAINQ_ALERTS_BUS`).
    pub alerts_bus: String,
    /// The requests queue (`TRAINQ_REQUESTS_QUEUE_URL`): retries go back through it.
    pub requests_queue_url: String,
}

impl WatcherConfig {
    /// Reads the configuration; the error names the variable at fault.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            jobs_table: env.required("TRAINQ_JOBS_TABLE")?,
            alerts_bus: env.required("TRAINQ_ALERTS_BUS")?,
            requests_queue_url: env.required("TRAINQ_REQUESTS_QUEUE_URL")?,
        })
    }
}
