//! pack.toml: identity of the pack and the platform's security numbers.

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_non_empty, PolicyDuration};

/// pack.toml as a whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackFile {
    pub pack: PackInfo,
    pub security: SecurityPolicy,
}

/// Identity of a policy pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackInfo {
    /// Short name, e.g. `default`.
    pub name: String,
    /// Operator-chosen version string, e.g. `2026.11.1`.
    pub version: String,
    /// What this pack is for.
    #[serde(default)]
    pub description: String,
    /// IANA zone all local times of the pack are read in (Asia/Shanghai by default).
    pub time_zone: String,
}

/// Security numbers: not from SEED-RULES, but kept in the pack so operators can tune them without a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityPolicy {
    /// Login throttling.
    pub login: LoginPolicy,
    /// Session lifetimes.
    pub session: SessionPolicy,
    /// API token defaults.
    pub api_token: ApiTokenPolicy,
    /// Request rate limiting.
    pub rate_limit: RateLimitPolicy,
}

/// Lock an account after too many failed logins in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginPolicy {
    /// Failed logins per user tolerated within `window`.
    pub max_failures: u32,
    /// Sliding window for counting failures.
    pub window: PolicyDuration,
    /// How long the account stays locked.
    pub lockout: PolicyDuration,
}

/// Session expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionPolicy {
    /// Expire after this much inactivity.
    pub idle_timeout: PolicyDuration,
    /// Expire this long after login regardless of activity.
    pub absolute_timeout: PolicyDuration,
}

/// API token defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenPolicy {
    /// Lifetime of a new token in days when the creator does not choose one.
    pub default_lifetime_days: u32,
}

/// Per-token / per-IP request limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Requests per minute allowed for one token or one client IP.
    pub requests_per_minute: u32,
}

impl PackFile {
    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_non_empty("pack.name", &self.pack.name, issues);
        check_non_empty("pack.version", &self.pack.version, issues);
        check_time_zone("pack.time_zone", &self.pack.time_zone, issues);
        let s = &self.security;
        if s.login.max_failures == 0 {
            issues.push(Issue::new(
                "security.login.max_failures",
                "must be at least 1",
            ));
        }
        for (path, d) in [
            ("security.login.window", s.login.window),
            ("security.login.lockout", s.login.lockout),
            ("security.session.idle_timeout", s.session.idle_timeout),
            (
                "security.session.absolute_timeout",
                s.session.absolute_timeout,
            ),
        ] {
            if d.seconds() <= 0 {
                issues.push(Issue::new(path, "must be longer than zero"));
            }
        }
        if s.session.idle_timeout > s.session.absolute_timeout {
            issues.push(Issue::new(
                "security.session.idle_timeout",
                format!(
                    "must not exceed security.session.absolute_timeout ({})",
                    s.session.absolute_timeout
                ),
            ));
        }
        if s.api_token.default_lifetime_days == 0 {
            issues.push(Issue::new(
                "security.api_token.default_lifetime_days",
                "must be at least 1",
            ));
        }
        if s.rate_limit.requests_per_minute == 0 {
            issues.push(Issue::new(
                "security.rate_limit.requests_per_minute",
                "must be at least 1",
            ));
        }
    }
}

/// Reports a time zone that chrono-tz does not know.
pub(crate) fn check_time_zone(path: &str, tz: &str, issues: &mut Vec<Issue>) {
    if tz.parse::<chrono_tz::Tz>().is_err() {
        issues.push(Issue::new(
            path,
            format!("'{tz}' is not an IANA time zone (e.g. Asia/Shanghai)"),
        ));
    }
}
