//! Roles and the fixed permission catalogue. Role keys, names, scopes and grants are data (roles.toml);
//! the permission names are code because code checks them.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::Issue;
use super::units::{check_key, check_non_empty};

/// Declares the permission catalogue once: variant, stable name, Chinese label.
macro_rules! permissions {
    ($($variant:ident => $name:literal, $zh:literal;)*) => {
        /// One capability a role can grant; the set is closed so a typo in roles.toml is an error.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $(
                #[doc = $zh]
                $variant,
            )*
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            /// The stable dotted name used in roles.toml and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }

            /// Chinese label for the console.
            pub fn label_zh(self) -> &'static str {
                match self {
                    $(Permission::$variant => $zh,)*
                }
            }
        }
    };
}

permissions! {
    UserRead => "user.read", "查看用户";
    UserManage => "user.manage", "管理用户";
    OrgRead => "org.read", "查看组织";
    OrgManage => "org.manage", "管理组织";
    ProvisioningApprove => "provisioning.approve", "审批开通延期申请";
    RoleManage => "role.manage", "管理角色";
    TokenManage => "token.manage", "管理API令牌";
    AuditRead => "audit.read", "查看审计日志";
    AuditVerify => "audit.verify", "校验审计链";
    PolicyRead => "policy.read", "查看策略包";
    PolicyReload => "policy.reload", "重新加载策略包";
    CalendarRead => "calendar.read", "查看工作日历";
    CalendarManage => "calendar.manage", "维护工作日历";
    IncidentRead => "incident.read", "查看工单";
    IncidentCreate => "incident.create", "创建工单";
    IncidentTriage => "incident.triage", "预处理与定级";
    IncidentDispatch => "incident.dispatch", "派单";
    IncidentAudit => "incident.audit", "审核工单";
    IncidentClose => "incident.close", "归档关闭工单";
    IncidentEscalate => "incident.escalate", "升级上报";
    NotificationDraft => "notification.draft", "起草通知短信";
    NotificationApprove => "notification.approve", "审核通知短信";
    DutyRead => "duty.read", "查看排班";
    DutyManage => "duty.manage", "管理排班";
    AlertRead => "alert.read", "查看告警";
    AlertManage => "alert.manage", "处理告警";
    ProbeManage => "probe.manage", "管理拨测";
    ReconRead => "recon.read", "查看稽核对账";
    ReconRun => "recon.run", "执行稽核对账";
    ChangeRead => "change.read", "查看变更";
    ChangeRequest => "change.request", "申请变更";
    ChangeApprove => "change.approve", "审批变更";
    DataopRequest => "dataop.request", "提交数据操作";
    DataopApprove => "dataop.approve", "审批数据操作";
    DataopExecute => "dataop.execute", "执行数据操作";
    ProblemRead => "problem.read", "查看问题";
    ProblemManage => "problem.manage", "管理问题";
    KpiRead => "kpi.read", "查看考核指标";
    KpiAssess => "kpi.assess", "评定考核指标";
    ReportRead => "report.read", "查看报表";
    SensitiveRead => "sensitive.read", "查看一级敏感数据";
}

/// The whole permission catalogue.
pub const PERMISSIONS: &[Permission] = Permission::ALL;

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a permission name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission '{0}'")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.to_string()))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a role's grants apply: the whole province, one region (branch), or one vendor's tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleScope {
    /// The whole province / IT centre.
    Province,
    /// One region or branch (分公司/分部).
    Region,
    /// Only what is dispatched to the user's vendor.
    Vendor,
}

impl RoleScope {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "province" => Some(RoleScope::Province),
            "region" => Some(RoleScope::Region),
            "vendor" => Some(RoleScope::Vendor),
            _ => None,
        }
    }
}

/// A validated role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// Stable key (lower_snake_case).
    pub key: String,
    /// Chinese name shown to users.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Where the grants apply.
    pub scope: RoleScope,
    /// Rule IDs that define the role, for traceability.
    pub rules: Vec<String>,
    /// What the role may do.
    pub permissions: Vec<Permission>,
}

impl Role {
    /// Whether the role grants `p`.
    pub fn grants(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// roles.toml as written; scope and permissions stay strings so every bad entry can be reported with its index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolesFile {
    #[serde(default)]
    pub role: Vec<RawRole>,
}

/// One `[[role]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub scope: String,
    #[serde(default)]
    pub rules: Vec<String>,
    pub permissions: Vec<String>,
}

impl RolesFile {
    /// Checks keys, scopes and permissions; returns the roles that are fully valid.
    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) -> Vec<Role> {
        let mut seen = HashSet::new();
        let mut roles = Vec::new();
        if self.role.is_empty() {
            issues.push(Issue::new("role", "at least one [[role]] is required"));
        }
        for (i, r) in self.role.iter().enumerate() {
            let at = |f: &str| format!("role[{i}].{f}");
            let before = issues.len();
            check_key(&at("key"), &r.key, issues);
            if !seen.insert(r.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate role key '{}'", r.key),
                ));
            }
            check_non_empty(&at("name_zh"), &r.name_zh, issues);
            check_non_empty(&at("name_en"), &r.name_en, issues);
            for (j, rule) in r.rules.iter().enumerate() {
                super::units::check_rule_id(&format!("role[{i}].rules[{j}]"), rule, issues);
            }
            let scope = RoleScope::parse(&r.scope);
            if scope.is_none() {
                issues.push(Issue::new(
                    at("scope"),
                    format!(
                        "unknown role scope '{}' (expected province, region or vendor)",
                        r.scope
                    ),
                ));
            }
            let mut perms = Vec::new();
            for (j, p) in r.permissions.iter().enumerate() {
                let path = format!("role[{i}].permissions[{j}]");
                match p.parse::<Permission>() {
                    Ok(p) if perms.contains(&p) => {
                        issues.push(Issue::new(path, format!("permission '{p}' listed twice")))
                    }
                    Ok(p) => perms.push(p),
                    Err(e) => issues.push(Issue::new(path, e.to_string())),
                }
            }
            if let (Some(scope), true) = (scope, issues.len() == before) {
                roles.push(Role {
                    key: r.key.clone(),
                    name_zh: r.name_zh.clone(),
                    name_en: r.name_en.clone(),
                    scope,
                    rules: r.rules.clone(),
                    permissions: perms,
                });
            }
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_round_trip() {
        let names: HashSet<_> = PERMISSIONS.iter().map(|p| p.as_str()).collect();
        assert_eq!(names.len(), PERMISSIONS.len());
        assert_eq!(PERMISSIONS.len(), 41);
        for p in PERMISSIONS {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), *p);
        }
        assert!("incident.delete".parse::<Permission>().is_err());
    }
}
