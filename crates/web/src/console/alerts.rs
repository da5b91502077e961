//! Console pages for monitoring alerts (issue 5): the list (firing first, filters) and one alert with its
//! history and the acknowledge / resolve buttons.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::alerts::{self, AlertOut};
use tianshu_services::ServiceError;
use tianshu_store::alerts::AlertFilter;

use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

const STATES: &[&str] = &["firing", "acknowledged", "resolved"];

fn state_label(u: &ConsoleUser, s: &str) -> String {
    let key = format!("alert-state-{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

struct Row {
    id: i64,
    state: String,
    state_key: String,
    system: String,
    region: String,
    severity: String,
    alertname: String,
    summary: String,
    started: String,
    count: i64,
    suppressed: String,
}

fn row(st: &AppState, u: &ConsoleUser, a: &AlertOut) -> Row {
    Row {
        id: a.id,
        state: state_label(u, &a.state),
        state_key: a.state.clone(),
        system: a.system.clone(),
        region: a.region.clone(),
        severity: a.severity.clone(),
        alertname: a.alertname.clone(),
        summary: a.summary.clone(),
        started: local(st, a.starts_at),
        count: a.event_count,
        suppressed: a.suppressed.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct ListPage {
    l: Layout,
    /// MON-09 sign-in panel (None without alert.read of the sign-in, never in practice).
    signin: Option<super::monitoring::SigninPanel>,
    signin_error: Option<String>,
    /// MON-10 budget of this month.
    budget: Option<super::monitoring::BudgetPanel>,
    rows: Vec<Row>,
    state: String,
    system: String,
    severity: String,
    states: Vec<(String, String)>,
    next: Option<String>,
}

/// Filters of the alert list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    system: Option<String>,
    severity: Option<String>,
    cursor: Option<i64>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The alert list: firing first, with state / system / severity filters; the MON-09 sign-in and the MON-10
/// budget above it.
pub async fn list(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&st, &u, q, None).await
}

/// The sign-in form on /alerts.
pub async fn signin(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let note = Some(field(&pairs, "note")).filter(|s| !s.trim().is_empty());
    match tianshu_services::monitoring::signin::sign_in(&st.platform, &u.p, note).await {
        Ok(_) => Redirect::to("/alerts#signin").into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e) => {
            let q = ListQuery {
                state: None,
                system: None,
                severity: None,
                cursor: None,
            };
            let mut r = list_page(&st, &u, q, Some(e.localized(u.t.lang()))).await;
            *r.status_mut() = StatusCode::CONFLICT;
            r
        }
    }
}

async fn list_page(
    st: &AppState,
    u: &ConsoleUser,
    q: ListQuery,
    signin_error: Option<String>,
) -> Response {
    let (st, u) = (st.clone(), u);
    if !u.p.can(Permission::AlertRead) {
        return super::pages::forbidden(u, &st, Permission::AlertRead);
    }
    let state = non_empty(q.state).filter(|s| STATES.contains(&s.as_str()));
    let filter = AlertFilter {
        state: state.clone(),
        system: non_empty(q.system),
        severity: non_empty(q.severity),
        region: None,
    };
    let page = match alerts::list(&st.platform, &u.p, filter.clone(), q.cursor, 50).await {
        Ok(p) => p,
        Err(e) => return service_error_page(u, &st, e),
    };
    render(
        StatusCode::OK,
        &ListPage {
            l: u.layout(&st, "alerts", "alert-title-list"),
            signin: super::monitoring::signin_panel(&st, u).await,
            signin_error,
            budget: super::monitoring::budget_panel(&st, u).await,
            rows: page.items.iter().map(|a| row(&st, u, a)).collect(),
            state: state.unwrap_or_default(),
            system: filter.system.unwrap_or_default(),
            severity: filter.severity.unwrap_or_default(),
            states: STATES
                .iter()
                .map(|s| (s.to_string(), state_label(u, s)))
                .collect(),
            next: page.next_cursor,
        },
    )
}

struct HistoryRow {
    at: String,
    kind: String,
    actor: String,
    data: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct DetailPage {
    l: Layout,
    a: Row,
    version: i64,
    labels: Vec<(String, String)>,
    routes: String,
    can_ack: bool,
    can_resolve: bool,
    history: Vec<HistoryRow>,
    error: Option<String>,
}

async fn detail_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    error: Option<String>,
) -> Result<DetailPage, Response> {
    let v = alerts::get(&st.platform, &u.p, id)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let manage = u.p.can(Permission::AlertManage);
    let history = v
        .history
        .iter()
        .map(|h| HistoryRow {
            at: local(st, h.at),
            kind: {
                let key = format!("alert-event-{}", h.kind);
                let t = u.t.t(&key);
                if t == key {
                    h.kind.clone()
                } else {
                    t
                }
            },
            actor: h.actor.clone(),
            data: if h.data.is_null() || h.data == serde_json::json!({}) {
                String::new()
            } else {
                h.data.to_string()
            },
        })
        .collect();
    Ok(DetailPage {
        l: u.layout(st, "alerts", "alert-title-detail"),
        a: row(st, u, &v.alert),
        version: v.alert.version,
        labels: v.alert.labels.clone().into_iter().collect(),
        routes: v.alert.routes.join(", "),
        can_ack: manage && v.alert.state == "firing",
        can_resolve: manage && v.alert.state != "resolved",
        history,
        error,
    })
}

/// One alert with its history and actions.
pub async fn detail(State(st): State<AppState>, u: ConsoleUser, Path(id): Path<i64>) -> Response {
    match detail_page(&st, &u, id, None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// Acknowledge or resolve from the alert page (version-checked).
pub async fn act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let version = field(&pairs, "version").parse().unwrap_or(-1);
    let note = Some(field(&pairs, "note")).filter(|s| !s.trim().is_empty());
    let action = field(&pairs, "action");
    match alerts::act(&st.platform, &u.p, id, &action, version, note).await {
        Ok(_) => Redirect::to(&format!("/alerts/{id}")).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e @ ServiceError::NotFound(_)) => service_error_page(&u, &st, e),
        Err(e) => {
            let status = match &e {
                ServiceError::Stale(_) => StatusCode::PRECONDITION_FAILED,
                ServiceError::Conflict { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let msg = match &e {
                ServiceError::Stale(_) => u.t.t("conflict"),
                other => other.localized(u.t.lang()),
            };
            match detail_page(&st, &u, id, Some(msg)).await {
                Ok(p) => render(status, &p),
                Err(r) => r,
            }
        }
    }
}
