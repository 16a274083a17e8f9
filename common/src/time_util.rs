//! Timestamps as they are stored: RFC 3339 strings in UTC, so DynamoDB sort keys order by time.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time, RFC 3339 in UTC (e.g. `2026-11-23T14:12:44.123Z`).
pub fn now_rfc3339() -> String {
    to_rfc3339(OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339 in UTC with exactly three fractional digits: fixed width, so
/// the strings sort as the times do (DynamoDB compares sort keys as strings).
pub fn to_rfc3339(t: OffsetDateTime) -> String {
    const FIXED: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FIXED)
        .or_else(|_| t.format(&Rfc3339))
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// RFC 3339 of a time in epoch milliseconds (as SageMaker's events carry them); `None` if
/// out of range.
pub fn epoch_ms_to_rfc3339(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(to_rfc3339)
}

/// Epoch milliseconds of an RFC 3339 time; `None` if it does not parse.
pub fn rfc3339_to_epoch_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Seconds since the Unix epoch, now.
pub fn now_epoch_s() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_epoch_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_width_so_strings_sort_like_times() {
        let whole = OffsetDateTime::from_unix_timestamp(1_795_514_400).unwrap();
        let later = whole + time::Duration::milliseconds(5);
        assert_eq!(to_rfc3339(whole), "2026-11-24T10:00:00.000Z");
        assert_eq!(to_rfc3339(later), "2026-11-24T10:00:00.005Z");
        assert!(to_rfc3339(whole) < to_rfc3339(later));
        assert_eq!(
            OffsetDateTime::parse(&to_rfc3339(later), &Rfc3339).unwrap(),
            later
        );
    }
}
