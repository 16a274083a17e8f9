//! A pool of instances: one instance type, on spot or on demand, with the account's limit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::launch::Rung;

/// Instances of one type, spot or on demand: what a quota limits. Written
/// `ml.g5.xlarge/spot` or `ml.g5.xlarge/on-demand` (in the ledger, the records, the CLI).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Pool {
    /// `ml.g5.xlarge`.
    pub instance_type: String,
    /// Managed spot training (its quota is separate from on-demand's).
    pub spot: bool,
}

/// The instance type of the account-wide pool: every instance of every job.
const ACCOUNT: &str = "*";

impl Pool {
    /// The account-wide pool: every job also holds its instances of it, so the account's
    /// total stays within its cap (`TRAINQ_ACCOUNT_INSTANCE_LIMIT`).
    pub fn account() -> Self {
        Self {
            instance_type: ACCOUNT.to_owned(),
            spot: false,
        }
    }

    /// Whether this is the account-wide pool.
    pub fn is_account(&self) -> bool {
        self.instance_type == ACCOUNT
    }

    /// The pool a ladder rung runs in.
    pub fn of(rung: &Rung) -> Self {
        Self {
            instance_type: rung.instance_type.clone(),
            spot: rung.spot,
        }
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_account() {
            return f.write_str("account");
        }
        let kind = if self.spot { "spot" } else { "on-demand" };
        write!(f, "{}/{kind}", self.instance_type)
    }
}

impl FromStr for Pool {
    type Err = String;

    /// Reads `ml.g5.xlarge/spot` or `ml.g5.xlarge/on-demand`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == "account" {
            return Ok(Self::account());
        }
        let (instance_type, kind) = text
            .trim()
            .rsplit_once('/')
            .ok_or_else(|| format!("`{text}` is not `<instance type>/spot` or `/on-demand`"))?;
        let spot = match kind {
            "spot" => true,
            "on-demand" => false,
            _ => return Err(format!("`{kind}` in `{text}` is not `spot` or `on-demand`")),
        };
        Ok(Self {
            instance_type: instance_type.to_owned(),
            spot,
        })
    }
}

impl From<Pool> for String {
    fn from(pool: Pool) -> Self {
        pool.to_string()
    }
}

impl TryFrom<String> for Pool {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// A pool's limit and what is held of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Instances that may run at once (0: the pool is closed).
    pub limit: u32,
    /// Instances held now.
    pub used: u32,
}

impl Capacity {
    /// Instances free now.
    pub fn free(self) -> u32 {
        self.limit.saturating_sub(self.used)
    }

    /// Whether `count` instances fit now.
    pub fn fits(self, count: u32) -> bool {
        count > 0 && self.free() >= count
    }
}
