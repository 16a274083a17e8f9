//! The dispatcher's configuration, read once at cold start.

use trainq_common::Registries;
use trainq_common::config::{ConfigError, Env};
use trainq_common::scheduling::SchedulerConfig;

/// Everything the dispatcher reads from its environment.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Both registries (`TRAINQ_PRODUCTION_*`, `TRAINQ_RESEARCH_*`).
    pub registries: Registries,
    /// The jobs table (`TRAINQ_JOBS_TABLE`).
    pub jobs_table: String,
    /// The alerts bus (`TRAINQ_ALERTS_BUS`).
    pub alerts_bus: String,
    /// Where alerts' runbook links point (`TRAINQ_RUNBOOK_URL`, default the repository's
    /// `docs/runbook.md`).
    pub runbook_url: String,
    /// The requests queue URL (`TRAINQ_REQUESTS_QUEUE_URL`), for visibility changes.
    pub requests_queue_url: String,
    /// How long a claim holds the launch before a redelivery may take over
    /// (`TRAINQ_LAUNCH_LEASE_S`, default 120: above the function's timeout).
    pub lease_s: u32,
    /// First redelivery delay of a deferred request (`TRAINQ_DEFER_BASE_S`, default 30).
    pub defer_base_s: u32,
    /// Longest redelivery delay (`TRAINQ_DEFER_MAX_S`, default 900): at most 43,200, the
    /// longest visibility timeout ChangeMessageVisibility accepts.
    pub defer_max_s: u32,
    /// The scheduler: pool limits, priority classes, fair share, call rate.
    pub scheduler: SchedulerConfig,
}

impl DispatcherConfig {
    /// Reads the configuration; the error names the variable at fault.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let config = Self {
            registries: env.registries()?,
            jobs_table: env.required("TRAINQ_JOBS_TABLE")?,
            alerts_bus: env.required("TRAINQ_ALERTS_BUS")?,
            runbook_url: env
                .optional("TRAINQ_RUNBOOK_URL")
                .unwrap_or_else(|| trainq_common::alert::DEFAULT_RUNBOOK.to_owned()),
            requests_queue_url: env.required("TRAINQ_REQUESTS_QUEUE_URL")?,
            lease_s: env.number_in("TRAINQ_LAUNCH_LEASE_S", 120, 0, 3600)?,
            defer_base_s: env.number_in("TRAINQ_DEFER_BASE_S", 30, 1, 43_200)?,
            defer_max_s: env.number_in("TRAINQ_DEFER_MAX_S", 900, 1, SQS_MAX_VISIBILITY_S)?,
            scheduler: SchedulerConfig::from_env(env)?,
        };
        if config.defer_base_s > config.defer_max_s {
            return Err(ConfigError::new(
                "TRAINQ_DEFER_BASE_S",
                format!(
                    "must not exceed TRAINQ_DEFER_MAX_S ({} > {})",
                    config.defer_base_s, config.defer_max_s
                ),
            ));
        }
        Ok(config)
    }
}

/// The longest visibility timeout SQS's ChangeMessageVisibility accepts (12 hours).
const SQS_MAX_VISIBILITY_S: u32 = 43_200;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use trainq_common::testing::sample_env;

    use super::*;

    fn config_with(
        overrides: &[(&'static str, &'static str)],
    ) -> Result<DispatcherConfig, ConfigError> {
        let mut env: BTreeMap<&str, &str> = sample_env();
        env.extend([
            ("TRAINQ_JOBS_TABLE", "jobs"),
            ("TRAINQ_ALERTS_BUS", "alerts"),
            ("TRAINQ_REQUESTS_QUEUE_URL", "http://q"),
            ("TRAINQ_CAPACITY_TABLE", "capacity"),
        ]);
        env.extend(overrides.iter().copied());
        DispatcherConfig::from_env(&Env::from_fn(|k| env.get(k).map(|v| v.to_string())))
    }

    #[test]
    fn deferral_stays_within_what_sqs_accepts() {
        assert_eq!(config_with(&[]).unwrap().defer_max_s, 900);
        assert_eq!(
            config_with(&[("TRAINQ_DEFER_MAX_S", "43200")])
                .unwrap()
                .defer_max_s,
            43_200
        );
        let e = config_with(&[("TRAINQ_DEFER_MAX_S", "43201")]).unwrap_err();
        assert_eq!(e.variable, "TRAINQ_DEFER_MAX_S");
        let e = config_with(&[("TRAINQ_DEFER_BASE_S", "60"), ("TRAINQ_DEFER_MAX_S", "30")])
            .unwrap_err();
        assert_eq!(e.variable, "TRAINQ_DEFER_BASE_S");
    }
}
