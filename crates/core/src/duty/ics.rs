//! An RFC 5545 calendar of one person's duties: CRLF lines folded at 75 octets, times in the pack's zone with a
//! VTIMEZONE, and a UID derived from the duty itself so calendar clients update events instead of duplicating.

use chrono::{DateTime, Offset, TimeZone, Utc};

use super::{time_zone, Assignment};
use crate::policy::DutyPolicy;

/// One event: a duty and its title.
#[derive(Debug, Clone)]
pub struct IcsEvent<'a> {
    /// The duty.
    pub assignment: &'a Assignment,
    /// Summary line (e.g. `集中值班 · 白班`).
    pub summary: String,
}

/// Renders `events` as one VCALENDAR; `stamp` is the DTSTAMP (the time the feed is produced).
pub fn render_ics(p: &DutyPolicy, events: &[IcsEvent<'_>], stamp: DateTime<Utc>) -> String {
    let tz = time_zone(p);
    let mut out = String::new();
    let mut line = |s: &str| fold(&mut out, s);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//Tianshu//Duty roster//ZH");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    // A zone without daylight saving (Asia/Shanghai) is described by one STANDARD rule at its current offset.
    let offset = tz.offset_from_utc_datetime(&stamp.naive_utc()).fix();
    let secs = offset.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let off = format!(
        "{sign}{:02}{:02}",
        secs.abs() / 3600,
        secs.abs() % 3600 / 60
    );
    line("BEGIN:VTIMEZONE");
    line(&format!("TZID:{}", p.time_zone));
    line("BEGIN:STANDARD");
    line("DTSTART:19700101T000000");
    line(&format!("TZOFFSETFROM:{off}"));
    line(&format!("TZOFFSETTO:{off}"));
    line("END:STANDARD");
    line("END:VTIMEZONE");
    let stamp = stamp.format("%Y%m%dT%H%M%SZ").to_string();
    for e in events {
        let a = e.assignment;
        let Some(shift) = p.shift(&a.shift) else {
            continue;
        };
        let local = |t: chrono::NaiveTime| a.date.and_time(t).format("%Y%m%dT%H%M%S").to_string();
        line("BEGIN:VEVENT");
        line(&format!("UID:{}", uid(a)));
        line(&format!("DTSTAMP:{stamp}"));
        line(&format!(
            "DTSTART;TZID={}:{}",
            p.time_zone,
            local(shift.start_time())
        ));
        line(&format!(
            "DTEND;TZID={}:{}",
            p.time_zone,
            local(shift.end_time())
        ));
        line(&format!("SUMMARY:{}", escape(&e.summary)));
        line(&format!("CATEGORIES:{}", escape(&a.slot)));
        line("TRANSP:OPAQUE");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// Stable per (date, slot, shift, person): regenerating or re-importing a roster keeps the same UID.
fn uid(a: &Assignment) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "duty-{}-{}-{}-{}@tianshu",
        a.date.format("%Y%m%d"),
        clean(&a.slot),
        clean(&a.shift),
        clean(&a.person)
    )
}

/// RFC 5545 §3.3.11 TEXT escaping.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            ';' => o.push_str("\\;"),
            ',' => o.push_str("\\,"),
            '\n' => o.push_str("\\n"),
            '\r' => {}
            c => o.push(c),
        }
    }
    o
}

/// Appends `s` as a content line folded at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character.
fn fold(out: &mut String, s: &str) {
    let mut used = 0;
    for c in s.chars() {
        let n = c.len_utf8();
        if used + n > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    out.push_str("\r\n");
}
