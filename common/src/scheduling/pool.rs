//! A pool of instances: one instance type, on spot or on demand, with the account's limit.

use std::fmt;

use crate::launch::Rung;

/// Instances of one type, spot or on demand: what a quota limits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pool {
    /// `ml.g5.xlarge`.
    pub instance_type: String,
    /// Managed spot training (its quota is separate from on-demand's).
    pub spot: bool,
}

impl Pool {
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
        let kind = if self.spot { "spot" } else { "on-demand" };
        write!(f, "{}/{kind}", self.instance_type)
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
