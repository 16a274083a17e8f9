//! Timestamps as they are stored: RFC 3339 strings in UTC, so DynamoDB sort keys order by time.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time, RFC 3339 in UTC (e.g. `2026-11-23T14:12:44.123Z`).
pub fn now_rfc3339() -> String {
    to_rfc3339(OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339 in UTC.
pub fn to_rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Seconds since the Unix epoch, now.
pub fn now_epoch_s() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_epoch_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
