//! How long a deferred message stays hidden before SQS delivers it again.

/// `base · 2^(receive_count − 1)`, capped at `max`: 30 s, 60 s, 120 s … with the defaults.
pub(crate) fn defer_delay_s(receive_count: u32, base_s: u32, max_s: u32) -> u32 {
    let exponent = receive_count.saturating_sub(1).min(16);
    base_s.saturating_mul(1 << exponent).min(max_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_with_each_delivery_up_to_the_cap() {
        let delays: Vec<_> = (1..=8).map(|n| defer_delay_s(n, 30, 900)).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(defer_delay_s(0, 30, 900), 30);
        assert_eq!(defer_delay_s(u32::MAX, 30, 43_200), 43_200);
    }
}
