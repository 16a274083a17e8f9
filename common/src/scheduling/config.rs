//! The scheduler's configuration, read once at cold start by both functions: pool limits,
//! priority classes, customer weights, the fair share's half-life, the admission round's size
//! and the CreateTrainingJob call rate.

use std::collections::BTreeMap;

use super::admission::FairShare;
use super::pool::Pool;
use super::priority::{DEFAULT_CLASSES, PriorityClasses};
use crate::config::{ConfigError, Env};

/// Limits of pools no entry names: ten instances of any type, on spot and on demand. A
/// quota lower than the configured limit is learnt from SageMaker's first refusal (see the
/// ledger's learned limits), so a guess too high costs one refused create per episode.
pub const DEFAULT_POOL_LIMITS: &str = "*/spot=10, */on-demand=10";

/// Instances per pool: `ml.g5.xlarge/spot=2, ml.g5.xlarge/on-demand=4, */spot=10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLimits {
    by_pool: BTreeMap<Pool, u32>,
    any_spot: u32,
    any_on_demand: u32,
}

impl PoolLimits {
    /// Parses a comma-separated list of `<pool>=<instances>`; `*/spot` and `*/on-demand` set
    /// the limit of pools not listed (default 10 each).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut limits = Self {
            by_pool: BTreeMap::new(),
            any_spot: 10,
            any_on_demand: 10,
        };
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (pool, count) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not `<instance type>/<spot|on-demand>=N`"))?;
            let count: u32 = count
                .trim()
                .parse()
                .map_err(|_| format!("`{entry}`: the limit must be a whole number"))?;
            let pool: Pool = pool.trim().parse()?;
            match pool.instance_type.as_str() {
                "*" if pool.spot => limits.any_spot = count,
                "*" => limits.any_on_demand = count,
                t if crate::instance_types::is_known(t) => {
                    limits.by_pool.insert(pool, count);
                }
                t => return Err(format!("`{t}` is not a known training instance type")),
            }
        }
        Ok(limits)
    }

    /// The limit of `pool`.
    pub fn limit(&self, pool: &Pool) -> u32 {
        self.by_pool.get(pool).copied().unwrap_or(if pool.spot {
            self.any_spot
        } else {
            self.any_on_demand
        })
    }

    /// The pools named one by one.
    pub fn listed(&self) -> impl Iterator<Item = &Pool> {
        self.by_pool.keys()
    }
}

/// Everything the scheduler reads from the environment.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The capacity ledger's table (`TRAINQ_CAPACITY_TABLE`).
    pub capacity_table: String,
    /// Pool limits (`TRAINQ_POOL_LIMITS`, default [`DEFAULT_POOL_LIMITS`]).
    pub limits: PoolLimits,
    /// Priority classes, highest first (`TRAINQ_PRIORITY_CLASSES`).
    pub classes: PriorityClasses,
    /// Fair-share weights of customers (`TRAINQ_CUSTOMER_WEIGHTS`: `acme=2, globex=0.5`);
    /// customers not listed weigh 1.
    pub weights: BTreeMap<String, f64>,
    /// How usage decays and what holding an instance counts for
    /// (`TRAINQ_FAIR_SHARE_HALF_LIFE_S`, default a day; `TRAINQ_FAIR_SHARE_RUNNING_CHARGE_S`,
    /// default an hour).
    pub fair_share: FairShare,
    /// Launches per admission round before the round hands over to the next invocation
    /// (`TRAINQ_ADMIT_PER_ROUND`, default 10): keeps a round within the function's timeout.
    pub admit_per_round: u32,
    /// CreateTrainingJob calls per second across all dispatchers (`TRAINQ_CREATE_RATE_PER_S`,
    /// default 2): below SageMaker's account rate, so a burst never turns into throttling.
    pub create_rate_per_s: u32,
    /// Instances of all types that may run at once (`TRAINQ_ACCOUNT_INSTANCE_LIMIT`, SageMaker's
    /// "total instances across training jobs" quota); `None`: no cap beyond the pools'.
    pub account_limit: Option<u32>,
}

impl SchedulerConfig {
    /// Reads the configuration; the error names the variable at fault.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let optional = |name: &str, default: &str| env.optional(name).unwrap_or(default.into());
        let limits = PoolLimits::parse(&optional("TRAINQ_POOL_LIMITS", DEFAULT_POOL_LIMITS))
            .map_err(|e| ConfigError::new("TRAINQ_POOL_LIMITS", e))?;
        let classes = PriorityClasses::parse(&optional("TRAINQ_PRIORITY_CLASSES", DEFAULT_CLASSES))
            .map_err(|e| ConfigError::new("TRAINQ_PRIORITY_CLASSES", e.to_string()))?;
        let weights = parse_weights(&optional("TRAINQ_CUSTOMER_WEIGHTS", ""))
            .map_err(|e| ConfigError::new("TRAINQ_CUSTOMER_WEIGHTS", e))?;
        let half_life = env.number_in("TRAINQ_FAIR_SHARE_HALF_LIFE_S", 86_400, 60, 2_592_000)?;
        let charge = env.number_in("TRAINQ_FAIR_SHARE_RUNNING_CHARGE_S", 3600, 0, 2_419_200)?;
        Ok(Self {
            capacity_table: env.required("TRAINQ_CAPACITY_TABLE")?,
            limits,
            classes,
            weights,
            fair_share: FairShare {
                half_life_s: f64::from(half_life),
                running_charge_s: f64::from(charge),
            },
            admit_per_round: env.number_in("TRAINQ_ADMIT_PER_ROUND", 10, 1, 100)?,
            create_rate_per_s: env.number_in("TRAINQ_CREATE_RATE_PER_S", 2, 1, 1000)?,
            account_limit: match env.optional("TRAINQ_ACCOUNT_INSTANCE_LIMIT") {
                Some(_) => Some(env.number_in("TRAINQ_ACCOUNT_INSTANCE_LIMIT", 0, 0, 100_000)?),
                None => None,
            },
        })
    }

    /// The limit of `pool` (the account's cap for the account-wide pool, unlimited if none).
    pub fn limit(&self, pool: &Pool) -> u32 {
        if pool.is_account() {
            self.account_limit.unwrap_or(u32::MAX)
        } else {
            self.limits.limit(pool)
        }
    }

    /// A customer's fair-share weight.
    pub fn weight(&self, customer: &str) -> f64 {
        self.weights.get(customer).copied().unwrap_or(1.0)
    }
}

fn parse_weights(text: &str) -> Result<BTreeMap<String, f64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (customer, weight) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not `<customer>=<weight>`"))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w > 0.0)
                .ok_or_else(|| format!("`{entry}`: the weight must be a positive number"))?;
            Ok((customer.trim().to_owned(), weight))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(text: &str) -> Pool {
        text.parse().unwrap()
    }

    #[test]
    fn listed_pools_have_their_limit_and_others_the_default_of_their_kind() {
        let l =
            PoolLimits::parse("ml.g5.xlarge/spot=0, ml.g5.xlarge/on-demand=4, */spot=3").unwrap();
        assert_eq!(l.limit(&pool("ml.g5.xlarge/spot")), 0);
        assert_eq!(l.limit(&pool("ml.g5.xlarge/on-demand")), 4);
        assert_eq!(l.limit(&pool("ml.m5.large/spot")), 3);
        assert_eq!(l.limit(&pool("ml.m5.large/on-demand")), 10);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_variable_and_the_entry() {
        for (text, says) in [
            ("ml.g5.xlarge=2", "not `<instance type>/spot`"),
            ("ml.g5.xlarge/spot=two", "whole number"),
            ("ml.nope.big/spot=1", "not a known"),
            ("ml.g5.xlarge/reserved=1", "`reserved`"),
        ] {
            let e = PoolLimits::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(parse_weights("acme=2, globex=0.5").is_ok());
        assert!(parse_weights("acme=0").unwrap_err().contains("positive"));
        assert!(parse_weights("acme").unwrap_err().contains("`acme`"));
    }
}
