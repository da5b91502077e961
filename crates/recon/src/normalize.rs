//! Per-column normalisation and the canonical encoding of a normalised value.
//!
//! A normalised key value is written as a tag byte (0 = NULL, 1 = value), a 4-byte length and the
//! bytes; keys are hashed over the concatenation of those encodings, so `("ab","c")` and `("a","bc")`
//! never hash the same input. A compared column is hashed on its own (`value_hash`) and a row over
//! the sequence of its column hashes, which keeps columns apart the same way. NULL is never confused
//! with `''` unless the job's NULL policy says they are equal.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};

use crate::job::{Case, ColumnRule, NullPolicy, Side};

/// How one column of one side is normalised.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColNorm {
    trim: bool,
    case: Option<Case>,
    map: Option<HashMap<Vec<u8>, Vec<u8>>>,
    scale: Option<u32>,
    date_format: Option<String>,
    null_token: Vec<u8>,
    null_equal_empty: bool,
    /// No rule at all: copy bytes (the fast path).
    plain: bool,
}

pub(crate) const TAG_NULL: u8 = 0;
pub(crate) const TAG_VALUE: u8 = 1;
/// The value hash of NULL (any fixed value: a 64-bit hash of a value meets it with negligible odds).
pub(crate) const NULL_HASH: u64 = 0x4e55_4c4c_0000_0001;

impl ColNorm {
    pub fn new(rule: Option<&ColumnRule>, side: Side, null_token: &[u8], null: NullPolicy) -> Self {
        let mut n = ColNorm {
            null_token: null_token.to_vec(),
            null_equal_empty: null == NullPolicy::Equal,
            ..Default::default()
        };
        if let Some(r) = rule {
            n.trim = r.trim;
            n.case = r.case;
            n.scale = r.scale;
            let (map, fmt) = match side {
                Side::Left => (&r.map_left, &r.left_date_format),
                Side::Right => (&r.map_right, &r.right_date_format),
            };
            if !map.is_empty() {
                n.map = Some(
                    map.iter()
                        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                        .collect(),
                );
            }
            n.date_format = fmt.clone();
        }
        n.plain = !n.trim
            && n.case.is_none()
            && n.map.is_none()
            && n.scale.is_none()
            && n.date_format.is_none();
        n
    }

    #[inline(always)]
    fn is_null(&self, raw: &[u8], quoted: bool) -> bool {
        !quoted && raw == self.null_token.as_slice()
    }

    /// Append the canonical encoding of `raw` to `out`. The plain case (no rule: most columns) is
    /// small enough to inline into the scan loop; the rest is out of line.
    #[inline(always)]
    pub fn encode(&self, raw: &[u8], quoted: bool, out: &mut Vec<u8>) {
        if self.plain && !self.is_null(raw, quoted) {
            let len = (raw.len() as u32).to_le_bytes();
            out.extend_from_slice(&[TAG_VALUE, len[0], len[1], len[2], len[3]]);
            out.extend_from_slice(raw);
            return;
        }
        self.encode_rule(raw, quoted, out);
    }

    #[inline(never)]
    fn encode_rule(&self, raw: &[u8], quoted: bool, out: &mut Vec<u8>) {
        if self.is_null(raw, quoted) {
            if self.null_equal_empty {
                out.push(TAG_VALUE);
                out.extend_from_slice(&0u32.to_le_bytes());
            } else {
                out.push(TAG_NULL);
            }
            return;
        }
        let v = self.apply(raw);
        out.push(TAG_VALUE);
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(&v);
    }

    /// Hash of the normalised value: `h` over its bytes, or [`NULL_HASH`] for NULL (a NULL counts as ''
    /// when the job's NULL policy says they are equal). Rows are compared by a hash over their
    /// columns' value hashes, so a plain column is hashed in place, never copied.
    #[inline(always)]
    pub fn value_hash(&self, raw: &[u8], quoted: bool, h: impl Fn(&[u8]) -> u64) -> u64 {
        if self.is_null(raw, quoted) {
            return if self.null_equal_empty {
                h(b"")
            } else {
                NULL_HASH
            };
        }
        if self.plain {
            return h(raw);
        }
        h(&self.apply(raw))
    }

    /// The normalised value as text (for details); None for NULL.
    pub fn display(&self, raw: &[u8], quoted: bool) -> Option<String> {
        if self.is_null(raw, quoted) {
            return None;
        }
        Some(String::from_utf8_lossy(&self.apply(raw)).into_owned())
    }

    fn apply(&self, raw: &[u8]) -> Vec<u8> {
        if self.plain {
            return raw.to_vec();
        }
        let mut v: Vec<u8> = if self.trim {
            trim(raw).to_vec()
        } else {
            raw.to_vec()
        };
        if let Some(c) = self.case {
            // Inputs were validated (or transcoded) as UTF-8 before normalisation.
            let s = String::from_utf8_lossy(&v);
            v = match c {
                Case::Upper => s.to_uppercase().into_bytes(),
                Case::Lower => s.to_lowercase().into_bytes(),
            };
        }
        if let Some(m) = &self.map {
            if let Some(to) = m.get(&v) {
                v = to.clone();
            }
        }
        if let Some(scale) = self.scale {
            if let Some(d) = decimal_scale(&v, scale) {
                v = d.into_bytes();
            }
        }
        if let Some(fmt) = &self.date_format {
            if let Some(d) = std::str::from_utf8(&v).ok().and_then(|s| iso_date(s, fmt)) {
                v = d.into_bytes();
            }
        }
        v
    }
}

fn trim(b: &[u8]) -> &[u8] {
    match std::str::from_utf8(b) {
        Ok(s) => s.trim().as_bytes(),
        Err(_) => b.trim_ascii(),
    }
}

/// Parse with `fmt` and print as ISO 8601 (date, or date and time). Unparseable values are left as
/// they are, so they show up as differences instead of disappearing.
fn iso_date(s: &str, fmt: &str) -> Option<String> {
    if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
        return Some(dt.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    NaiveDate::parse_from_str(s, fmt)
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// Round a plain decimal (`-0012.345`) to `scale` places, half away from zero, canonical form
/// (no leading zeros, no `-0`). None when the text is not a plain decimal.
pub(crate) fn decimal_scale(v: &[u8], scale: u32) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = scale as usize;
    // Digits as a vector: integer part then exactly `scale` fraction digits.
    let mut digits: Vec<u8> = int.bytes().map(|b| b - b'0').collect();
    let fb: Vec<u8> = frac.bytes().map(|b| b - b'0').collect();
    for i in 0..scale {
        digits.push(*fb.get(i).unwrap_or(&0));
    }
    if fb.get(scale).is_some_and(|&d| d >= 5) {
        // Round up, carrying.
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, 1);
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let int_len = digits.len() - scale;
    let mut int_digits = &digits[..int_len];
    while int_digits.len() > 1 && int_digits[0] == 0 {
        int_digits = &int_digits[1..];
    }
    let mut out = String::with_capacity(digits.len() + 2);
    let zero = digits.iter().all(|&d| d == 0);
    if neg && !zero {
        out.push('-');
    }
    if int_digits.is_empty() {
        out.push('0');
    }
    out.extend(int_digits.iter().map(|d| (b'0' + d) as char));
    if scale > 0 {
        out.push('.');
        out.extend(digits[int_len..].iter().map(|d| (b'0' + d) as char));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_half_away_from_zero() {
        assert_eq!(decimal_scale(b"1.005", 2).as_deref(), Some("1.01"));
        assert_eq!(decimal_scale(b"-1.005", 2).as_deref(), Some("-1.01"));
        assert_eq!(decimal_scale(b"0012.3", 2).as_deref(), Some("12.30"));
        assert_eq!(decimal_scale(b"9.995", 2).as_deref(), Some("10.00"));
        assert_eq!(decimal_scale(b"-0.001", 2).as_deref(), Some("0.00"));
        assert_eq!(decimal_scale(b".5", 0).as_deref(), Some("1"));
        assert_eq!(decimal_scale(b"12", 1).as_deref(), Some("12.0"));
        assert_eq!(decimal_scale(b"abc", 2), None);
        assert_eq!(decimal_scale(b"1e3", 2), None);
    }

    #[test]
    fn dates_become_iso() {
        assert_eq!(
            iso_date("20261201", "%Y%m%d").as_deref(),
            Some("2026-12-01")
        );
        assert_eq!(
            iso_date("2026/12/01 08:09:10", "%Y/%m/%d %H:%M:%S").as_deref(),
            Some("2026-12-01T08:09:10")
        );
        assert_eq!(iso_date("bad", "%Y%m%d"), None);
    }
}
