//! JSON API under /api/v1.

pub mod alerts;
pub mod assessments;
pub mod audit;
pub mod calendar;
pub mod complaints;
pub mod cutovers;
pub mod dataops;
pub mod duty;
pub mod health;
pub mod identity;
pub mod incidents;
pub mod kpi;
pub mod monitoring;
pub mod notifications;
pub mod policy;
pub mod problems;
pub mod provisioning;
pub mod recon;
pub mod reports;
pub mod session;
pub mod tokens;
pub mod views;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// RFC 3339 UTC with microseconds, from stored microseconds.
pub fn ts(us: i64) -> String {
    tianshu_store::time::canonical(us)
}

/// Cursor pagination parameters shared by list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
}

impl PageParams {
    /// The decoded position and the bounded limit.
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_field(
                "limit",
                "limit must be between 1 and 500",
            ));
        }
        let after = match &self.cursor {
            None => 0,
            Some(c) => decode_cursor(c).ok_or_else(|| {
                ApiError::bad_field("cursor", "cursor is not one this server issued")
            })?,
        };
        Ok((after, limit))
    }
}

/// Encodes a position as an opaque cursor.
pub fn encode_cursor(after: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("a:{after}"))
}

fn decode_cursor(c: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = String::from_utf8(raw).ok()?;
    s.strip_prefix("a:")?.parse().ok().filter(|n: &i64| *n >= 0)
}

/// `next_cursor` for a page: present only when the page was full.
pub fn next_cursor(len: usize, limit: i64, last: Option<i64>) -> Option<String> {
    if len as i64 == limit {
        last.map(encode_cursor)
    } else {
        None
    }
}
