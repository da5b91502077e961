//! Console pages for problem management (issue 8): `/problems` (list with filters and the report form) and
//! `/problems/{id}` (the report form and work order, deadlines with their rules, what still blocks the
//! archive, review actions, links, history, and one form per move).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tianshu_core::{Permission, ProblemLevel};
use tianshu_services::problems::{self as prb, ProblemAction, ReportInput};
use tianshu_services::ServiceError;
use tianshu_store::problems::ProblemFilter;

use super::pages::{field, form_pairs, local, service_error_page, tz};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

const STATES: &[&str] = &["reported", "dispatched", "resolved", "closed"];

fn label(u: &ConsoleUser, prefix: &str, s: &str) -> String {
    let key = format!("{prefix}{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

struct Row {
    id: i64,
    level: String,
    state: String,
    state_key: String,
    category: String,
    title: String,
    reported: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "problems.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    state: String,
    level: String,
    states: Vec<(String, String)>,
    levels: Vec<String>,
    categories: Vec<(String, String)>,
    /// Organisations a problem may concern (key, name): the branches the reporter may report for.
    orgs: Vec<(String, String)>,
    can_report: bool,
    error: Option<String>,
    error_field: String,
    next: Option<String>,
}

/// Filters of the problem list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    level: Option<String>,
    cursor: Option<i64>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn list_page(
    st: &AppState,
    u: &ConsoleUser,
    q: ListQuery,
    error: Option<(String, String)>,
) -> Result<ListPage, Response> {
    let state = non_empty(q.state).filter(|s| STATES.contains(&s.as_str()));
    let level = non_empty(q.level).filter(|l| l.parse::<ProblemLevel>().is_ok());
    let filter = ProblemFilter {
        state: state.clone(),
        level: level.clone(),
        category: None,
        ..Default::default()
    };
    let items = prb::list(&st.platform, &u.p, filter, q.cursor, 50)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let pack = st.platform.policy.current().pack.clone();
    let cat_name = |k: &str| {
        pack.problem_levels
            .category(k)
            .map_or_else(|| k.to_string(), |c| label(u, "problem-category-", &c.key))
    };
    let orgs = st
        .platform
        .store
        .orgs()
        .await
        .map_err(|e| service_error_page(u, st, e.into()))?
        .into_iter()
        .filter(|o| o.kind == "branch" && u.p.require_visible(o.region_id, o.id).is_ok())
        .map(|o| (o.key, o.name))
        .collect();
    let next = (items.len() == 50)
        .then(|| items.last().map(|i| i.problem.id.to_string()))
        .flatten();
    let (error, error_field) = match error {
        Some((f, m)) => (Some(m), f),
        None => (None, String::new()),
    };
    Ok(ListPage {
        l: u.layout(st, "problems", "problem-title-list"),
        rows: items
            .iter()
            .map(|i| Row {
                id: i.problem.id,
                level: i.problem.level.clone(),
                state: label(u, "problem-state-", &i.problem.state),
                state_key: i.problem.state.clone(),
                category: cat_name(&i.problem.category),
                title: i.problem.title.clone(),
                reported: local(st, i.problem.reported_at),
                overdue: i.overdue,
            })
            .collect(),
        state: state.unwrap_or_default(),
        level: level.unwrap_or_default(),
        states: STATES
            .iter()
            .map(|s| (s.to_string(), label(u, "problem-state-", s)))
            .collect(),
        levels: ProblemLevel::ALL.iter().map(|l| l.to_string()).collect(),
        categories: pack
            .problem_levels
            .categories
            .iter()
            .map(|c| (c.key.clone(), label(u, "problem-category-", &c.key)))
            .collect(),
        orgs,
        can_report: u.p.can(Permission::ProblemManage),
        error,
        error_field,
        next,
    })
}

/// The problem list with state / level filters and the report form.
pub async fn list(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Response {
    if !u.p.can(Permission::ProblemRead) {
        return super::pages::forbidden(&u, &st, Permission::ProblemRead);
    }
    match list_page(&st, &u, q, None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// `2026-12-01T08:40` from a datetime-local input, in the centre's time zone, as RFC 3339.
pub(super) fn local_input(st: &AppState, s: &str) -> String {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .ok()
        .and_then(|n| tz(st).from_local_datetime(&n).earliest())
        .map_or_else(|| s.to_string(), |t| t.to_rfc3339())
}

/// Reports a problem from the form; refused fields are shown next to the form (422), nothing saved.
pub async fn create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let input = ReportInput {
        title: field(&pairs, "title"),
        level: Some(field(&pairs, "level")).filter(|s| !s.is_empty()),
        category: field(&pairs, "category"),
        source: field(&pairs, "source"),
        discovered_at: local_input(&st, &field(&pairs, "discovered_at")),
        reported_at: None,
        symptom: field(&pairs, "symptom"),
        impact: field(&pairs, "impact"),
        on_site_data: field(&pairs, "on_site_data"),
        cause_analysis: field(&pairs, "cause_analysis"),
        org_key: Some(field(&pairs, "org_key")).filter(|s| !s.is_empty()),
    };
    match prb::report(&st.platform, &u.p, input).await {
        Ok(v) => Redirect::to(&format!("/problems/{}", v.problem.id)).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e) => {
            let f = e.field().unwrap_or("").to_string();
            let m = e.localized(u.t.lang());
            let q = ListQuery {
                state: None,
                level: None,
                cursor: None,
            };
            match list_page(&st, &u, q, Some((f, m))).await {
                Ok(p) => render(StatusCode::UNPROCESSABLE_ENTITY, &p),
                Err(r) => r,
            }
        }
    }
}

struct DeadlineRow {
    kind: String,
    rule: String,
    due: String,
    met: String,
    overdue: bool,
}

struct ClockLine {
    kind: String,
    rule: String,
    basis: String,
    due: String,
    /// RFC 3339, for the live countdown.
    due_rfc: String,
    stopped: String,
    state: String,
    state_key: String,
    running: bool,
}

struct ActionRow {
    id: i64,
    version: i64,
    text: String,
    owner: String,
    due: String,
    closed: String,
    outcome: String,
    open: bool,
}

struct EventRow {
    at: String,
    kind: String,
    actor: String,
    data: String,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct DetailPage {
    l: Layout,
    id: i64,
    version: i64,
    title: String,
    level: String,
    state: String,
    state_key: String,
    facts: Vec<(String, String)>,
    deadlines: Vec<DeadlineRow>,
    clocks: Vec<ClockLine>,
    blockers: Vec<String>,
    actions: Vec<ActionRow>,
    links: Vec<(String, String)>,
    events: Vec<EventRow>,
    manage: bool,
    closed: bool,
    resolved: bool,
    error: Option<String>,
}

fn opt_local(st: &AppState, v: Option<i64>) -> String {
    v.map(|t| local(st, t)).unwrap_or_default()
}

async fn detail_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    error: Option<String>,
) -> Result<DetailPage, Response> {
    let v = prb::get(&st.platform, &u.p, id)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let p = &v.problem;
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let t = |k: &str| u.t.t(k);
    let facts = vec![
        (
            t("problem-category"),
            label(u, "problem-category-", &p.category),
        ),
        (t("problem-source"), p.source.clone()),
        (t("problem-discovered"), local(st, p.discovered_at)),
        (t("problem-reported"), local(st, p.reported_at)),
        (t("problem-reporter"), p.reporter.clone()),
        (t("problem-symptom"), p.symptom.clone()),
        (t("problem-impact"), p.impact.clone()),
        (t("problem-on-site"), p.on_site_data.clone()),
        (t("problem-cause"), p.cause_analysis.clone()),
        (
            t("problem-managers-told"),
            opt_local(st, p.managers_told_at),
        ),
        (t("problem-dispatcher"), s(&p.dispatcher)),
        (t("problem-dispatched"), opt_local(st, p.dispatched_at)),
        (t("problem-handler"), s(&p.handler)),
        (
            t("problem-needs-change"),
            if p.needs_change {
                t("problem-needs-change-yes")
            } else {
                String::new()
            },
        ),
        (t("problem-result"), s(&p.result)),
        (t("problem-method"), s(&p.method)),
        (t("problem-improvement"), s(&p.improvement)),
        (t("problem-analysis"), s(&p.analysis_report)),
        (t("problem-minutes"), s(&p.meeting_minutes)),
        (t("problem-department"), s(&p.other_department)),
        (t("problem-reply"), s(&p.reply)),
        (t("problem-retain-until"), opt_local(st, p.retain_until)),
    ];
    Ok(DetailPage {
        l: u.layout(st, "problems", "problem-title-detail"),
        id: p.id,
        version: p.version,
        title: p.title.clone(),
        level: p.level.clone(),
        state: label(u, "problem-state-", &p.state),
        state_key: p.state.clone(),
        facts: facts.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
        deadlines: v
            .deadlines
            .iter()
            .map(|d| DeadlineRow {
                kind: label(u, "problem-deadline-", &d.kind),
                rule: d.rule.clone(),
                due: local(st, d.due),
                met: opt_local(st, d.met_at),
                overdue: d.overdue,
            })
            .collect(),
        clocks: v
            .clocks
            .iter()
            .map(|c| {
                // A breached deadline whose work is still open stays live (and its countdown shows overdue).
                let state_key = if c.breached_at.is_some() {
                    "breached".to_string()
                } else {
                    c.state.clone()
                };
                ClockLine {
                    kind: label(u, "problem-deadline-", &c.key),
                    rule: c.rule.clone(),
                    basis: c.basis.clone(),
                    due: local(st, c.due_at),
                    due_rfc: tianshu_store::time::canonical(c.due_at),
                    stopped: opt_local(st, c.stopped_at),
                    state: label(u, "problem-clock-state-", &state_key),
                    state_key,
                    running: c.state == "running",
                }
            })
            .collect(),
        blockers: v.close_blockers.clone(),
        actions: v
            .actions
            .iter()
            .map(|a| ActionRow {
                id: a.id,
                version: a.version,
                text: a.text.clone(),
                owner: a.owner.clone(),
                due: local(st, a.due_at),
                closed: opt_local(st, a.closed_at),
                outcome: s(&a.outcome),
                open: a.closed_at.is_none(),
            })
            .collect(),
        links: v
            .links
            .iter()
            .map(|l| (l.kind.clone(), l.target.clone()))
            .collect(),
        events: v
            .events
            .iter()
            .map(|e| EventRow {
                at: local(st, e.at),
                // Fluent ids cannot hold '.': `clock.breached` is looked up as `clock-breached`.
                kind: label(u, "problem-event-", &e.kind.replace('.', "-")),
                actor: e.actor.clone(),
                data: if e.data == "{}" {
                    String::new()
                } else {
                    e.data.clone()
                },
            })
            .collect(),
        manage: u.p.can(Permission::ProblemManage),
        closed: p.state == "closed",
        resolved: p.resolved_at.is_some(),
        error,
    })
}

/// One problem.
pub async fn detail(State(st): State<AppState>, u: ConsoleUser, Path(id): Path<i64>) -> Response {
    match detail_page(&st, &u, id, None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// The move a form posts: its fields as the API's JSON (one review action line at most from the console).
fn action_from(st: &AppState, pairs: &[(String, String)]) -> Result<ProblemAction, ServiceError> {
    let mut m = Map::new();
    for (k, v) in pairs {
        if k == "csrf" || k == "version" || k.starts_with("review_") || v.is_empty() {
            continue;
        }
        let v = match k.as_str() {
            "action_id" | "action_version" => json!(v.parse::<i64>().unwrap_or(-1)),
            "reply_due" => json!(local_input(st, v)),
            // A checkbox: present when ticked.
            "needs_change" => json!(v == "true" || v == "on"),
            _ => json!(v),
        };
        m.insert(k.clone(), v);
    }
    if field(pairs, "action") == "review" {
        let text = field(pairs, "review_text");
        let actions = if text.trim().is_empty() {
            Vec::new()
        } else {
            vec![json!({"text": text, "owner": field(pairs, "review_owner"),
                "due_at": local_input(st, &field(pairs, "review_due"))})]
        };
        m.insert("actions".into(), Value::Array(actions));
    }
    serde_json::from_value(Value::Object(m))
        .map_err(|e| ServiceError::invalid("action", e.to_string()))
}

/// A move from the problem page (version-checked); refusals shown on the page with their rule.
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
    let result = match action_from(&st, &pairs) {
        Ok(a) => prb::act(&st.platform, &u.p, id, version, a).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/problems/{id}")).into_response(),
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
