//! Provisioning orders of group customers (issue 8 item 2; SLA-04..SLA-07): placed under
//! `/api/v1/customers/{key}/orders`, read, delayed and completed under `/api/v1/provisioning-orders/{id}`, with
//! their SLA-09 acceptances and KPI-06 data configuration (`…/acceptances`, `…/data-configuration`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::delivery::{self, AcceptanceInput, DataConfigInput, Delivery};
use tianshu_services::provisioning::{
    self as prov, DelayDecisionInput, DelayInput, NewOrderInput, OrderView,
};
use tianshu_store::time::canonical;
use utoipa::ToSchema;

use crate::api::kpi::CustomerOut;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::state::AppState;

/// A delay request (SLA-07) as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningDelayOut {
    pub id: i64,
    /// Always `customer_caused`: other causes are refused and not stored.
    pub reason: String,
    /// The delay, Unix microseconds UTC.
    pub from_at: i64,
    pub until_at: i64,
    pub note: String,
    /// `requested` (filed before the deadline, awaiting a second person's decision), `granted` (approved:
    /// excluded from the clock, the deadline moved), `rejected` (with `decision_note`) or `refused_late` (filed at
    /// or after the deadline: one overdue, SLA-07).
    pub outcome: String,
    /// The deadline in force when filed.
    pub deadline_before: i64,
    /// The deadline after the decision; while `requested`, the deadline it moves to if approved.
    pub deadline_after: i64,
    pub filed_by: String,
    pub filed_at: i64,
    /// User name of the requester (the decider must be someone else).
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// The reason given when rejected.
    pub decision_note: String,
}

/// An order's deadline as a durable clock: it records its breach once and queues sla.toml `[breach]`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningClockOut {
    /// The stage's rule (SLA-04).
    pub rule: String,
    /// Working time on the SLA calendar (`117h@office` = 13 WD).
    pub basis: String,
    pub calendar: String,
    /// Unix microseconds UTC.
    pub started_at: i64,
    /// Equals the order's `deadline_at` (moved by granted delays).
    pub due_at: i64,
    /// `running`, `met` or `breached`.
    pub state: String,
    pub stopped_at: Option<i64>,
    /// When it fell due unmet.
    pub breached_at: Option<i64>,
}

/// An acceptance (SLA-09) as held.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningAcceptanceOut {
    pub id: i64,
    /// `accompanying_inspection`, `initial_acceptance`, `trial_run` or `final_acceptance`.
    pub phase: String,
    /// `passed` or `failed` (a failed initial acceptance sends the order back to engineering for rectification).
    pub outcome: String,
    /// Unix microseconds UTC.
    pub held_at: i64,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// The data configuration of an order (KPI-06): notice, start and the overrun KPI-06 reads.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningDataConfigOut {
    /// When the configuration notice was given, Unix microseconds UTC.
    pub notified_at: i64,
    /// When configuration started; `null` until recorded.
    pub started_at: Option<i64>,
    /// The customer's tier when the notice was recorded: selects the KPI-06 unit.
    pub tier: String,
    pub note: String,
    pub notified_by: String,
    pub started_by: Option<String>,
    /// The KPI-06 limit for the order's tier in seconds (kpi.toml), when the pack gives a wall-clock one.
    pub limit_seconds: Option<i64>,
    /// Seconds from notice to start, once started.
    pub wait_seconds: Option<i64>,
    /// Seconds beyond the limit (≤ 0: in time), once started.
    pub overrun_seconds: Option<i64>,
}

/// A provisioning order and what its clock says now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningOrderOut {
    pub id: i64,
    pub customer_key: String,
    pub customer_name: String,
    /// Stage key of sla.toml.
    pub stage: String,
    pub stage_name_zh: String,
    /// The customer's tier when the order was placed (SLA-01).
    pub tier: String,
    pub access_points: i64,
    pub city: String,
    pub note: String,
    /// SLA-04 limit after SLA-05 scaling, in working days on the SLA calendar (`13wd`).
    pub limit: String,
    /// Rules behind the limit (`SLA-04`, plus `SLA-05` when scaled).
    pub rules: Vec<String>,
    /// Unix microseconds UTC.
    pub started_at: i64,
    pub deadline_at: i64,
    /// The deadline as RFC 3339 UTC.
    pub deadline: String,
    /// `open` or `completed`.
    pub state: String,
    pub completed_at: Option<i64>,
    /// SLA-07: delay requests filed at or after the deadline.
    pub late_requests: i64,
    /// Open and past its deadline.
    pub overdue_now: bool,
    /// Completed after its deadline.
    pub completed_late: bool,
    /// SLA-07 overdue count (late requests cumulatively; lateness once, not on top of them).
    pub overdue_count: u32,
    pub delays: Vec<ProvisioningDelayOut>,
    /// The durable deadline clock (none for orders placed before it existed).
    pub clock: Option<ProvisioningClockOut>,
    /// SLA-09 acceptances in recorded order.
    pub acceptances: Vec<ProvisioningAcceptanceOut>,
    /// Where the order stands in SLA-09: `not_started`, `inspection`, `rectification` (the last initial
    /// acceptance failed), `handed_over`, `trial_run` or `accepted`.
    pub acceptance_state: String,
    /// KPI-05: whether the first initial acceptance passed; `null` before one is held.
    pub first_initial_passed: Option<bool>,
    /// KPI-06 data configuration, once its notice is recorded.
    pub data_configuration: Option<ProvisioningDataConfigOut>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl From<OrderView> for ProvisioningOrderOut {
    fn from(v: OrderView) -> Self {
        let o = v.order;
        let Delivery {
            acceptances,
            acceptance_state,
            first_initial_passed,
            data_configuration,
        } = v.delivery;
        ProvisioningOrderOut {
            id: o.id,
            customer_key: o.customer_key,
            customer_name: v.customer_name,
            stage: o.stage,
            stage_name_zh: v.stage_name_zh,
            tier: o.tier,
            access_points: o.access_points,
            city: o.city,
            note: o.note,
            limit: o.limit_text,
            rules: v.rules,
            started_at: o.started_at,
            deadline_at: o.deadline_at,
            deadline: canonical(o.deadline_at),
            state: o.state,
            completed_at: o.completed_at,
            late_requests: o.late_requests,
            overdue_now: v.overdue_now,
            completed_late: v.completed_late,
            overdue_count: v.overdue_count,
            delays: v
                .delays
                .into_iter()
                .map(|d| ProvisioningDelayOut {
                    id: d.id,
                    reason: d.reason,
                    from_at: d.from_at,
                    until_at: d.until_at,
                    note: d.note,
                    outcome: d.outcome,
                    deadline_before: d.deadline_before,
                    deadline_after: d.deadline_after,
                    filed_by: d.filed_by,
                    filed_at: d.filed_at,
                    requested_by: d.requested_by,
                    decided_by: d.decided_by,
                    decided_at: d.decided_at,
                    decision_note: d.decision_note,
                })
                .collect(),
            clock: v.clock.map(|k| ProvisioningClockOut {
                rule: k.rule,
                basis: k.basis,
                calendar: k.calendar,
                started_at: k.started_at,
                due_at: k.due_at,
                state: k.state,
                stopped_at: k.stopped_at,
                breached_at: k.breached_at,
            }),
            acceptances: acceptances
                .into_iter()
                .map(|a| ProvisioningAcceptanceOut {
                    id: a.id,
                    phase: a.phase,
                    outcome: a.outcome,
                    held_at: a.held_at,
                    note: a.note,
                    recorded_by: a.recorded_by,
                    recorded_at: a.recorded_at,
                })
                .collect(),
            acceptance_state: acceptance_state.as_str().into(),
            first_initial_passed,
            data_configuration: data_configuration.map(|d| ProvisioningDataConfigOut {
                notified_at: d.row.notified_at,
                started_at: d.row.started_at,
                tier: d.row.tier,
                note: d.row.note,
                notified_by: d.row.notified_by,
                started_by: d.row.started_by,
                limit_seconds: d.limit_seconds,
                wait_seconds: d.wait_seconds,
                overrun_seconds: d.overrun_seconds,
            }),
            created_by: o.created_by,
            created_at: o.created_at,
            updated_at: o.updated_at,
            version: o.version,
        }
    }
}

/// The orders of a customer, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningOrderListOut {
    pub orders: Vec<ProvisioningOrderOut>,
}

/// SLA-03: the assurance level of one service type for the customer's tier.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerAssuranceOut {
    pub service_type: String,
    pub name_zh: String,
    /// `AAA`, `AA`, `A` or `normal`.
    pub level: String,
}

/// A group customer with its SLA-03 levels and provisioning orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetailOut {
    pub customer: CustomerOut,
    /// The tier's default assurance level (SLA-03).
    pub default_level: Option<String>,
    pub assurance: Vec<CustomerAssuranceOut>,
    pub orders: Vec<ProvisioningOrderOut>,
}

/// An order to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningOrderBody {
    /// Stage key of sla.toml (`existing_network_survey`, `construction_survey`, `provisioning`, …); a stage
    /// without a limit for the customer's tier → 422 naming SLA-04.
    pub stage: String,
    /// Access points (per city for provisioning, SLA-05); more than 5 scale the limit.
    pub access_points: i64,
    pub city: String,
    pub note: Option<String>,
}

/// A delay request (SLA-07).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningDelayBody {
    pub version: i64,
    /// `customer_caused` (the only cause that may be requested) or `not_customer_caused` (→ 422 on `reason`).
    pub reason: String,
    /// Start of the delay, RFC 3339 (default: now; not before the order).
    pub from: Option<String>,
    /// End of the delay, RFC 3339.
    pub until: String,
    pub note: Option<String>,
}

/// Approval of a delay request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningDelayApproveBody {
    /// The order's version.
    pub version: i64,
}

/// Rejection of a delay request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningDelayRejectBody {
    /// The order's version.
    pub version: i64,
    /// Why (required, at most 2000 characters).
    pub reason: String,
}

/// Completion feedback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningCompleteBody {
    pub version: i64,
}

/// An acceptance to record (SLA-09).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningAcceptanceBody {
    /// The order's version.
    pub version: i64,
    /// `accompanying_inspection` → `initial_acceptance` → `trial_run` → `final_acceptance` (SLA-09 order).
    pub phase: String,
    /// `passed` or `failed`.
    pub outcome: String,
    /// When it was held, RFC 3339 (default: now; not in the future, not before the order or the last acceptance).
    pub held_at: Option<String>,
    pub note: Option<String>,
}

/// The notice and / or start of an order's data configuration (KPI-06).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningDataConfigBody {
    /// The order's version.
    pub version: i64,
    /// When the configuration notice was given, RFC 3339 (required the first time, then fixed).
    pub notified_at: Option<String>,
    /// When configuration started, RFC 3339 (not before the notice; recorded once).
    pub started_at: Option<String>,
    pub note: Option<String>,
}

/// A group customer with its SLA-03 assurance levels and provisioning orders.
#[utoipa::path(get, path = "/api/v1/customers/{key}", tag = "kpi",
    params(("key" = String, Path, description = "customer key")),
    responses((status = 200, description = "customer", body = CustomerDetailOut)))]
pub async fn customer(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<CustomerDetailOut>> {
    let d = prov::customer(&st.platform, &p, &key).await?;
    Ok(Json(CustomerDetailOut {
        customer: d.customer.into(),
        default_level: d.default_level.map(|l| l.as_str().to_string()),
        assurance: d
            .assurance
            .into_iter()
            .map(|a| CustomerAssuranceOut {
                service_type: a.service_type,
                name_zh: a.name_zh,
                level: a.level.as_str().into(),
            })
            .collect(),
        orders: d.orders.into_iter().map(Into::into).collect(),
    }))
}

/// The provisioning orders of a customer, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{key}/orders", tag = "kpi",
    params(("key" = String, Path, description = "customer key")),
    responses((status = 200, description = "orders", body = ProvisioningOrderListOut)))]
pub async fn list_orders(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<ProvisioningOrderListOut>> {
    let orders = prov::list(&st.platform, &p, &key).await?;
    Ok(Json(ProvisioningOrderListOut {
        orders: orders.into_iter().map(Into::into).collect(),
    }))
}

/// Places an order: the limit of the stage for the customer's tier (SLA-04), scaled by access points (SLA-05),
/// the deadline on the SLA calendar from now.
#[utoipa::path(post, path = "/api/v1/customers/{key}/orders", tag = "kpi", request_body = ProvisioningOrderBody,
    params(("key" = String, Path, description = "customer key")),
    responses((status = 201, description = "placed", body = ProvisioningOrderOut)))]
pub async fn create_order(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<ProvisioningOrderBody>,
) -> ApiResult<(StatusCode, Json<ProvisioningOrderOut>)> {
    let v = prov::create(
        &st.platform,
        &p,
        &key,
        NewOrderInput {
            stage: b.stage,
            access_points: b.access_points,
            city: b.city,
            note: b.note,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

/// One provisioning order with its delay requests.
#[utoipa::path(get, path = "/api/v1/provisioning-orders/{id}", tag = "kpi",
    params(("id" = i64, Path, description = "order id")),
    responses((status = 200, description = "order", body = ProvisioningOrderOut)))]
pub async fn get_order(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    Ok(Json(prov::get(&st.platform, &p, id).await?.into()))
}

/// Files a delay request (SLA-07; `org.manage`). Customer-caused and before the deadline: recorded as
/// `requested` until someone else decides it (`…/approve`, `…/reject`); the filing time decides lateness. At or
/// after the deadline: 422 on `filed_at` naming SLA-07 — the request is recorded and counts as one overdue (the
/// order's version changes). Another cause: 422 on `reason`, nothing stored. A request already awaiting a
/// decision → 409 on `state`. Stale version → 412; completed order → 409.
#[utoipa::path(post, path = "/api/v1/provisioning-orders/{id}/delays", tag = "kpi",
    request_body = ProvisioningDelayBody,
    params(("id" = i64, Path, description = "order id")),
    responses((status = 200, description = "requested; the order with the request awaiting a decision", body = ProvisioningOrderOut)))]
pub async fn file_delay(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ProvisioningDelayBody>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    let v = prov::file_delay(
        &st.platform,
        &p,
        id,
        DelayInput {
            version: b.version,
            reason: b.reason,
            from: b.from,
            until: b.until,
            note: b.note,
        },
    )
    .await?;
    Ok(Json(v.into()))
}

/// Completion feedback (SLA-06: the clock stops now). Stale version → 412; already completed → 409.
#[utoipa::path(post, path = "/api/v1/provisioning-orders/{id}/complete", tag = "kpi",
    request_body = ProvisioningCompleteBody,
    params(("id" = i64, Path, description = "order id")),
    responses((status = 200, description = "completed", body = ProvisioningOrderOut)))]
pub async fn complete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ProvisioningCompleteBody>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    Ok(Json(
        prov::complete(&st.platform, &p, id, b.version)
            .await?
            .into(),
    ))
}

/// Approves a delay request (`provisioning.approve`; not by its requester — 409 on `approver`): the delay is
/// excluded from the clock (SLA-06), the deadline and the order's durable clock move. Stale order version → 412;
/// a decided request or completed order → 409 on `state`.
#[utoipa::path(post, path = "/api/v1/provisioning-orders/{id}/delays/{delay_id}/approve", tag = "kpi",
    request_body = ProvisioningDelayApproveBody,
    params(("id" = i64, Path, description = "order id"), ("delay_id" = i64, Path, description = "delay request id")),
    responses((status = 200, description = "granted; the order with its new deadline", body = ProvisioningOrderOut)))]
pub async fn approve_delay(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, delay_id)): ApiPath<(i64, i64)>,
    ApiJson(b): ApiJson<ProvisioningDelayApproveBody>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    let v = prov::decide_delay(
        &st.platform,
        &p,
        id,
        delay_id,
        b.version,
        DelayDecisionInput::Approve,
    )
    .await?;
    Ok(Json(v.into()))
}

/// Rejects a delay request with a reason (`provisioning.approve`; not by its requester — 409 on `approver`; a
/// blank reason → 422 on `reason`). The deadline stays. Stale order version → 412; a decided request or
/// completed order → 409 on `state`.
#[utoipa::path(post, path = "/api/v1/provisioning-orders/{id}/delays/{delay_id}/reject", tag = "kpi",
    request_body = ProvisioningDelayRejectBody,
    params(("id" = i64, Path, description = "order id"), ("delay_id" = i64, Path, description = "delay request id")),
    responses((status = 200, description = "rejected; the order", body = ProvisioningOrderOut)))]
pub async fn reject_delay(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, delay_id)): ApiPath<(i64, i64)>,
    ApiJson(b): ApiJson<ProvisioningDelayRejectBody>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    let v = prov::decide_delay(
        &st.platform,
        &p,
        id,
        delay_id,
        b.version,
        DelayDecisionInput::Reject { reason: b.reason },
    )
    .await?;
    Ok(Json(v.into()))
}

/// Records an acceptance of a `provisioning`-stage order (SLA-09; `org.manage`). Phases in order: accompanying
/// inspection → initial acceptance → trial run → final acceptance; out of order → 422 on `phase` naming SLA-09;
/// held before the last acceptance, before the order or in the future → 422 on `held_at`. A failed initial
/// acceptance returns the order for rectification and may be held again; KPI-05 counts the first one. Another
/// stage → 409 on `stage`; stale version → 412.
#[utoipa::path(post, path = "/api/v1/provisioning-orders/{id}/acceptances", tag = "kpi",
    request_body = ProvisioningAcceptanceBody,
    params(("id" = i64, Path, description = "order id")),
    responses((status = 200, description = "recorded; the order with its acceptances", body = ProvisioningOrderOut)))]
pub async fn record_acceptance(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ProvisioningAcceptanceBody>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    let v = delivery::record_acceptance(
        &st.platform,
        &p,
        id,
        AcceptanceInput {
            version: b.version,
            phase: b.phase,
            outcome: b.outcome,
            held_at: b.held_at,
            note: b.note,
        },
    )
    .await?;
    Ok(Json(v.into()))
}

/// Records the data-configuration notice and / or start of a `provisioning`-stage order (KPI-06; `org.manage`).
/// The first call needs `notified_at` (422 on it otherwise); each instant is recorded once (another → 409 on that
/// field); a start before the notice → 422 on `started_at` naming KPI-06. Another stage → 409 on `stage`; stale
/// version → 412.
#[utoipa::path(post, path = "/api/v1/provisioning-orders/{id}/data-configuration", tag = "kpi",
    request_body = ProvisioningDataConfigBody,
    params(("id" = i64, Path, description = "order id")),
    responses((status = 200, description = "recorded; the order with its data configuration", body = ProvisioningOrderOut)))]
pub async fn record_data_configuration(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ProvisioningDataConfigBody>,
) -> ApiResult<Json<ProvisioningOrderOut>> {
    let v = delivery::record_data_configuration(
        &st.platform,
        &p,
        id,
        DataConfigInput {
            version: b.version,
            notified_at: b.notified_at,
            started_at: b.started_at,
            note: b.note,
        },
    )
    .await?;
    Ok(Json(v.into()))
}
