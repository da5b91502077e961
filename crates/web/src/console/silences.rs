//! Silences and maintenance windows (MON-04): list what mutes alerts now and next, add one with its
//! matchers, reason and expiry, and end one early — the console side of `/api/v1/alerts/silences` and
//! `/api/v1/alerts/maintenance`.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone};
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::alerts::{self, MuteInput, MuteOut};
use tianshu_services::ServiceError;
use tianshu_store::alerts::MuteKind;

use super::pages::{field, form_pairs, local, service_error_page, tz};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// A silence or window as listed.
struct MuteRow {
    id: i64,
    /// `silence` or `maintenance`.
    kind: &'static str,
    name: String,
    matchers: Vec<String>,
    starts: String,
    ends: String,
    author: String,
    reason: String,
    /// `active`, `pending`, `ended` or `expired`.
    status: &'static str,
    status_label: String,
    ended_by: Option<String>,
    version: i64,
}

/// What was typed into the create form and why it was refused (field → message).
#[derive(Default)]
struct MuteForm {
    kind: String,
    name: String,
    matchers: String,
    starts_at: String,
    ends_at: String,
    reason: String,
    errors: HashMap<String, String>,
    message: Option<String>,
}

impl MuteForm {
    fn err(&self, f: &str) -> Option<&String> {
        self.errors.get(f)
    }
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    l: Layout,
    flash: Option<String>,
    error: Option<String>,
    all: bool,
    can_manage: bool,
    silences: Vec<MuteRow>,
    windows: Vec<MuteRow>,
    form: MuteForm,
    max_duration: String,
}

/// Query of the page: include ended ones, what was just done.
#[derive(Debug, Deserialize, Default)]
pub struct SilencesQuery {
    #[serde(default)]
    all: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    ended: Option<String>,
}

fn kind_of(s: &str) -> Option<MuteKind> {
    match s {
        "silence" => Some(MuteKind::Silence),
        "maintenance" => Some(MuteKind::Maintenance),
        _ => None,
    }
}

fn kind_key(k: MuteKind) -> &'static str {
    match k {
        MuteKind::Silence => "silence",
        MuteKind::Maintenance => "maintenance",
    }
}

/// /alerts/silences: silences and maintenance windows, with the create form for alert managers.
pub async fn page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<SilencesQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::AlertRead) {
        return r;
    }
    let flash = if q.created.is_some() {
        Some(u.t.t("mute-created"))
    } else {
        q.ended.as_ref().map(|_| u.t.t("mute-ended"))
    };
    let all = q.all.as_deref() == Some("1");
    let form = MuteForm {
        kind: "silence".into(),
        ..Default::default()
    };
    silences_page(&st, &u, all, StatusCode::OK, flash, None, form).await
}

async fn silences_page(
    st: &AppState,
    u: &ConsoleUser,
    all: bool,
    status: StatusCode,
    flash: Option<String>,
    error: Option<String>,
    form: MuteForm,
) -> Response {
    let p = &st.platform;
    let now = p.now_us();
    let mut error = error;
    let silences = match alerts::mutes_list(p, &u.p, MuteKind::Silence, all).await {
        Ok(v) => v
            .into_iter()
            .map(|m| row(st, u, MuteKind::Silence, m, now))
            .collect(),
        Err(e) => {
            error = Some(e.localized(&u.p.locale));
            Vec::new()
        }
    };
    let windows = match alerts::mutes_list(p, &u.p, MuteKind::Maintenance, all).await {
        Ok(v) => v
            .into_iter()
            .map(|m| row(st, u, MuteKind::Maintenance, m, now))
            .collect(),
        Err(e) => {
            error = Some(e.localized(&u.p.locale));
            Vec::new()
        }
    };
    let pol = p.policy.current();
    let page = SilencesPage {
        l: u.layout(st, "alerts", "mute-title"),
        flash,
        error,
        all,
        can_manage: u.p.can(Permission::AlertManage),
        silences,
        windows,
        form,
        max_duration: pol.pack.monitoring.silences.max_duration.to_string(),
    };
    render(status, &page)
}

fn row(st: &AppState, u: &ConsoleUser, kind: MuteKind, m: MuteOut, now: i64) -> MuteRow {
    let status = if m.ended_at.is_some() {
        "ended"
    } else if m.active {
        "active"
    } else if m.starts_at > now {
        "pending"
    } else {
        "expired"
    };
    MuteRow {
        id: m.id,
        kind: kind_key(kind),
        name: m.name,
        matchers: m.matchers,
        starts: local(st, m.starts_at),
        ends: local(st, m.ends_at),
        author: m.author,
        reason: m.reason,
        status,
        status_label: u.t.t(&format!("mute-status-{status}")),
        ended_by: m.ended_by,
        version: m.version,
    }
}

/// A `datetime-local` value (centre time) as RFC 3339; other text is passed on for the service to refuse.
fn to_rfc3339(st: &AppState, s: &str) -> String {
    let s = s.trim();
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            if let Some(t) = tz(st).from_local_datetime(&n).earliest() {
                return t.to_rfc3339();
            }
        }
    }
    s.to_string()
}

/// Creates a silence or a maintenance window; a refusal is shown next to its field and nothing is saved.
pub async fn create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let mut form = MuteForm {
        kind: field(&pairs, "kind"),
        name: field(&pairs, "name"),
        matchers: field(&pairs, "matchers"),
        starts_at: field(&pairs, "starts_at"),
        ends_at: field(&pairs, "ends_at"),
        reason: field(&pairs, "reason"),
        ..Default::default()
    };
    let Some(kind) = kind_of(&form.kind) else {
        form.errors.insert("kind".into(), u.t.t("mute-bad-kind"));
        form.kind = "silence".into();
        return silences_page(
            &st,
            &u,
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            form,
        )
        .await;
    };
    if form.ends_at.trim().is_empty() {
        form.errors.insert("ends_at".into(), u.t.t("mute-need-end"));
        return silences_page(
            &st,
            &u,
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            form,
        )
        .await;
    }
    let input = MuteInput {
        name: (kind == MuteKind::Maintenance).then(|| form.name.clone()),
        // One matcher per line, as Alertmanager's silence form takes them.
        matchers: form
            .matchers
            .lines()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect(),
        starts_at: Some(form.starts_at.trim())
            .filter(|s| !s.is_empty())
            .map(|s| to_rfc3339(&st, s)),
        ends_at: to_rfc3339(&st, &form.ends_at),
        reason: form.reason.clone(),
    };
    match alerts::mute_create(&st.platform, &u.p, kind, input).await {
        Ok(_) => Redirect::to("/alerts/silences?created=1").into_response(),
        Err(e @ ServiceError::Invalid { .. }) => {
            let msg = e.localized(&u.p.locale);
            let f = e.field().unwrap_or_default();
            // `matchers[2]` → the matchers box.
            let key = f.split('[').next().unwrap_or_default();
            if matches!(
                key,
                "matchers" | "starts_at" | "ends_at" | "reason" | "name"
            ) {
                form.errors.insert(key.to_string(), msg);
            } else {
                form.message = Some(msg);
            }
            silences_page(
                &st,
                &u,
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                form,
            )
            .await
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}

/// Ends a silence (expire) or a window (cancel) now; a stale version is shown as a conflict.
pub async fn end(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((kind, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let Some(k) = kind_of(&kind) else {
        return service_error_page(&u, &st, ServiceError::NotFound(kind));
    };
    let version = field(&pairs, "version").trim().parse().unwrap_or(-1);
    match alerts::mute_end(&st.platform, &u.p, k, id, version).await {
        Ok(_) => Redirect::to("/alerts/silences?ended=1").into_response(),
        Err(ServiceError::Stale(_)) | Err(ServiceError::Conflict { .. }) => {
            let form = MuteForm {
                kind: "silence".into(),
                ..Default::default()
            };
            let msg = u.t.t("conflict");
            silences_page(&st, &u, false, StatusCode::CONFLICT, None, Some(msg), form).await
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}
