//! What a request cost, summed over its attempts: the small summary the jobs table keeps on
//! every record (and projects into its by-created index) so `trainq costs` adds up a window
//! from the index alone, without reading a single full record.

use serde::{Deserialize, Serialize};

use crate::record::JobRecord;

/// Billing of one request (or, added up, of many).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    /// Training jobs launched (attempts with an ARN).
    #[serde(default)]
    pub jobs: u32,
    /// Seconds billed (spot: after savings).
    #[serde(default)]
    pub billable_s: u64,
    /// Seconds of training.
    #[serde(default)]
    pub training_s: u64,
    /// Seconds billed by the spot attempts that reported both figures.
    #[serde(default)]
    pub spot_billable_s: u64,
    /// Seconds of training of those spot attempts.
    #[serde(default)]
    pub spot_training_s: u64,
}

impl Billing {
    /// `self` and `other` together.
    pub fn add(&mut self, other: &Billing) {
        self.jobs += other.jobs;
        self.billable_s += other.billable_s;
        self.training_s += other.training_s;
        self.spot_billable_s += other.spot_billable_s;
        self.spot_training_s += other.spot_training_s;
    }

    /// `1 − billable / training` over the spot attempts, in percent; `None` without any.
    pub fn spot_savings_pct(&self) -> Option<f64> {
        (self.spot_training_s > 0)
            .then(|| (1.0 - self.spot_billable_s as f64 / self.spot_training_s as f64) * 100.0)
    }
}

impl JobRecord {
    /// The request's billing over its launched attempts.
    pub fn billing(&self) -> Billing {
        let mut sum = Billing::default();
        for a in self.attempts.iter().filter(|a| a.job_arn.is_some()) {
            sum.jobs += 1;
            sum.billable_s += a.billable_s.unwrap_or(0);
            sum.training_s += a.training_s.unwrap_or(0);
            if let (true, Some(b), Some(t)) = (a.spot, a.billable_s, a.training_s) {
                sum.spot_billable_s += b;
                sum.spot_training_s += t;
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::record::Attempt;
    use crate::state::JobState;

    #[test]
    fn billing_sums_launched_attempts_and_spot_separately() {
        let mut r = JobRecord::new(Uuid::nil(), JobState::Completed);
        r.attempts = (1..=3)
            .map(|n| Attempt::planned(Uuid::nil(), n, "ml.g5.xlarge", true))
            .collect();
        for (a, (arn, spot, billed, trained)) in r.attempts.iter_mut().zip([
            (true, true, Some(100), Some(1000)),
            (true, false, Some(50), Some(50)),
            (false, true, None, None),
        ]) {
            a.job_arn = arn.then(|| "arn".to_owned());
            a.spot = spot;
            a.billable_s = billed;
            a.training_s = trained;
        }
        let b = r.billing();
        assert_eq!((b.jobs, b.billable_s, b.training_s), (2, 150, 1050));
        assert_eq!((b.spot_billable_s, b.spot_training_s), (100, 1000));
        assert_eq!(b.spot_savings_pct(), Some(90.0));
        let mut twice = b;
        twice.add(&b);
        assert_eq!(twice.jobs, 4);
        assert_eq!(twice.spot_savings_pct(), Some(90.0));
        assert_eq!(Billing::default().spot_savings_pct(), None);
    }
}
