//! Console page handlers.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::authz::Scope;
use tianshu_services::identity::{self, CreateUser};
use tianshu_services::{session, ServiceError};
use tianshu_workcal::DeadlineBasis;

use super::{render, request_locale, ConsoleUser, Layout, Tr, LANG_COOKIE};
use crate::api::session::{clear_cookie, is_https, session_cookie};
use crate::error::ApiError;
use crate::state::AppState;

/// Form fields as ordered pairs (repeated keys such as `roles` survive).
pub(super) fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    let mut pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default();
    // NUL never belongs in a form value and PostgreSQL text cannot hold it.
    for (_, v) in pairs.iter_mut() {
        v.retain(|c| c != '\0');
    }
    pairs
}

pub(super) fn field(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

pub(super) fn tz(st: &AppState) -> chrono_tz::Tz {
    st.platform.time_zone()
}

/// A stored instant as local wall time of the centre.
pub(super) fn local(st: &AppState, us: i64) -> String {
    tianshu_store::time::from_micros(us)
        .with_timezone(&tz(st))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn safe_next(next: &str) -> &str {
    // Only same-site paths: never redirect to another host after login.
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    l: Layout,
    element_id: &'static str,
    text: String,
}

/// The 403 page.
pub fn forbidden(u: &ConsoleUser, st: &AppState, perm: Permission) -> Response {
    let mut l = u.layout(st, "", "forbidden-title");
    l.title = u.t.t("forbidden-title");
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            l,
            element_id: "forbidden",
            text: u.t.t1("forbidden-text", "perm", perm.as_str()),
        },
    )
}

/// A page with one message.
pub fn message_page(
    u: &ConsoleUser,
    st: &AppState,
    status: StatusCode,
    title_key: &str,
    text: &str,
) -> Response {
    render(
        status,
        &MessagePage {
            l: u.layout(st, "", title_key),
            element_id: "message",
            text: text.to_string(),
        },
    )
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    error: Option<String>,
    username: String,
    next: String,
    expired: bool,
}

/// Query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    lang: Option<String>,
}

/// The login form.
pub async fn login_form(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let t = match &q.lang {
        Some(l) => Tr::new(l),
        None => request_locale(&headers, None),
    };
    let page = LoginPage {
        t,
        error: None,
        username: String::new(),
        next: q.next.unwrap_or_default(),
        expired: q.expired.is_some(),
    };
    let mut resp = render(StatusCode::OK, &page);
    if q.lang.is_some() {
        set_lang_cookie(&mut resp, t.lang());
    }
    resp
}

fn same_origin(headers: &HeaderMap) -> bool {
    // Login CSRF defence: a browser sends Origin on cross-site POSTs; it must name this host.
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
        _ => true,
    }
}

/// Handles the login form.
pub async fn login_submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let (username, password, next) = (
        field(&pairs, "username"),
        field(&pairs, "password"),
        field(&pairs, "next"),
    );
    let t = request_locale(&headers, None);
    let fail = |status: StatusCode, key: &str| {
        render(
            status,
            &LoginPage {
                t,
                error: Some(t.t(key)),
                username: username.clone(),
                next: next.clone(),
                expired: false,
            },
        )
    };
    if !same_origin(&headers) {
        return fail(StatusCode::FORBIDDEN, "login-origin");
    }
    if session::rate_check(&st.platform, &format!("ip:{}", addr.ip()))
        .await
        .is_err()
    {
        return fail(StatusCode::TOO_MANY_REQUESTS, "login-rate");
    }
    match session::login(&st.platform, &username, &password, None).await {
        Ok(s) => {
            let max_age = (s.expires_at - st.platform.now_us()) / 1_000_000;
            let mut r = Redirect::to(safe_next(&next)).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(
                    &s.secret,
                    max_age,
                    is_https(&headers, st.config.secure_cookies),
                ),
            );
            // The user's saved language wins at login unless one was just chosen on this page.
            if super::cookie(&super::parts_of(&headers), LANG_COOKIE).is_none() {
                set_lang_cookie(&mut r, Tr::new(&s.user.locale).lang());
            }
            r
        }
        Err(ServiceError::BadCredentials) => fail(StatusCode::UNAUTHORIZED, "login-bad"),
        Err(ServiceError::Locked { .. }) => fail(StatusCode::TOO_MANY_REQUESTS, "login-locked"),
        Err(e) => {
            tracing::error!(error = %e, "console login failed");
            fail(StatusCode::SERVICE_UNAVAILABLE, "login-unavailable")
        }
    }
}

fn set_lang_cookie(resp: &mut Response, lang: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={lang}; Path=/; SameSite=Lax; Max-Age=31536000"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Ends the console session (CSRF-checked form post).
pub async fn logout(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    if let Some(r) = u.check_csrf(&st, &field(&form_pairs(&body), "csrf")) {
        return r;
    }
    let _ = session::logout(&st.platform, &u.p).await;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}

/// Switches the console language and saves it as the user's default.
pub async fn set_lang(
    State(st): State<AppState>,
    u: ConsoleUser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let lang = Tr::new(&field(&pairs, "lang")).lang();
    if let Err(e) = identity::set_own_locale(&st.platform, &u.p, lang).await {
        tracing::warn!(error = %e, "saving the language preference failed");
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(safe_next(&back)).into_response();
    set_lang_cookie(&mut r, lang);
    r
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    l: Layout,
    display_name: String,
    roles: Vec<String>,
    scope: String,
    policy_version: String,
    now: String,
    audit_entries: Option<i64>,
    /// Open tickets per level (FL2, FL1, general), when the user may read incidents.
    levels: Option<Vec<(String, i64, String)>>,
    /// (incident id, number, title, level, rule, due local, due RFC 3339)
    clocks: Vec<(i64, String, String, String, String, String, String)>,
    /// Who is on duty now: (name, slot label, shift end local), when the user may read rosters.
    on_duty: Option<Vec<(String, String, String)>>,
    /// Alerts, when the user may read them.
    alerts: Option<DashAlerts>,
    /// Dial-test probes, when the user may read alerts.
    probes: Option<Vec<DashProbe>>,
    /// Latest reconciliation consistency per job: (job name, consistency, below target, run id).
    recon: Option<Vec<(String, String, bool, i64)>>,
}

/// A probe on the dashboard: (id, name, 24 h availability, last run failed, alerting).
type DashProbe = (i64, String, String, bool, bool);

/// The dashboard's alert card: (firing, acknowledged) counts and the newest firing alerts as
/// (id, severity, system, summary, last seen local).
type DashAlerts = ((i64, i64), Vec<(i64, String, String, String, String)>);

/// The landing page.
pub async fn home(State(st): State<AppState>, u: ConsoleUser) -> Response {
    let pol = st.platform.policy.current();
    let display_name = match st.platform.store.user(u.p.user_id).await {
        Ok(Some(x)) => x.display_name,
        _ => u.p.username.clone(),
    };
    let roles =
        u.p.roles
            .iter()
            .map(|r| match pol.pack.role(r) {
                Some(role) if u.t.lang() == "en" => role.name_en.clone(),
                Some(role) => role.name_zh.clone(),
                None => r.clone(),
            })
            .collect();
    let scope = u.t.t(match u.p.scope {
        Scope::Province => "scope-province",
        Scope::Region(_) => "scope-region",
        Scope::Vendor(_) => "scope-vendor",
    });
    let audit_entries = if u.p.can(Permission::AuditRead) {
        st.platform
            .store
            .audit_recent(None, 1)
            .await
            .ok()
            .and_then(|v| v.first().map(|e| e.seq))
    } else {
        None
    };
    let (levels, clocks) = if u.p.can(Permission::IncidentRead) {
        let (region, vendor) = match u.p.scope {
            Scope::Province => (None, None),
            Scope::Region(r) => (Some(r), None),
            Scope::Vendor(v) => (None, Some(v)),
        };
        let counts = st
            .platform
            .store
            .open_incidents_by_level(region, vendor)
            .await
            .unwrap_or_default();
        let levels = ["FL2", "FL1", "general"]
            .iter()
            .map(|lv| {
                let n = counts
                    .iter()
                    .find(|(l, _)| l == lv)
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                (lv.to_string(), n, u.t.t(&format!("level-{lv}")))
            })
            .collect();
        let clocks = if vendor.is_none() {
            st.platform
                .store
                .next_due_clocks(10, region)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    (
                        c.incident_id,
                        c.number,
                        c.title,
                        c.fault_level,
                        c.rule,
                        local(&st, c.due_at),
                        tianshu_store::time::canonical(c.due_at),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        (Some(levels), clocks)
    } else {
        (None, Vec::new())
    };
    let now_utc = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(st.platform.now_us())
        .unwrap_or_default();
    let on_duty = if u.p.can(Permission::DutyRead) {
        let people = tianshu_services::duty::on_duty(
            &st.platform,
            &u.p,
            now_utc,
            &tianshu_services::duty::OnDutyQuery::default(),
        )
        .await
        .unwrap_or_default();
        Some(
            people
                .into_iter()
                .map(|x| {
                    let slot = match pol.pack.duty.slot(&x.slot) {
                        Some(d) if u.t.lang() == "en" => d.name_en.clone(),
                        Some(d) => d.name_zh.clone(),
                        None => x.slot.clone(),
                    };
                    let end = chrono::DateTime::parse_from_rfc3339(&x.end)
                        .map(|t| local(&st, t.timestamp_micros()))
                        .unwrap_or(x.end);
                    (x.name, slot, end)
                })
                .collect(),
        )
    } else {
        None
    };
    let alerts = if u.p.can(Permission::AlertRead) {
        let counts = st.platform.store.alert_counts().await.unwrap_or_default();
        let n = |k: &str| counts.iter().find(|(s, _)| s == k).map_or(0, |(_, n)| *n);
        let firing = st
            .platform
            .store
            .alerts_page(
                i64::MAX,
                5,
                &tianshu_store::alerts::AlertFilter {
                    state: Some("firing".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                (
                    a.id,
                    a.severity,
                    a.system,
                    a.summary,
                    local(&st, a.last_seen),
                )
            })
            .collect();
        Some(((n("firing"), n("acknowledged")), firing))
    } else {
        None
    };
    let probes = if u.p.can(Permission::AlertRead) {
        tianshu_services::monitoring::probes::list(&st.platform, &u.p)
            .await
            .ok()
            .map(|v| {
                v.into_iter()
                    .filter(|x| x.enabled)
                    .map(|x| {
                        (
                            x.id,
                            x.name,
                            x.availability_24h
                                .map_or("—".into(), |a| format!("{a:.1}%")),
                            x.last_ok == Some(false),
                            x.alerting,
                        )
                    })
                    .collect()
            })
    } else {
        None
    };
    let recon = super::recon::dashboard_card(&st, &u).await;
    let page = HomePage {
        recon,
        levels,
        clocks,
        on_duty,
        alerts,
        probes,
        l: u.layout(&st, "home", "home-title"),
        display_name,
        roles,
        scope,
        policy_version: pol.pack.pack.version.clone(),
        now: local(&st, st.platform.now_us()),
        audit_entries,
    };
    render(StatusCode::OK, &page)
}

/// A row of the user table.
struct UserRow {
    username: String,
    display_name: String,
    org: String,
    roles: String,
    active: bool,
}

/// Values typed into the new-user form (kept when validation fails).
#[derive(Default)]
struct UserForm {
    username: String,
    display_name: String,
    org_key: String,
    roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    l: Layout,
    flash: Option<String>,
    q: String,
    q_enc: String,
    rows: Vec<UserRow>,
    next_cursor: Option<String>,
    can_manage: bool,
    form: UserForm,
    errors: HashMap<String, String>,
    orgs: Vec<(String, String)>,
    role_options: Vec<(String, String)>,
}

/// Query of the users page.
#[derive(Debug, Deserialize)]
pub struct UsersQuery {
    q: Option<String>,
    cursor: Option<String>,
    created: Option<String>,
}

async fn users_page(
    st: &AppState,
    u: &ConsoleUser,
    q: &UsersQuery,
    form: UserForm,
    errors: HashMap<String, String>,
) -> Result<UsersPage, Response> {
    let (after, limit) = crate::api::PageParams {
        cursor: q.cursor.clone(),
        limit: Some(50),
    }
    .resolve()
    .unwrap_or((0, 50));
    let search = q.q.clone().unwrap_or_default();
    let users = identity::list_users(&st.platform, &u.p, after, limit, Some(&search))
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let orgs_all = st.platform.store.orgs().await.unwrap_or_default();
    let org_name: HashMap<i64, String> = orgs_all.iter().map(|o| (o.id, o.name.clone())).collect();
    let pol = st.platform.policy.current();
    let role_name = |k: &str| match pol.pack.role(k) {
        Some(r) if u.t.lang() == "en" => r.name_en.clone(),
        Some(r) => r.name_zh.clone(),
        None => k.to_string(),
    };
    let next_cursor = crate::api::next_cursor(users.len(), limit, users.last().map(|v| v.user.id));
    let rows = users
        .into_iter()
        .map(|v| UserRow {
            username: v.user.username,
            display_name: v.user.display_name,
            org: org_name.get(&v.user.org_id).cloned().unwrap_or_default(),
            roles: v
                .roles
                .iter()
                .map(|r| role_name(r))
                .collect::<Vec<_>>()
                .join("、"),
            active: v.user.active,
        })
        .collect();
    let visible_orgs = orgs_all
        .into_iter()
        .filter(|o| u.p.require_visible(o.region_id, o.id).is_ok())
        .map(|o| (o.key, o.name))
        .collect();
    Ok(UsersPage {
        l: u.layout(st, "users", "users-title"),
        flash: q
            .created
            .as_ref()
            .map(|n| u.t.t1("users-created", "name", n)),
        q_enc: serde_urlencoded::to_string([("", search.as_str())])
            .unwrap_or_default()
            .trim_start_matches('=')
            .to_string(),
        q: search,
        rows,
        next_cursor,
        can_manage: u.p.can(Permission::UserManage),
        form,
        errors,
        orgs: visible_orgs,
        role_options: pol
            .pack
            .roles
            .iter()
            .map(|r| (r.key.clone(), role_name(&r.key)))
            .collect(),
    })
}

/// The user list and, for managers, the new-user form.
pub async fn users(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<UsersQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::UserRead) {
        return r;
    }
    match users_page(&st, &u, &q, UserForm::default(), HashMap::new()).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// Creates a user from the console form; re-renders with field errors on bad input.
pub async fn create_user(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = u.require(&st, Permission::UserManage) {
        return r;
    }
    let form = UserForm {
        username: field(&pairs, "username").trim().to_string(),
        display_name: field(&pairs, "display_name"),
        org_key: field(&pairs, "org_key"),
        roles: pairs
            .iter()
            .filter(|(k, _)| k == "roles")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let password = Some(field(&pairs, "password")).filter(|p| !p.is_empty());
    let input = CreateUser {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        org_key: form.org_key.clone(),
        roles: form.roles.clone(),
        password,
        email: None,
        phone: None,
        locale: None,
        province_scope: false,
    };
    match identity::create_user(&st.platform, &u.p, input, None).await {
        Ok(v) => {
            let q = serde_urlencoded::to_string([("created", v.user.username.as_str())])
                .unwrap_or_default();
            Redirect::to(&format!("/users?{q}")).into_response()
        }
        Err(e @ ServiceError::Invalid { .. }) | Err(e @ ServiceError::Conflict { .. }) => {
            let field = match &e {
                ServiceError::Invalid { field, .. } | ServiceError::Conflict { field, .. } => {
                    field.clone()
                }
                _ => String::new(),
            };
            let message = match &e {
                ServiceError::Conflict { message, .. }
                    if u.t.lang() == "zh-CN" && message == "already exists" =>
                {
                    "已存在".to_string()
                }
                _ => e.localized(u.t.lang()),
            };
            let key = field.split('[').next().unwrap_or(&field).to_string();
            let mut errors = HashMap::new();
            errors.insert(key, message);
            let q = UsersQuery {
                q: None,
                cursor: None,
                created: None,
            };
            match users_page(&st, &u, &q, form, errors).await {
                Ok(p) => render(StatusCode::UNPROCESSABLE_ENTITY, &p),
                Err(r) => r,
            }
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}

pub(super) fn service_error_page(u: &ConsoleUser, st: &AppState, e: ServiceError) -> Response {
    match e {
        ServiceError::Forbidden(p) => forbidden(u, st, p),
        ServiceError::Stale(_) => message_page(
            u,
            st,
            StatusCode::CONFLICT,
            "error-title",
            &u.t.t("conflict"),
        ),
        ServiceError::NotFound(_) => message_page(
            u,
            st,
            StatusCode::NOT_FOUND,
            "notfound-title",
            &u.t.t("notfound-title"),
        ),
        other => {
            let text = match &other {
                ServiceError::OutOfScope => u.t.t("outofscope-text"),
                e => e.localized(u.t.lang()),
            };
            // The status is the JSON API's (its one mapping also logs internal failures); the page says why
            // for refusals only, never for server errors.
            let status = ApiError::from(other).status;
            if status.is_server_error() {
                message_page(u, st, status, "error-title", &u.t.t("error-title"))
            } else if status == StatusCode::FORBIDDEN {
                message_page(u, st, status, "forbidden-title", &text)
            } else {
                message_page(u, st, status, "error-title", &text)
            }
        }
    }
}

struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    object: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    l: Layout,
    rows: Vec<AuditRow>,
    older: Option<i64>,
    can_verify: bool,
    verify: Option<(bool, String)>,
}

/// Query of the audit page.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

async fn audit_page(
    st: &AppState,
    u: &ConsoleUser,
    before: Option<i64>,
    verify: Option<(bool, String)>,
) -> Response {
    let limit = 100;
    let rows = match st.platform.store.audit_recent(before, limit).await {
        Ok(r) => r,
        Err(e) => return service_error_page(u, st, e.into()),
    };
    let older = if rows.len() as i64 == limit {
        rows.last().map(|e| e.seq)
    } else {
        None
    };
    let rows = rows
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            at: local(st, e.at),
            actor: e.actor,
            action: e.action,
            object: format!("{}:{}", e.object_type, e.object_id),
        })
        .collect();
    let page = AuditPage {
        l: u.layout(st, "audit", "audit-title"),
        rows,
        older,
        can_verify: u.p.can(Permission::AuditVerify),
        verify,
    };
    render(StatusCode::OK, &page)
}

/// The audit trail, newest first.
pub async fn audit(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::AuditRead) {
        return r;
    }
    audit_page(&st, &u, q.before, None).await
}

/// Verifies the chain and shows the result above the trail.
pub async fn audit_verify(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    if let Some(r) = u.check_csrf(&st, &field(&form_pairs(&body), "csrf")) {
        return r;
    }
    if let Some(r) = u.require(&st, Permission::AuditVerify) {
        return r;
    }
    let v = match st.platform.store.audit_verify().await {
        Ok(r) if r.ok() => (true, u.t.t1("audit-ok", "n", &r.entries.to_string())),
        Ok(r) => (
            false,
            u.t.t1("audit-broken", "n", &r.problems.len().to_string()),
        ),
        Err(e) => return service_error_page(&u, &st, e.into()),
    };
    audit_page(&st, &u, None, Some(v)).await
}

/// Values of the deadline calculator.
#[derive(Debug, Default, Deserialize)]
pub struct CalendarForm {
    #[serde(default)]
    calendar: String,
    #[serde(default)]
    basis: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    date: String,
    year: Option<i32>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    l: Layout,
    calendars: Vec<(String, String)>,
    form: CalendarForm,
    errors: HashMap<String, String>,
    result: Option<String>,
    year_label: String,
    holidays: Vec<(String, String, String)>,
}

/// Calendars, the deadline calculator and the year's holidays.
pub async fn calendar(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(mut form): Query<CalendarForm>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::CalendarRead) {
        return r;
    }
    let pol = st.platform.policy.current();
    let zone = tz(&st);
    if form.calendar.is_empty() {
        form.calendar = pol.pack.calendars.default_calendar.clone();
    }
    let mut errors = HashMap::new();
    let mut result = None;
    if !form.basis.is_empty() {
        match (
            form.basis.parse::<DeadlineBasis>(),
            pol.calendars.get(&form.calendar),
        ) {
            (Err(e), _) => {
                errors.insert("basis".to_string(), e.to_string());
            }
            (_, Err(_)) => {
                errors.insert(
                    "calendar".to_string(),
                    format!("unknown calendar '{}'", form.calendar),
                );
            }
            (Ok(basis), Ok(cal)) => {
                let backward = matches!(
                    basis,
                    DeadlineBasis::WorkingDaysBefore { .. }
                        | DeadlineBasis::CalendarDaysBefore { .. }
                );
                let due = if backward {
                    match NaiveDate::parse_from_str(&form.date, "%Y-%m-%d") {
                        Ok(d) => Some(cal.deadline_before(&basis, d)),
                        Err(_) => {
                            errors.insert("date".to_string(), "YYYY-MM-DD".into());
                            None
                        }
                    }
                } else {
                    let parsed = NaiveDateTime::parse_from_str(&form.from, "%Y-%m-%dT%H:%M")
                        .or_else(|_| {
                            NaiveDateTime::parse_from_str(&form.from, "%Y-%m-%dT%H:%M:%S")
                        });
                    match parsed
                        .ok()
                        .and_then(|n| zone.from_local_datetime(&n).earliest())
                    {
                        Some(t) => Some(cal.deadline(&basis, t.with_timezone(&chrono::Utc), &[])),
                        None => {
                            errors.insert("from".to_string(), "YYYY-MM-DDTHH:MM".into());
                            None
                        }
                    }
                };
                match due {
                    Some(Ok(d)) => {
                        result = Some(
                            d.with_timezone(&cal.time_zone())
                                .format("%Y-%m-%d %H:%M:%S %Z")
                                .to_string(),
                        )
                    }
                    Some(Err(e)) => {
                        errors.insert("basis".to_string(), e.to_string());
                    }
                    None => {}
                }
            }
        }
    }
    let year = form.year.unwrap_or_else(|| {
        st.platform
            .clock
            .now()
            .with_timezone(&zone)
            .date_naive()
            .format("%Y")
            .to_string()
            .parse()
            .unwrap_or(2026)
    });
    let mut holidays = Vec::new();
    if let Some(y) = pol.calendars.year(year) {
        for h in &y.holidays {
            holidays.push((
                h.name.clone(),
                format!("{} – {}", h.from, h.to),
                u.t.t("calendar-holiday"),
            ));
        }
        for w in &y.workdays {
            holidays.push((w.name.clone(), w.date.to_string(), u.t.t("calendar-makeup")));
        }
    }
    let calendars = pol
        .calendars
        .list()
        .into_iter()
        .map(|c| (c.name, c.title))
        .collect();
    let page = CalendarPage {
        l: u.layout(&st, "calendar", "calendar-title"),
        calendars,
        form,
        errors,
        result,
        year_label: year.to_string(),
        holidays,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    l: Layout,
    flash: Option<String>,
    error: Option<String>,
    version: String,
    hash: String,
    files: String,
    warnings: Vec<String>,
    can_reload: bool,
    fault_rows: Vec<(String, String, String)>,
    problem_rows: Vec<(String, String, String)>,
    roles: Vec<(String, String, String)>,
}

fn policy_page(
    st: &AppState,
    u: &ConsoleUser,
    flash: Option<String>,
    error: Option<String>,
) -> PolicyPage {
    let pol = st.platform.policy.current();
    let pack = &pol.pack;
    let today = st.platform.clock.now().with_timezone(&tz(st)).date_naive();
    let f = &pack.fault_levels;
    let fault_rows = vec![
        (
            "FL1".to_string(),
            "users".to_string(),
            format!("{:?}", f.fl1.users),
        ),
        (
            "FL1".to_string(),
            "complaints".to_string(),
            format!("{:?}", f.fl1.complaints),
        ),
        (
            "FL2".to_string(),
            "users".to_string(),
            format!("{:?}", f.fl2.users),
        ),
        (
            "FL2".to_string(),
            "complaints".to_string(),
            format!("{:?}", f.fl2.complaints),
        ),
    ];
    let problem_rows = pack
        .problem_levels
        .levels
        .iter()
        .map(|l| {
            (
                format!("{:?}", l.level),
                l.response.to_string(),
                l.resolution.to_string(),
            )
        })
        .collect();
    let en = u.t.lang() == "en";
    let roles = pack
        .roles
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                if en {
                    r.name_en.clone()
                } else {
                    r.name_zh.clone()
                },
                r.permissions
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect();
    PolicyPage {
        l: u.layout(st, "policy", "policy-title"),
        flash,
        error,
        version: pack.pack.version.clone(),
        hash: pack.source_hash.clone(),
        files: pack
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        warnings: pack.warnings(today),
        can_reload: u.p.can(Permission::PolicyReload),
        fault_rows,
        problem_rows,
        roles,
    }
}

/// The active policy pack.
pub async fn policy(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = u.require(&st, Permission::PolicyRead) {
        return r;
    }
    render(StatusCode::OK, &policy_page(&st, &u, None, None))
}

/// Reloads the pack from its source; shows every validation error when it is broken.
pub async fn policy_reload(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    if let Some(r) = u.check_csrf(&st, &field(&form_pairs(&body), "csrf")) {
        return r;
    }
    if let Some(r) = u.require(&st, Permission::PolicyReload) {
        return r;
    }
    let now = st.platform.now_us();
    match st
        .platform
        .policy
        .reload(
            &st.platform.store,
            &st.config.pack_source,
            now,
            &u.p.actor(),
        )
        .await
    {
        Ok(a) => {
            let msg = u.t.t1("policy-reloaded", "version", &a.pack.pack.version);
            render(StatusCode::OK, &policy_page(&st, &u, Some(msg), None))
        }
        Err(ServiceError::Policy(errs)) => {
            let text = tianshu_services::policy::format_errors(&errs);
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &policy_page(&st, &u, None, Some(text)),
            )
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}

impl IntoResponse for LoginPage {
    fn into_response(self) -> Response {
        render(StatusCode::OK, &self)
    }
}
