//! Who is admitted when instances are free: waiting requests in order — priority class, then
//! weighted fair share between customers, then age — each on the first rung of its ladder
//! whose pool has room now. A request that does not fit holds its pools for itself against
//! everything ordered after it, so a large or high-priority request is never starved by
//! smaller ones slipping in (it waits for the next slots that free in its pools, no longer).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::fairshare::Usage;
use super::pool::{Capacity, Pool};

/// A request in the waiting room.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// The request.
    pub request_id: Uuid,
    /// Its priority class rank (0 is the highest).
    pub rank: u32,
    /// Its customer (the fair-share identifier).
    pub customer: String,
    /// When it began to wait (epoch ms).
    pub enqueued_ms: i64,
    /// The pools of its ladder's rungs, in order.
    pub rungs: Vec<Pool>,
    /// Instances it needs.
    pub instance_count: u32,
    /// Waits for its first rung rather than taking another (`resources.prefer`).
    pub prefer_first: bool,
}

/// A customer's standing in the fair share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// Decayed past usage.
    pub usage: Usage,
    /// Instances it holds now.
    pub running: u32,
    /// Its weight (1 by default; 2 gets twice the share).
    pub weight: f64,
}

impl Default for Share {
    fn default() -> Self {
        Self {
            usage: Usage::default(),
            running: 0,
            weight: 1.0,
        }
    }
}

/// How the fair share is weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FairShare {
    /// Usage halves every this many seconds.
    pub half_life_s: f64,
    /// What one instance held now counts for, in instance-seconds (about one job's run): it
    /// makes admissions in one round alternate between customers.
    pub running_charge_s: f64,
}

impl FairShare {
    /// The key of a customer (lower goes first): (decayed usage + what it holds now) / weight.
    pub fn key(&self, share: &Share, now_ms: i64) -> f64 {
        let held = f64::from(share.running) * self.running_charge_s;
        (share.usage.at(now_ms, self.half_life_s) + held) / share.weight.max(f64::MIN_POSITIVE)
    }
}

/// A request admitted on a rung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The request.
    pub request_id: Uuid,
    /// The rung of its ladder (0: its first choice).
    pub rung: usize,
    /// The pool it takes instances of.
    pub pool: Pool,
}

/// The waiting requests in admission order, as things stand (no admission made).
pub fn order(
    waiting: &[Waiting],
    shares: &BTreeMap<String, Share>,
    policy: &FairShare,
    now_ms: i64,
) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..waiting.len()).collect();
    indices.sort_by(|&a, &b| compare(&waiting[a], &waiting[b], shares, policy, now_ms));
    indices
}

fn compare(
    a: &Waiting,
    b: &Waiting,
    shares: &BTreeMap<String, Share>,
    policy: &FairShare,
    now_ms: i64,
) -> Ordering {
    let key = |w: &Waiting| {
        policy.key(
            &shares.get(&w.customer).copied().unwrap_or_default(),
            now_ms,
        )
    };
    a.rank
        .cmp(&b.rank)
        .then_with(|| key(a).total_cmp(&key(b)))
        .then_with(|| a.enqueued_ms.cmp(&b.enqueued_ms))
        .then_with(|| a.request_id.cmp(&b.request_id))
}

/// Admits what fits now. `capacities` and `shares` are updated with the admissions (the
/// pools' use, the customers' running instances). Pools without an entry are closed.
pub fn admit(
    waiting: &[Waiting],
    capacities: &mut BTreeMap<Pool, Capacity>,
    shares: &mut BTreeMap<String, Share>,
    policy: &FairShare,
    now_ms: i64,
) -> Vec<Admission> {
    let mut admitted = Vec::new();
    let mut settled = vec![false; waiting.len()];
    let mut held_for_others: BTreeSet<Pool> = BTreeSet::new();
    loop {
        // The next in order among those not settled; the order changes as customers are
        // admitted, so it is taken afresh each time.
        let next = (0..waiting.len())
            .filter(|&i| !settled[i])
            .min_by(|&a, &b| compare(&waiting[a], &waiting[b], shares, policy, now_ms));
        let Some(i) = next else {
            return admitted;
        };
        settled[i] = true;
        let w = &waiting[i];
        let acceptable = if w.prefer_first {
            &w.rungs[..w.rungs.len().min(1)]
        } else {
            &w.rungs[..]
        };
        let free = |pool: &Pool| {
            !held_for_others.contains(pool)
                && capacities
                    .get(pool)
                    .is_some_and(|c| c.fits(w.instance_count))
        };
        match acceptable.iter().position(free) {
            Some(rung) => {
                let pool = acceptable[rung].clone();
                if let Some(c) = capacities.get_mut(&pool) {
                    c.used += w.instance_count;
                }
                shares.entry(w.customer.clone()).or_default().running += w.instance_count;
                admitted.push(Admission {
                    request_id: w.request_id,
                    rung,
                    pool,
                });
            }
            None => {
                // Its open pools are its own until it fits: nothing ordered after it slips in.
                held_for_others.extend(
                    acceptable
                        .iter()
                        .filter(|p| {
                            capacities
                                .get(*p)
                                .is_some_and(|c| c.limit >= w.instance_count)
                        })
                        .cloned(),
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
