//! Who is calling and what they may do: the one place where permissions and scopes are checked.

use std::collections::BTreeSet;

use serde::Serialize;
use tianshu_core::Permission;

use crate::error::{ServiceError, ServiceResult};

/// Which records a principal sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "org_id", rename_all = "snake_case")]
pub enum Scope {
    /// Everything in the province.
    Province,
    /// Only records of one region (the branch organisation id).
    Region(i64),
    /// Only what is dispatched to one vendor organisation.
    Vendor(i64),
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    /// Console session; state-changing requests must carry this CSRF token.
    Session { id_hash: String, csrf: String },
    /// API token (no CSRF: not sent automatically by browsers).
    Token { id: i64 },
    /// The local command line (operator with shell access to the server).
    Cli,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub org_id: i64,
    pub locale: String,
    pub permissions: BTreeSet<Permission>,
    pub roles: Vec<String>,
    pub scope: Scope,
    pub via: AuthVia,
}

impl Principal {
    /// Fails unless the principal holds `p`.
    pub fn require(&self, p: Permission) -> ServiceResult<()> {
        if self.permissions.contains(&p) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(p))
        }
    }

    /// Whether the principal holds `p`.
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// The region filter to apply to lists (None = all regions).
    pub fn region_filter(&self) -> Option<i64> {
        match self.scope {
            Scope::Province => None,
            Scope::Region(r) => Some(r),
            // Vendors see only dispatched work; for org-bound lists that is their own org.
            Scope::Vendor(o) => Some(o),
        }
    }

    /// Fails unless a record of `region` (and, for vendors, of `vendor_org`) is visible.
    pub fn require_visible(&self, region: Option<i64>, org: i64) -> ServiceResult<()> {
        let ok = match self.scope {
            Scope::Province => true,
            Scope::Region(r) => region == Some(r),
            Scope::Vendor(v) => org == v,
        };
        if ok {
            Ok(())
        } else {
            Err(ServiceError::OutOfScope)
        }
    }

    /// The actor string written to the audit trail.
    pub fn actor(&self) -> String {
        match &self.via {
            AuthVia::Token { id } => format!("user:{}/token:{id}", self.username),
            AuthVia::Cli => format!("cli:{}", self.username),
            AuthVia::Session { .. } => format!("user:{}", self.username),
        }
    }

    /// A principal for local CLI administration with every permission.
    pub fn cli_admin() -> Principal {
        Principal {
            user_id: 0,
            username: "local-admin".into(),
            org_id: 0,
            locale: "zh-CN".into(),
            permissions: Permission::ALL.iter().copied().collect(),
            roles: vec!["administrator".into()],
            scope: Scope::Province,
            via: AuthVia::Cli,
        }
    }
}

/// The widest scope the roles grant, given the user's organisation.
pub fn derive_scope(
    role_scopes: &[String],
    province_flag: bool,
    org_kind: &str,
    org_id: i64,
    region_id: Option<i64>,
) -> Scope {
    if province_flag || role_scopes.iter().any(|s| s == "province") {
        return Scope::Province;
    }
    if role_scopes.iter().any(|s| s == "region") {
        return match region_id {
            Some(r) => Scope::Region(r),
            // Region roles held by province-centre staff cover the province.
            None if org_kind == "province" => Scope::Province,
            None => Scope::Vendor(org_id),
        };
    }
    Scope::Vendor(org_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_user_is_limited_to_its_region() {
        let s = derive_scope(&["region".into()], false, "team", 7, Some(3));
        assert_eq!(s, Scope::Region(3));
        assert_eq!(
            derive_scope(&["region".into()], true, "team", 7, Some(3)),
            Scope::Province
        );
        assert_eq!(
            derive_scope(&["vendor".into()], false, "vendor", 9, None),
            Scope::Vendor(9)
        );
        assert_eq!(
            derive_scope(
                &["province".into(), "vendor".into()],
                false,
                "vendor",
                9,
                None
            ),
            Scope::Province
        );
    }
}
