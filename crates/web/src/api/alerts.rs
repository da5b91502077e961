//! Monitoring alerts (issue 5): Alertmanager webhook and generic events intake, the alert list and page with
//! history, acknowledge / resolve, silences and maintenance windows.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::alerts::{self, AlertmanagerPayload, EventInput, MuteInput};
use tianshu_services::ServiceError;
use tianshu_store::alerts::{AlertFilter, MuteKind};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{reject_nul_escape, ApiJson, ApiPath, ApiQuery, Auth, JsonBody};
use crate::state::AppState;

fn json<T: serde::Serialize>(v: T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Intake refuses a malformed payload with 400 naming the field (nothing is stored).
fn malformed(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid { field, message, .. } => ApiError::bad_field(field, message),
        other => other.into(),
    }
}

/// Decodes a payload straight from the body's bytes (this is the intake's hot path: no intermediate
/// `serde_json::Value`), naming the offending field (also a missing one) in the 400.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    reject_nul_escape(body)?;
    // Well-formed payloads (nearly all) decode without path tracking, which doubles the decoding cost; only a
    // failure is decoded again to name the field.
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let v = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m.to_string(),
            (".", None) => "(body)".to_string(),
            (p, Some(m)) => format!("{p}.{m}"),
            (p, None) => p.to_string(),
        };
        ApiError::bad_field(field, message)
    })?;
    // Trailing characters after the document are malformed too.
    de.end()
        .map_err(|e| ApiError::bad_field("(body)", e.to_string()))?;
    Ok(v)
}

// Response shapes, for the OpenAPI document only: handlers serialise the service types, whose JSON these
// mirror field for field.

/// What happened to one event.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct OutcomeOut {
    pub alert_id: Option<i64>,
    pub dedup_key: String,
    /// created, refired, repeated, acknowledged, resolved, ignored.
    pub result: String,
    pub state: Option<String>,
    pub routes: Vec<String>,
    pub suppressed: Option<String>,
    /// The ticket attached to or opened.
    pub incident_id: Option<i64>,
}

/// The outcome of an Alertmanager payload.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct IntakeOut {
    pub items: Vec<OutcomeOut>,
}

/// An alert (times in Unix microseconds UTC).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AlertOut {
    pub id: i64,
    pub dedup_key: String,
    /// alertmanager or events.
    pub source: String,
    /// firing, acknowledged, resolved.
    pub state: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub alertname: String,
    pub summary: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub group_key: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub event_count: i64,
    pub fire_count: i64,
    pub flapping: bool,
    /// silenced, maintenance, flapping, grouped.
    pub suppressed: Option<String>,
    pub routes: Vec<String>,
    pub notified_at: Option<i64>,
    pub incident_id: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub version: i64,
}

/// A page of alerts (firing first within the page).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AlertPageOut {
    pub items: Vec<AlertOut>,
    pub next_cursor: Option<String>,
}

/// One history entry.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct HistoryOut {
    pub id: i64,
    pub at: i64,
    /// fired, repeated, suppressed, notified, acknowledged, resolved.
    pub kind: String,
    pub actor: String,
    pub state_change: bool,
    pub data: Value,
}

/// An alert with its history.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AlertViewOut {
    pub alert: AlertOut,
    pub history: Vec<HistoryOut>,
}

/// A silence or maintenance window.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MuteOut {
    pub id: i64,
    /// Maintenance windows only (empty for silences).
    pub name: String,
    pub matchers: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub reason: String,
    pub created_at: i64,
    pub ended_by: Option<String>,
    pub ended_at: Option<i64>,
    pub active: bool,
    pub version: i64,
}

/// Silences or windows.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MutePage {
    pub items: Vec<MuteOut>,
}

/// The PagerDuty-style answer to an event.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct EventAccepted {
    /// `success`.
    pub status: String,
    pub message: String,
    /// The key to acknowledge / resolve with (without the `ev:` prefix).
    pub dedup_key: String,
    pub outcome: OutcomeOut,
}

// ---------------------------------------------------------------- requests

/// An Alertmanager webhook payload (version 4), documented loosely: Alertmanager sends it unchanged.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AlertmanagerBody {
    pub version: String,
    pub status: String,
    pub receiver: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<Value>,
}

/// A generic event (PagerDuty Events v2).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct EventBody {
    /// trigger, acknowledge, resolve.
    pub event_action: String,
    pub dedup_key: Option<String>,
    pub routing_key: Option<String>,
    pub payload: Option<EventPayloadBody>,
}

/// What a trigger carries.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct EventPayloadBody {
    pub summary: String,
    pub source: String,
    /// critical, error, warning, info.
    pub severity: String,
    pub timestamp: Option<String>,
    /// The system.
    pub component: Option<String>,
    /// The region.
    pub group: Option<String>,
    /// The alert name.
    pub class: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_details: Option<Value>,
}

/// Accepts an Alertmanager webhook (API token with `alert.manage`); every alert is stored before the answer.
#[utoipa::path(post, path = "/api/v1/alerts/alertmanager", tag = "alerts", request_body = AlertmanagerBody,
    responses((status = 200, description = "stored", body = IntakeOut)))]
pub async fn alertmanager(
    State(st): State<AppState>,
    Auth(p): Auth,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<IntakeReply>> {
    let payload: AlertmanagerPayload = decode(&body)?;
    let items = alerts::ingest_alertmanager(&st.platform, &p, payload)
        .await
        .map_err(malformed)?;
    Ok(Json(IntakeReply { items }))
}

/// What [`alertmanager`] answers (serialised directly, not through a `Value`).
#[derive(serde::Serialize)]
pub struct IntakeReply {
    items: Vec<alerts::Outcome>,
}

/// Accepts one event: trigger, acknowledge or resolve by dedup key (PagerDuty Events v2 semantics).
#[utoipa::path(post, path = "/api/v1/alerts/events", tag = "alerts", request_body = EventBody,
    responses((status = 202, description = "stored", body = EventAccepted)))]
pub async fn event(
    State(st): State<AppState>,
    Auth(p): Auth,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let e: EventInput = decode(&body)?;
    let o = alerts::ingest_event(&st.platform, &p, e)
        .await
        .map_err(malformed)?;
    let key = o
        .dedup_key
        .strip_prefix("ev:")
        .unwrap_or(&o.dedup_key)
        .to_string();
    Ok((
        StatusCode::ACCEPTED,
        json(
            serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": key, "outcome": o}),
        ),
    ))
}

/// Alert list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// firing, acknowledged, resolved.
    pub state: Option<String>,
    pub system: Option<String>,
    pub severity: Option<String>,
    pub region: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Alerts, newest first (firing ones first within a page).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, description = "alerts", body = AlertPageOut)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<Value>> {
    let cursor = match &q.cursor {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_field("cursor", "not a cursor of this list"))?,
        ),
        None => None,
    };
    let filter = AlertFilter {
        state: q.state,
        system: q.system,
        severity: q.severity,
        region: q.region,
    };
    Ok(json(
        alerts::list(&st.platform, &p, filter, cursor, q.limit.unwrap_or(50)).await?,
    ))
}

/// One alert with its full history.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "alert id")), responses((status = 200, description = "alert", body = AlertViewOut)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(alerts::get(&st.platform, &p, id).await?))
}

/// Acknowledge or resolve.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    /// The version read.
    pub version: i64,
    pub note: Option<String>,
}

/// A user acknowledges (`acknowledge`) or resolves (`resolve`) an alert; audited.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/{action}", tag = "alerts", request_body = ActBody,
    params(("id" = i64, Path, description = "alert id"), ("action" = String, Path, description = "acknowledge or resolve")),
    responses((status = 200, description = "alert", body = AlertViewOut)))]
pub async fn act(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<ActBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        alerts::act(&st.platform, &p, id, &action, b.version, b.note).await?,
    ))
}

/// Which mutes to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MuteQuery {
    /// Include ended and past ones.
    pub all: Option<bool>,
}

/// A new silence.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    /// Alertmanager-style matchers: `system=crm`, `severity=~critical|severe`, `region!=shenzhen`.
    pub matchers: Vec<String>,
    /// RFC 3339; default now.
    pub starts_at: Option<String>,
    /// RFC 3339.
    pub ends_at: String,
    pub reason: String,
}

/// A new maintenance window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceBody {
    pub name: String,
    pub matchers: Vec<String>,
    pub starts_at: Option<String>,
    pub ends_at: String,
    pub reason: String,
}

/// Ends a silence or window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndBody {
    pub version: i64,
}

/// Silences not yet over (`all=true`: every one).
#[utoipa::path(get, path = "/api/v1/alerts/silences", tag = "alerts", params(MuteQuery),
    responses((status = 200, description = "silences", body = MutePage)))]
pub async fn silences(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MuteQuery>,
) -> ApiResult<Json<Value>> {
    let items =
        alerts::mutes_list(&st.platform, &p, MuteKind::Silence, q.all.unwrap_or(false)).await?;
    Ok(json(serde_json::json!({"items": items})))
}

/// Creates a silence (author, reason, expiry); audited.
#[utoipa::path(post, path = "/api/v1/alerts/silences", tag = "alerts", request_body = SilenceBody,
    responses((status = 201, description = "created", body = MuteOut)))]
pub async fn create_silence(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<SilenceBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = alerts::mute_create(
        &st.platform,
        &p,
        MuteKind::Silence,
        MuteInput {
            name: None,
            matchers: b.matchers,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            reason: b.reason,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, json(m)))
}

/// One silence.
#[utoipa::path(get, path = "/api/v1/alerts/silences/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "silence id")), responses((status = 200, description = "silence", body = MuteOut)))]
pub async fn silence(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        alerts::mute_get(&st.platform, &p, MuteKind::Silence, id).await?,
    ))
}

/// Expires a silence now; audited.
#[utoipa::path(post, path = "/api/v1/alerts/silences/{id}/expire", tag = "alerts", request_body = EndBody,
    params(("id" = i64, Path, description = "silence id")), responses((status = 200, description = "expired", body = MuteOut)))]
pub async fn expire_silence(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<EndBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        alerts::mute_end(&st.platform, &p, MuteKind::Silence, id, b.version).await?,
    ))
}

/// Maintenance windows not yet over (`all=true`: every one).
#[utoipa::path(get, path = "/api/v1/alerts/maintenance", tag = "alerts", params(MuteQuery),
    responses((status = 200, description = "windows", body = MutePage)))]
pub async fn maintenance(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MuteQuery>,
) -> ApiResult<Json<Value>> {
    let items = alerts::mutes_list(
        &st.platform,
        &p,
        MuteKind::Maintenance,
        q.all.unwrap_or(false),
    )
    .await?;
    Ok(json(serde_json::json!({"items": items})))
}

/// Creates a maintenance window; audited.
#[utoipa::path(post, path = "/api/v1/alerts/maintenance", tag = "alerts", request_body = MaintenanceBody,
    responses((status = 201, description = "created", body = MuteOut)))]
pub async fn create_maintenance(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<MaintenanceBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = alerts::mute_create(
        &st.platform,
        &p,
        MuteKind::Maintenance,
        MuteInput {
            name: Some(b.name),
            matchers: b.matchers,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            reason: b.reason,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, json(m)))
}

/// One maintenance window.
#[utoipa::path(get, path = "/api/v1/alerts/maintenance/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "window id")), responses((status = 200, description = "window", body = MuteOut)))]
pub async fn maintenance_window(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        alerts::mute_get(&st.platform, &p, MuteKind::Maintenance, id).await?,
    ))
}

/// Cancels a maintenance window now; audited.
#[utoipa::path(post, path = "/api/v1/alerts/maintenance/{id}/cancel", tag = "alerts", request_body = EndBody,
    params(("id" = i64, Path, description = "window id")), responses((status = 200, description = "cancelled", body = MuteOut)))]
pub async fn cancel_maintenance(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<EndBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        alerts::mute_end(&st.platform, &p, MuteKind::Maintenance, id, b.version).await?,
    ))
}
