//! Group customers and their service tier (SLA-01/SLA-02): created and re-tiered under the SLA-02 quotas of
//! sla.toml, checked inside the write so two concurrent assignments cannot both take the last place. The KPI
//! scorecards read a fault's tier from here (KPI-07).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::sla::{check_assignment, quota_report, QuotaExceeded, QuotaReport, Tier};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::kpi::{
    customer_for_update, customer_tier_counts, insert_customer, set_customer_tier,
    GroupCustomerRow, NewGroupCustomer,
};

use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

/// A new group customer.
#[derive(Debug, Clone, Deserialize)]
pub struct NewCustomerInput {
    pub key: String,
    pub name: String,
    pub tier: String,
    /// Key of the branch serving the customer.
    pub org_key: Option<String>,
}

/// The customers with the SLA-02 quota report.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerList {
    pub customers: Vec<GroupCustomerRow>,
    pub quotas: QuotaReport,
}

fn parse_tier(s: &str) -> ServiceResult<Tier> {
    s.trim().parse::<Tier>().map_err(|_| {
        ServiceError::invalid(
            "tier",
            format!("'{s}' is not a tier (key_assurance, diamond, gold, silver, bronze)"),
        )
    })
}

fn counts_of(rows: &[(String, i64)]) -> BTreeMap<Tier, u64> {
    rows.iter()
        .filter_map(|(t, n)| Some((t.parse::<Tier>().ok()?, u64::try_from(*n).ok()?)))
        .collect()
}

fn quota_error(e: &QuotaExceeded) -> ServiceError {
    ServiceError::invalid_zh(
        "tier",
        e.to_string(),
        format!(
            "{}：{}客户数将达到{}，超过集团客户总数{}的{}%（上限{}）",
            e.rule,
            e.tier.name_zh(),
            e.count,
            e.total,
            e.max_percent,
            e.max
        ),
    )
}

/// Every group customer and the SLA-02 quota report.
pub async fn list(p: &Platform, actor: &Principal) -> ServiceResult<CustomerList> {
    actor.require(Permission::OrgRead)?;
    let customers = p.store.group_customers().await?;
    let mut counts: BTreeMap<Tier, u64> = BTreeMap::new();
    for c in &customers {
        if let Ok(t) = c.tier.parse::<Tier>() {
            *counts.entry(t).or_default() += 1;
        }
    }
    let quotas = quota_report(&counts, &p.policy.current().pack.sla.quotas);
    Ok(CustomerList { customers, quotas })
}

/// Registers a group customer; a tier over its SLA-02 quota is refused naming the rule, nothing stored.
pub async fn create(
    p: &Platform,
    actor: &Principal,
    input: NewCustomerInput,
) -> ServiceResult<GroupCustomerRow> {
    actor.require(Permission::OrgManage)?;
    let key = input.key.trim().to_string();
    if key.is_empty()
        || key.len() > 64
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ServiceError::invalid(
            "key",
            "1–64 characters of a–z, 0–9, '-' or '_'",
        ));
    }
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::invalid("name", "1–200 characters"));
    }
    let tier = parse_tier(&input.tier)?;
    let org_id = match input
        .org_key
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(k) => {
            let o = p.store.org_by_key(k).await?.ok_or_else(|| {
                ServiceError::unknown_ref(
                    "org_key",
                    format!("no organisation '{k}'"),
                    format!("没有组织“{k}”"),
                )
            })?;
            if o.kind != "branch" {
                return Err(ServiceError::invalid(
                    "org_key",
                    format!("'{k}' is not a branch"),
                ));
            }
            Some(o.id)
        }
    };
    let quotas = p.policy.current().pack.sla.quotas.clone();
    let now = p.now_us();
    let who = actor.actor();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let counts = counts_of(&customer_tier_counts(c).await?);
                if let Err(e) = check_assignment(&counts, None, tier, &quotas) {
                    return Ok(Err(e));
                }
                let row = insert_customer(
                    c,
                    &NewGroupCustomer {
                        key,
                        name,
                        tier: tier.as_str().into(),
                        org_id,
                        created_by: who.clone(),
                        now,
                    },
                )
                .await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "customer.create".into(),
                        object_type: "group_customer".into(),
                        object_id: row.key.clone(),
                        before: None,
                        after: Some(json!({"tier": row.tier, "name": row.name})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(Ok(row))
            })
        })
        .await?;
    row.map_err(|e| quota_error(&e))
}

/// Moves a customer to another tier (version-checked); over-quota refused with SLA-02.
pub async fn set_tier(
    p: &Platform,
    actor: &Principal,
    key: &str,
    version: i64,
    tier: &str,
) -> ServiceResult<GroupCustomerRow> {
    actor.require(Permission::OrgManage)?;
    let tier = parse_tier(tier)?;
    let quotas = p.policy.current().pack.sla.quotas.clone();
    let now = p.now_us();
    let who = actor.actor();
    let wanted = key.to_string();
    let key = wanted.clone();
    let out = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let Some(cur) = customer_for_update(c, &key).await? else {
                    return Ok(None);
                };
                let from = cur.tier.parse::<Tier>().ok();
                let counts = counts_of(&customer_tier_counts(c).await?);
                if let Err(e) = check_assignment(&counts, from, tier, &quotas) {
                    return Ok(Some(Err(e)));
                }
                let row = set_customer_tier(c, cur.id, version, tier.as_str(), now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "customer.tier".into(),
                        object_type: "group_customer".into(),
                        object_id: row.key.clone(),
                        before: Some(json!({"tier": cur.tier})),
                        after: Some(json!({"tier": row.tier})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(Some(Ok(row)))
            })
        })
        .await?;
    match out {
        None => Err(ServiceError::NotFound(format!("group customer {wanted}"))),
        Some(r) => r.map_err(|e| quota_error(&e)),
    }
}
