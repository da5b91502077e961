//! Group-customer complaints (issue 8, KPI-08): recorded under `/api/v1/complaints` with the handling deadline
//! customer service sets (the seed gives no complaint-handling limit), closed by `…/close`, listed per customer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::complaints::{self, CloseComplaintInput, ComplaintView, NewComplaintInput};
use utoipa::ToSchema;

use crate::api::ts;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::state::AppState;

/// A complaint and what KPI-08 says of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintOut {
    pub id: i64,
    pub customer_key: String,
    pub customer_name: String,
    /// When customer service received it, Unix microseconds UTC (and RFC 3339 in `received`).
    pub received_at: i64,
    pub received: String,
    /// The handling deadline customer service set with the complaint (the seed gives no limit).
    pub due_at: i64,
    pub due: String,
    /// `CS1` … `CS4` (SEV-08), as given by customer service.
    pub cs_level: Option<String>,
    pub incident_id: Option<i64>,
    pub incident_number: Option<String>,
    pub summary: String,
    /// `open` or `closed`.
    pub state: String,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    pub resolution: String,
    /// KPI-08: closed by its deadline; null while open.
    pub on_time: Option<bool>,
    /// Open and past its deadline.
    pub overdue_now: bool,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl From<ComplaintView> for ComplaintOut {
    fn from(v: ComplaintView) -> Self {
        let c = v.complaint;
        ComplaintOut {
            id: c.id,
            customer_key: c.customer_key,
            customer_name: v.customer_name,
            received_at: c.received_at,
            received: ts(c.received_at),
            due_at: c.due_at,
            due: ts(c.due_at),
            cs_level: v.cs_level,
            incident_id: c.incident_id,
            incident_number: c.incident_number,
            summary: c.summary,
            state: c.state,
            closed_at: c.closed_at,
            closed_by: c.closed_by,
            resolution: c.resolution,
            on_time: v.on_time,
            overdue_now: v.overdue_now,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// A customer's complaints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintListOut {
    pub complaints: Vec<ComplaintOut>,
}

/// A complaint to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintBody {
    /// Key of the group customer (unknown → 400 on `customer`).
    pub customer: String,
    /// When customer service received it, RFC 3339 (default: now; not in the future).
    pub received_at: Option<String>,
    /// The handling deadline, RFC 3339, set by customer service with the complaint: the seed gives no
    /// complaint-handling limit, so Tianshu computes none. Must be after `received_at` (else 422 on `due_at`).
    pub due_at: String,
    /// `CS1` … `CS4` (SEV-08: an input attribute set by customer service); other values → 422 on `cs_level`.
    pub cs_level: Option<String>,
    /// Number of a linked ticket (unknown → 400 on `incident`).
    pub incident: Option<String>,
    /// What the customer complained about (1–2000 characters).
    pub summary: String,
}

/// Closing a complaint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintCloseBody {
    pub version: i64,
    /// When it was closed, RFC 3339 (default: now; not before receipt, not in the future → 422 on `closed_at`).
    pub closed_at: Option<String>,
    /// How it was resolved (1–2000 characters).
    pub resolution: String,
}

/// The complaints of a group customer, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{key}/complaints", tag = "kpi",
    params(("key" = String, Path, description = "customer key")),
    responses((status = 200, description = "complaints", body = ComplaintListOut)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<ComplaintListOut>> {
    let v = complaints::list(&st.platform, &p, &key).await?;
    Ok(Json(ComplaintListOut {
        complaints: v.into_iter().map(Into::into).collect(),
    }))
}

/// Records a group-customer complaint (KPI-08; `org.manage`) with the handling deadline customer service set.
/// Every refusal names its field and stores nothing.
#[utoipa::path(post, path = "/api/v1/complaints", tag = "kpi", request_body = ComplaintBody,
    responses((status = 201, description = "recorded", body = ComplaintOut)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<ComplaintBody>,
) -> ApiResult<(StatusCode, Json<ComplaintOut>)> {
    let v = complaints::create(
        &st.platform,
        &p,
        NewComplaintInput {
            customer: b.customer,
            received_at: b.received_at,
            due_at: b.due_at,
            cs_level: b.cs_level,
            incident: b.incident,
            summary: b.summary,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

/// One complaint.
#[utoipa::path(get, path = "/api/v1/complaints/{id}", tag = "kpi",
    params(("id" = i64, Path, description = "complaint id")),
    responses((status = 200, description = "complaint", body = ComplaintOut)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ComplaintOut>> {
    Ok(Json(complaints::get(&st.platform, &p, id).await?.into()))
}

/// Closes a complaint (`org.manage`) with the closing time and a resolution note; KPI-08 counts it in the month
/// it was closed, on time when closed by its deadline. Already closed → 409 on `state`; stale version → 412.
#[utoipa::path(post, path = "/api/v1/complaints/{id}/close", tag = "kpi", request_body = ComplaintCloseBody,
    params(("id" = i64, Path, description = "complaint id")),
    responses((status = 200, description = "closed", body = ComplaintOut)))]
pub async fn close(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ComplaintCloseBody>,
) -> ApiResult<Json<ComplaintOut>> {
    let v = complaints::close(
        &st.platform,
        &p,
        id,
        CloseComplaintInput {
            version: b.version,
            closed_at: b.closed_at,
            resolution: b.resolution,
        },
    )
    .await?;
    Ok(Json(v.into()))
}
