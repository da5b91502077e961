//! The server-rendered console: shell, navigation, i18n, and the pages of the capabilities built
//! so far. Progressive enhancement only: every page works without JavaScript.

mod alerts;
mod assets;
mod changes;
mod charts;
mod complaints;
mod customers;
mod dataops;
mod duty;
pub mod i18n;
mod incidents;
mod kpi;
mod mon_forms;
mod monitoring;
mod notifications;
mod pages;
mod problem_meetings;
mod problems;
mod recon;
mod refusal;
mod report_pack;
mod reports;
mod roster;
mod silences;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tianshu_core::Permission;
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::session;

use crate::extract::{cookie, SESSION_COOKIE};
use crate::state::AppState;
pub use i18n::Tr;

/// Cookie holding the chosen console language.
pub const LANG_COOKIE: &str = "tianshu_lang";

/// Console routes (mounted at `/`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/lang", post(pages::set_lang))
        .route("/incidents", get(incidents::list))
        .route(
            "/incidents/new",
            get(incidents::new_form).post(incidents::create),
        )
        .route("/incidents/views", post(incidents::save_view))
        .route("/incidents/views/{id}/delete", post(incidents::delete_view))
        .route("/incidents/{id}", get(incidents::detail))
        .route("/incidents/{id}/act", post(incidents::act))
        .route("/incidents/{id}/dispatch", post(incidents::dispatch))
        .route("/incidents/{id}/progress", post(incidents::progress))
        .route("/incidents/{id}/report", post(incidents::report))
        .route("/incidents/{id}/facts", post(incidents::facts))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::detail))
        .route("/alerts/{id}/act", post(alerts::act))
        .route(
            "/alerts/silences",
            get(silences::page).post(silences::create),
        )
        .route("/alerts/silences/{kind}/{id}/end", post(silences::end))
        .route("/duty", get(duty::page))
        .route("/duty/report", post(duty::file_report))
        .route("/duty/handover", post(duty::add_handover))
        .route("/duty/comp-time", get(duty::comp_time))
        .route("/duty/roster", get(roster::page))
        .route("/duty/swaps", post(roster::request_swap))
        .route("/duty/swaps/{id}/decide", post(roster::decide_swap))
        .route(
            "/incidents/{id}/notify",
            post(notifications::incident_notify),
        )
        .route("/notifications", get(notifications::list))
        .route("/notifications/templates", get(notifications::templates))
        .route(
            "/notifications/templates/{id}",
            get(notifications::template_form).post(notifications::template_save),
        )
        .route("/notifications/{id}", get(notifications::detail))
        .route("/notifications/{id}/act", post(notifications::act))
        .route("/users", get(pages::users).post(pages::create_user))
        .route("/audit", get(pages::audit))
        .route("/audit/verify", post(pages::audit_verify))
        .route("/calendar", get(pages::calendar))
        .route("/policy", get(pages::policy))
        .route("/policy/reload", post(pages::policy_reload))
        .route("/reports", get(reports::page))
        .route("/data-ops", get(dataops::list))
        .route("/data-ops/{id}", get(dataops::detail))
        .route("/data-ops/{id}/act", post(dataops::act))
        .route("/assets/{*path}", get(assets::serve))
        .route("/problems", get(problems::list).post(problems::create))
        .route("/problems/{id}", get(problems::detail))
        .route("/problems/{id}/act", post(problems::act))
        .route("/alerts/signin", post(alerts::signin))
        .route("/probes", get(monitoring::probes_page))
        .route("/probes/{id}", get(monitoring::probe_page))
        .route("/monitoring-points", get(monitoring::points_page))
        .route("/kpi", get(kpi::page))
        .route("/reports/pack", get(report_pack::page))
        .route("/changes", get(changes::calendar))
        .route(
            "/changes/releases",
            get(changes::releases_list).post(changes::release_create),
        )
        .route("/changes/releases/{id}", get(changes::release_detail))
        .route("/changes/releases/{id}/act", post(changes::release_act))
        .route(
            "/changes/cutovers",
            get(changes::cutovers_list).post(changes::cutover_create),
        )
        .route("/changes/cutovers/{id}", get(changes::cutover_detail))
        .route("/changes/cutovers/{id}/act", post(changes::cutover_act))
        .route(
            "/changes/assurance",
            get(changes::assurance_list).post(changes::assurance_create),
        )
        .route("/changes/assurance/{id}/act", post(changes::assurance_act))
        .route(
            "/changes/requirements",
            get(changes::requirements_list).post(changes::requirement_create),
        )
        .route(
            "/changes/requirements/{id}",
            get(changes::requirement_detail),
        )
        .route(
            "/changes/requirements/{id}/act",
            post(changes::requirement_act),
        )
        .route(
            "/probes/new",
            get(mon_forms::probe_new).post(mon_forms::probe_create),
        )
        .route(
            "/probes/{id}/edit",
            get(mon_forms::probe_edit).post(mon_forms::probe_save),
        )
        .route("/probes/{id}/run", post(mon_forms::probe_run))
        .route(
            "/monitoring-points/new",
            get(mon_forms::point_new).post(mon_forms::point_create),
        )
        .route(
            "/monitoring-points/{id}/edit",
            get(mon_forms::point_edit).post(mon_forms::point_save),
        )
        .route(
            "/monitoring-databases/new",
            get(mon_forms::database_new).post(mon_forms::database_create),
        )
        .route(
            "/monitoring-databases/{id}/edit",
            get(mon_forms::database_edit).post(mon_forms::database_save),
        )
        .route("/recon", get(recon::page))
        .route("/recon/run", post(recon::run_now))
        .route("/recon/runs/{id}", get(recon::run_detail))
        .route("/recon/items/{id}/act", post(recon::item_act))
        .route("/customers", get(customers::list))
        .route("/customers/{key}", get(customers::detail))
        .route("/customers/{key}/orders", post(customers::create_order))
        .route(
            "/customers/{key}/orders/{id}/delay",
            post(customers::file_delay),
        )
        .route(
            "/customers/{key}/orders/{id}/complete",
            post(customers::complete),
        )
        .route(
            "/customers/{key}/orders/{id}/acceptances",
            post(customers::record_acceptance),
        )
        .route(
            "/customers/{key}/orders/{id}/data-configuration",
            post(customers::record_data_configuration),
        )
        .route(
            "/customers/{key}/orders/{id}/delays/{delay_id}/{decision}",
            post(customers::decide_delay),
        )
        .route("/customers/{key}/complaints", post(complaints::create))
        .route(
            "/customers/{key}/complaints/{id}/close",
            post(complaints::close),
        )
        .route("/kpi/assessments", post(kpi::assess))
        .route(
            "/problems/meetings",
            get(problem_meetings::list).post(problem_meetings::create),
        )
        .route(
            "/problems/meetings/{id}/actions/{action_id}/close",
            post(problem_meetings::close),
        )
}

/// One entry of the main navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

/// Navigation entries: key, path, label key, permissions of which one is needed (none = everyone).
const NAV: &[(&str, &str, &str, &[Permission])] = &[
    ("home", "/", "nav-home", &[]),
    (
        "incidents",
        "/incidents",
        "nav-incidents",
        &[Permission::IncidentRead],
    ),
    ("alerts", "/alerts", "nav-alerts", &[Permission::AlertRead]),
    ("duty", "/duty", "nav-duty", &[Permission::DutyRead]),
    (
        "notifications",
        "/notifications",
        "nav-notifications",
        &[
            Permission::NotificationDraft,
            Permission::NotificationApprove,
        ],
    ),
    ("users", "/users", "nav-users", &[Permission::UserRead]),
    ("audit", "/audit", "nav-audit", &[Permission::AuditRead]),
    (
        "calendar",
        "/calendar",
        "nav-calendar",
        &[Permission::CalendarRead],
    ),
    ("policy", "/policy", "nav-policy", &[Permission::PolicyRead]),
    ("probes", "/probes", "nav-probes", &[Permission::AlertRead]),
    (
        "monitoring-points",
        "/monitoring-points",
        "nav-points",
        &[Permission::AlertRead],
    ),
    (
        "reports",
        "/reports",
        "nav-reports",
        &[Permission::IncidentRead, Permission::AlertRead],
    ),
    (
        "problems",
        "/problems",
        "nav-problems",
        &[Permission::ProblemRead],
    ),
    (
        "dataops",
        "/data-ops",
        "nav-dataops",
        &[
            Permission::DataopRequest,
            Permission::DataopApprove,
            Permission::DataopExecute,
        ],
    ),
    ("kpi", "/kpi", "nav-kpi", &[Permission::KpiRead]),
    (
        "customers",
        "/customers",
        "nav-customers",
        &[Permission::OrgRead],
    ),
    (
        "changes",
        "/changes",
        "nav-changes",
        &[Permission::ChangeRead],
    ),
    ("recon", "/recon", "nav-recon", &[Permission::ReconRead]),
];

/// What every logged-in page's shell needs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub t: Tr,
    pub title: String,
    pub username: String,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// Centre time zone name, shown next to times.
    pub tz: String,
}

/// A logged-in console user with their translator.
pub struct ConsoleUser {
    pub p: Principal,
    pub t: Tr,
}

impl ConsoleUser {
    /// The session's CSRF token.
    pub fn csrf(&self) -> String {
        match &self.p.via {
            AuthVia::Session { csrf, .. } => csrf.clone(),
            _ => String::new(),
        }
    }

    /// The shell for a page.
    pub fn layout(&self, st: &AppState, active: &str, title_key: &str) -> Layout {
        let nav = NAV
            .iter()
            .filter(|(_, _, _, perms)| perms.is_empty() || perms.iter().any(|p| self.p.can(*p)))
            .map(|(key, href, label, _)| NavItem {
                key,
                href,
                label: self.t.t(label),
                active: *key == active,
            })
            .collect();
        Layout {
            t: self.t,
            title: self.t.t(title_key),
            username: self.p.username.clone(),
            csrf: self.csrf(),
            nav,
            tz: st.platform.policy.current().pack.pack.time_zone.clone(),
        }
    }

    /// The console's 403 page, unless the user holds `perm`.
    pub fn require(&self, st: &AppState, perm: Permission) -> Option<Response> {
        (!self.p.can(perm)).then(|| pages::forbidden(self, st, perm))
    }

    /// A 403 page, unless the form's CSRF token matches the session's.
    pub fn check_csrf(&self, st: &AppState, sent: &str) -> Option<Response> {
        (!tianshu_services::secrets::same(&self.csrf(), sent)).then(|| {
            pages::message_page(
                self,
                st,
                StatusCode::FORBIDDEN,
                "error-title",
                &self.t.t("csrf-failed"),
            )
        })
    }
}

/// The locale of a request: the language cookie, else the user's saved preference, else zh-CN.
pub fn request_locale(headers: &HeaderMap, user_locale: Option<&str>) -> Tr {
    let parts = parts_of(headers);
    match cookie(&parts, LANG_COOKIE) {
        Some(l) if i18n::LOCALES.contains(&l.as_str()) => Tr::new(&l),
        _ => Tr::new(user_locale.unwrap_or("zh-CN")),
    }
}

fn parts_of(headers: &HeaderMap) -> Parts {
    let mut req = axum::http::Request::new(());
    *req.headers_mut() = headers.clone();
    req.into_parts().0
}

/// The path and query of the Referer when it is this same host; the login page checks it again.
fn same_site_referer(parts: &Parts) -> Option<String> {
    let host = parts.headers.get(header::HOST)?.to_str().ok()?;
    let referer = parts.headers.get(header::REFERER)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("http://")
        .or_else(|| referer.strip_prefix("https://"))?;
    let path = rest.strip_prefix(host)?;
    path.starts_with('/').then(|| path.to_string())
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| {
                u.0.path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into())
            })
            .unwrap_or_else(|| parts.uri.to_string());
        let to_login = || {
            // A form posted after the session expired: back to the page the form was on (its draft is
            // restored there by app.js), never to the POST target.
            let next = if parts.method == axum::http::Method::GET {
                path.clone()
            } else {
                same_site_referer(parts).unwrap_or_else(|| "/".into())
            };
            let q = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
            Redirect::to(&format!("/login?{q}&expired=1")).into_response()
        };
        let Some(c) = cookie(parts, SESSION_COOKIE) else {
            let next = if parts.method == axum::http::Method::GET {
                path.clone()
            } else {
                same_site_referer(parts).unwrap_or_else(|| "/".into())
            };
            let q = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
            return Err(Redirect::to(&format!("/login?{q}")).into_response());
        };
        let p = match session::authenticate_session(&st.platform, &c).await {
            Ok(p) => p,
            Err(_) => return Err(to_login()),
        };
        let t = request_locale(&parts.headers, Some(&p.locale));
        Ok(ConsoleUser { p, t })
    }
}

/// Renders an askama template into a response (500 page if rendering fails).
pub fn render<T: askama::Template>(status: StatusCode, tpl: &T) -> Response {
    match tpl.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
