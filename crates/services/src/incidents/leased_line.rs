//! The leased line a customer fault is on (KPI-09 network quality). Only a group customer's ticket can carry one:
//! the line's standard comes from the customer's tier and the service type (SLA-03), and KPI-09 counts the
//! line's faults of the year against it (`crate::kpi`).

use serde::Deserialize;
use serde_json::json;
use tianshu_core::policy::PolicyPack;
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::incidents as db;
use tianshu_store::leased_lines::{self, IncidentLeasedLine};

use super::{event, load_for_change, view, IncidentView, KIND};
use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

/// The leased line of a ticket as given by a user.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LeasedLineInput {
    /// The customer's circuit id, e.g. `GZ-DL-000123`.
    pub line: String,
    /// A `[[service_type]]` key of sla.toml (default: the tier's default level applies).
    pub service_type: Option<String>,
}

/// Checks `input` for a ticket of `customer`; returns it trimmed.
pub(super) async fn checked(
    p: &Platform,
    pack: &PolicyPack,
    customer: Option<&str>,
    input: &LeasedLineInput,
) -> ServiceResult<LeasedLineInput> {
    let line = input.line.trim();
    crate::validate::text("leased_line.line", line, 64, false)?;
    if line.chars().any(char::is_whitespace) {
        return Err(ServiceError::invalid_zh(
            "leased_line.line",
            "a circuit id has no spaces",
            "专线电路编号不能包含空格",
        ));
    }
    let service_type = input
        .service_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(t) = service_type {
        if !pack.sla.service_types.iter().any(|s| s.key == t) {
            let known: Vec<&str> = pack
                .sla
                .service_types
                .iter()
                .map(|s| s.key.as_str())
                .collect();
            return Err(ServiceError::invalid_zh(
                "leased_line.service_type",
                format!(
                    "'{t}' is not a [[service_type]] of sla.toml ({})",
                    known.join(", ")
                ),
                format!("业务类型“{t}”不在 sla.toml 中"),
            ));
        }
    }
    let Some(customer) = customer.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(ServiceError::invalid_zh(
            "customer",
            "a leased-line fault needs the group customer whose line it is",
            "专线故障须填写所属集团客户",
        ));
    };
    if p.store.group_customer(customer).await?.is_none() {
        return Err(ServiceError::unknown_ref(
            "customer",
            format!("'{customer}' is not a group customer; only a group customer's ticket carries a leased line"),
            format!("“{customer}”不是集团客户，不能登记专线"),
        ));
    }
    Ok(LeasedLineInput {
        line: line.to_string(),
        service_type: service_type.map(str::to_string),
    })
}

/// Sets (`Some`) or clears (`None`) the leased line of ticket `id` at `version`; on its timeline and audited.
pub async fn set(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    input: Option<LeasedLineInput>,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentTriage)?;
    let before = load_for_change(p, actor, id, version).await?;
    if before.parent_id.is_some() || before.master_id.is_some() {
        // KPI-09 counts the top-level ticket only; a line on a child or merged report would never be counted.
        return Err(ServiceError::invalid_zh(
            "leased_line",
            "set the leased line on the top-level ticket, not on a dispatch child or merged report",
            "请在主工单上登记专线，派单子单和被合并的报告不登记",
        ));
    }
    let pol = p.policy.current();
    let input = match input {
        Some(i) => Some(checked(p, &pol.pack, before.customer.as_deref(), &i).await?),
        None => None,
    };
    let now = p.now_us();
    let actor_s = actor.actor();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                // Bumps the version: the line is part of what a stale writer would overwrite.
                let saved = db::save(c, &before, now).await?;
                let (kind, data) = match &input {
                    Some(i) => {
                        leased_lines::set(
                            c,
                            &IncidentLeasedLine {
                                incident_id: saved.id,
                                leased_line: i.line.clone(),
                                service_type: i.service_type.clone(),
                                set_by: actor_s.clone(),
                                set_at: now,
                            },
                        )
                        .await?;
                        (
                            "incident.leased_line_set",
                            json!({"leased_line": i.line, "service_type": i.service_type}),
                        )
                    }
                    None => {
                        leased_lines::clear(c, saved.id).await?;
                        ("incident.leased_line_cleared", json!({}))
                    }
                };
                event(c, &saved, now, kind, &actor_s, data.clone()).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s.clone(),
                        action: kind.into(),
                        object_type: KIND.into(),
                        object_id: saved.id.to_string(),
                        before: None,
                        after: Some(data),
                        request_id: rid,
                        at: now,
                    },
                )
                .await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}
