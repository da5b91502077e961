//! Group-customer complaints (issue 8, KPI-08 投诉处理及时率): recorded for a group customer with the handling
//! deadline customer service sets — the seed gives KPI-08's formula but no complaint-handling limit, so the
//! deadline is an input and nothing here or in the pack invents one — an optional CS level (SEV-08, an input
//! attribute) and an optional linked ticket; closed later by a separate transition with the closing time and a
//! resolution note. KPI-08 counts a complaint in the month it was closed, on time when closed by its deadline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::kpi::complaint::{self, ComplaintError};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::complaints::{
    close_complaint, complaint_for_update, insert_complaint, ComplaintRow, NewComplaint,
};
use tianshu_store::kpi::GroupCustomerRow;
use tianshu_store::StoreError;

use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

/// Longest summary or resolution note, in characters.
pub const MAX_TEXT: usize = 2000;

/// A complaint to record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComplaintInput {
    /// Key of the group customer.
    pub customer: String,
    /// When customer service received it, RFC 3339 (default: now).
    pub received_at: Option<String>,
    /// The handling deadline customer service set, RFC 3339; after `received_at`.
    pub due_at: String,
    /// `CS1` … `CS4` (SEV-08), when customer service gave one.
    pub cs_level: Option<String>,
    /// Number of a linked ticket.
    pub incident: Option<String>,
    pub summary: String,
}

/// Closing a complaint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseComplaintInput {
    pub version: i64,
    /// When it was closed, RFC 3339 (default: now); not before receipt, not in the future.
    pub closed_at: Option<String>,
    pub resolution: String,
}

/// A complaint with what KPI-08 says of it.
#[derive(Debug, Clone, Serialize)]
pub struct ComplaintView {
    pub complaint: ComplaintRow,
    pub customer_name: String,
    /// `CS1` … `CS4`.
    pub cs_level: Option<String>,
    /// Closed by its deadline (KPI-08); `None` while open.
    pub on_time: Option<bool>,
    /// Open and past its deadline.
    pub overdue_now: bool,
}

fn view(c: ComplaintRow, customer_name: String, now: i64) -> ComplaintView {
    ComplaintView {
        cs_level: c.cs_level.map(|n| format!("CS{n}")),
        on_time: c.closed_at.map(|t| complaint::on_time(t, c.due_at)),
        overdue_now: c.closed_at.is_none() && now > c.due_at,
        customer_name,
        complaint: c,
    }
}

fn complaint_error(e: &ComplaintError) -> ServiceError {
    let zh = match e {
        ComplaintError::DueNotAfterReceived => {
            "KPI-08：处理时限须晚于受理时间（时限由客服随投诉给定）".to_string()
        }
        ComplaintError::ReceivedInFuture => "KPI-08：受理时间不能晚于当前时间".into(),
        ComplaintError::ClosedBeforeReceived => "KPI-08：结案时间不能早于受理时间".into(),
        ComplaintError::ClosedInFuture => "KPI-08：结案时间不能晚于当前时间".into(),
        ComplaintError::BadLevel(s) => format!("SEV-08：“{s}”不是客服投诉等级（CS1–CS4）"),
    };
    ServiceError::invalid_zh(e.field(), e.to_string(), zh)
}

fn parse_instant(field: &str, s: &str) -> ServiceResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ServiceError::invalid_zh(
                field,
                format!("'{s}' is not an RFC 3339 time such as 2026-11-24T09:00:00+08:00"),
                format!("“{s}”不是有效的时间（例如 2026-11-24T09:00:00+08:00）"),
            )
        })
}

fn check_text(field: &str, s: &str, zh_name: &str) -> ServiceResult<String> {
    let t = s.trim().to_string();
    if t.is_empty() || t.chars().count() > MAX_TEXT {
        return Err(ServiceError::invalid_zh(
            field,
            format!("1–{MAX_TEXT} characters"),
            format!("{zh_name}须为 1 至 {MAX_TEXT} 个字符"),
        ));
    }
    Ok(t)
}

async fn customer_named(p: &Platform, field: &str, key: &str) -> ServiceResult<GroupCustomerRow> {
    p.store.group_customer(key.trim()).await?.ok_or_else(|| {
        ServiceError::unknown_ref(
            field,
            format!("no group customer '{}'", key.trim()),
            format!("没有集团客户“{}”", key.trim()),
        )
    })
}

/// The complaints of customer `key`, newest first.
pub async fn list(p: &Platform, actor: &Principal, key: &str) -> ServiceResult<Vec<ComplaintView>> {
    actor.require(Permission::OrgRead)?;
    let c = p
        .store
        .group_customer(key)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("group customer {key}")))?;
    let now = p.now_us();
    Ok(p.store
        .complaints_of(c.id)
        .await?
        .into_iter()
        .map(|m| view(m, c.name.clone(), now))
        .collect())
}

/// One complaint.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<ComplaintView> {
    actor.require(Permission::OrgRead)?;
    let m = p
        .store
        .complaint(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("complaint {id}")))?;
    let name = p
        .store
        .group_customer(&m.customer_key)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    Ok(view(m, name, p.now_us()))
}

/// Records a complaint (`org.manage`). Every refusal names its field and stores nothing: an unknown customer or
/// ticket, a deadline not after receipt, a receipt in the future, a level other than CS1–CS4, a blank summary.
pub async fn create(
    p: &Platform,
    actor: &Principal,
    input: NewComplaintInput,
) -> ServiceResult<ComplaintView> {
    actor.require(Permission::OrgManage)?;
    let now = p.now_us();
    let customer = customer_named(p, "customer", &input.customer).await?;
    let received_at = match input
        .received_at
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => parse_instant("received_at", s)?.timestamp_micros(),
        None => now,
    };
    let due_at = parse_instant("due_at", &input.due_at)?.timestamp_micros();
    complaint::check_new(received_at, due_at, now).map_err(|e| complaint_error(&e))?;
    let cs_level = match input
        .cs_level
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(i64::from(
            complaint::parse_level(s)
                .map_err(|e| complaint_error(&e))?
                .get(),
        )),
        None => None,
    };
    let incident_id = match input
        .incident
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(n) => Some(p.store.incident_id_by_number(n).await?.ok_or_else(|| {
            ServiceError::unknown_ref(
                "incident",
                format!("no ticket numbered '{n}'"),
                format!("没有编号为“{n}”的工单"),
            )
        })?),
        None => None,
    };
    let summary = check_text("summary", &input.summary, "投诉内容")?;
    let who = actor.actor();
    let new = NewComplaint {
        customer_id: customer.id,
        received_at,
        due_at,
        cs_level,
        incident_id,
        summary,
        created_by: who.clone(),
        now,
    };
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let row = insert_complaint(c, &new).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "complaint.create".into(),
                        object_type: "complaint".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"customer": row.customer_key, "received_at": row.received_at,
                            "due_at": row.due_at, "cs_level": row.cs_level, "incident_id": row.incident_id})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    Ok(view(row, customer.name, now))
}

/// Closes a complaint (`org.manage`): the closing time (default now; not before receipt, not in the future) and
/// a resolution note. Closed already → 409 on `state`; stale version → 412. Audited with whether it was on time.
pub async fn close(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: CloseComplaintInput,
) -> ServiceResult<ComplaintView> {
    actor.require(Permission::OrgManage)?;
    let now = p.now_us();
    let closed_at = match input
        .closed_at
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => parse_instant("closed_at", s)?.timestamp_micros(),
        None => now,
    };
    let resolution = check_text("resolution", &input.resolution, "处理结果")?;
    let who = actor.actor();
    let version = input.version;
    let out = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let cur = complaint_for_update(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("complaint {id}")))?;
                if cur.state != "open" {
                    return Err(StoreError::Conflict {
                        field: "state".into(),
                        message: format!("complaint {id} is already closed"),
                    });
                }
                if cur.version != version {
                    return Err(StoreError::Stale(format!("complaint {id}")));
                }
                if let Err(e) = complaint::check_close(cur.received_at, closed_at, now) {
                    return Ok(Err(e));
                }
                let row = close_complaint(c, id, version, closed_at, &who, &resolution, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "complaint.close".into(),
                        object_type: "complaint".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": cur.state})),
                        after: Some(json!({"state": row.state, "closed_at": closed_at,
                            "due_at": row.due_at, "on_time": complaint::on_time(closed_at, row.due_at)})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(Ok(row))
            })
        })
        .await?;
    let row = out.map_err(|e| complaint_error(&e))?;
    let name = p
        .store
        .group_customer(&row.customer_key)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    Ok(view(row, name, now))
}
