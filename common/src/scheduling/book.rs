//! What the capacity ledger knows of a pool: its holders, the instances they hold, and a limit
//! learnt from SageMaker when its quota turned out lower than configured.

use std::collections::BTreeMap;

use super::pool::Capacity;

/// What one holder (a training job) holds of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Instances held.
    pub count: u32,
    /// The customer it runs for (fair share counts what customers hold now).
    pub customer: String,
}

/// A limit learnt from a quota refusal: SageMaker refused a create with `used` instances held,
/// so the account's quota (or what others in the account leave of it) is below that, for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnedLimit {
    /// The instances that were running when SageMaker refused one more.
    pub limit: u32,
    /// Until when it applies (epoch ms); the configured limit is tried again after.
    pub until_ms: i64,
}

/// One pool's entry in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolBook {
    /// Instances held, the sum of the holders'.
    pub used: u32,
    /// Holders by job name.
    pub holders: BTreeMap<String, Holding>,
    /// A limit learnt from a refusal, if one was.
    pub learned: Option<LearnedLimit>,
    /// Since when (epoch ms) the pool is under pressure: requests wait for it. Set by the
    /// first who finds it full, so one alert is sent per episode; cleared when it has room.
    pub pressure_since_ms: Option<i64>,
}

impl PoolBook {
    /// Its capacity now: the configured limit, lowered by a learnt limit still in force.
    pub fn capacity(&self, configured: u32, now_ms: i64) -> Capacity {
        let limit = match self.learned {
            Some(l) if l.until_ms > now_ms => configured.min(l.limit),
            _ => configured,
        };
        Capacity {
            limit,
            used: self.used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learnt_limit_lowers_the_configured_one_until_it_lapses() {
        let book = PoolBook {
            used: 2,
            learned: Some(LearnedLimit {
                limit: 1,
                until_ms: 1000,
            }),
            ..PoolBook::default()
        };
        assert_eq!(book.capacity(5, 999).limit, 1);
        assert_eq!(book.capacity(5, 1000).limit, 5);
        assert_eq!(
            book.capacity(0, 0).limit,
            0,
            "never above the configured limit"
        );
    }
}
