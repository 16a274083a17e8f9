//! Weighted fair share by decayed recent usage (Slurm's and Kueue's idea): a customer's usage
//! is the instance-seconds its jobs ran, halved every `half_life`; within a priority class the
//! customer with the least usage per unit of weight goes first.

/// One customer's decayed usage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// Instance-seconds, as of `at_ms`.
    pub instance_seconds: f64,
    /// When `instance_seconds` was last brought up to date (epoch ms).
    pub at_ms: i64,
}

impl Usage {
    /// The usage as of `now_ms`, decayed with `half_life_s`.
    pub fn at(self, now_ms: i64, half_life_s: f64) -> f64 {
        let elapsed_s = (now_ms - self.at_ms).max(0) as f64 / 1000.0;
        if half_life_s <= 0.0 {
            return 0.0;
        }
        self.instance_seconds * 0.5_f64.powf(elapsed_s / half_life_s)
    }

    /// The usage after `instance_seconds` more, at `now_ms`.
    pub fn add(self, instance_seconds: f64, now_ms: i64, half_life_s: f64) -> Self {
        Self {
            instance_seconds: self.at(now_ms, half_life_s) + instance_seconds.max(0.0),
            at_ms: now_ms.max(self.at_ms),
        }
    }

    /// The fair-share key: usage per unit of weight (lower goes first).
    pub fn share(self, weight: f64, now_ms: i64, half_life_s: f64) -> f64 {
        self.at(now_ms, half_life_s) / weight.max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: f64 = 3600.0;

    #[test]
    fn usage_halves_every_half_life() {
        let u = Usage {
            instance_seconds: 1000.0,
            at_ms: 0,
        };
        assert_eq!(u.at(0, HOUR), 1000.0);
        assert!((u.at(3_600_000, HOUR) - 500.0).abs() < 1e-9);
        assert!((u.at(7_200_000, HOUR) - 250.0).abs() < 1e-9);
        assert_eq!(u.at(-5, HOUR), 1000.0, "no growth into the past");
    }

    #[test]
    fn new_usage_adds_to_the_decayed_old() {
        let u = Usage {
            instance_seconds: 1000.0,
            at_ms: 0,
        }
        .add(100.0, 3_600_000, HOUR);
        assert!((u.instance_seconds - 600.0).abs() < 1e-9);
        assert_eq!(u.at_ms, 3_600_000);
    }

    #[test]
    fn weight_divides_usage() {
        let u = Usage {
            instance_seconds: 1000.0,
            at_ms: 0,
        };
        assert_eq!(u.share(2.0, 0, HOUR), 500.0);
        assert!(u.share(0.0, 0, HOUR).is_finite() || u.share(0.0, 0, HOUR).is_infinite());
    }
}
