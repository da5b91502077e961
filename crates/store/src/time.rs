//! Timestamps as stored: Unix microseconds UTC (`i64`) in both backends.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Microseconds since the Unix epoch.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant of a stored microsecond value (clamped to chrono's range).
pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 with exactly six fractional digits and `Z`: the canonical audit form.
pub fn canonical(us: i64) -> String {
    from_micros(us).to_rfc3339_opts(SecondsFormat::Micros, true)
}
