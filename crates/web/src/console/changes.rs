//! Console pages for change control (issue 7): the `/changes` calendar (month and week: releases, freeze
//! periods, gates due, cut-overs and alert maintenance windows), releases (list, plan with the CHG-02 override,
//! detail with gates, go / no-go and the CHG-07 verification checklist), cut-overs (list, application validated on
//! the server with the refusing rule next to the field, approval, two-person log, completion) and requirements
//! (list, registration, detail with the acceptance sign-off or the recorded deemed acceptance).

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use tianshu_core::Permission;
use tianshu_services::{assurance_plans, cutovers, releases, requirements, ServiceError};
use tianshu_store::alerts::MuteKind;

use super::pages::{field, form_pairs, local, service_error_page, tz};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

type Errors = HashMap<String, String>;

fn label(u: &ConsoleUser, prefix: &str, v: &str) -> String {
    let key = format!("{prefix}-{v}");
    let t = u.t.t(&key);
    if t == key {
        v.to_string()
    } else {
        t
    }
}

fn zh(u: &ConsoleUser) -> bool {
    u.t.lang().starts_with("zh")
}

fn day_of(st: &AppState, us: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&tz(st))
        .date_naive()
}

fn hm(st: &AppState, us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&tz(st))
        .format("%H:%M")
        .to_string()
}

fn start_us(st: &AppState, d: NaiveDate) -> i64 {
    tz(st)
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.timestamp_micros())
        .unwrap_or(0)
}

/// The field of the form an error belongs to: `systems[2]` → `systems`; a few service fields map onto the
/// input that carries them.
fn form_field(e: &ServiceError, map: &[(&str, &str)]) -> String {
    let f = e.field().unwrap_or("").to_string();
    let base = f.split(['[', '.']).next().unwrap_or("").to_string();
    map.iter()
        .find(|(from, _)| *from == base)
        .map(|(_, to)| to.to_string())
        .unwrap_or(base)
}

/// Errors shown as their own page rather than next to a field.
fn is_page_error(e: &ServiceError) -> bool {
    matches!(e, ServiceError::Forbidden(_) | ServiceError::NotFound(_))
}

fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Stale(_) => StatusCode::PRECONDITION_FAILED,
        ServiceError::Conflict { .. } | ServiceError::Transition { .. } => StatusCode::CONFLICT,
        ServiceError::UnknownReference { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn message(u: &ConsoleUser, e: &ServiceError) -> String {
    match e {
        ServiceError::Stale(_) => u.t.t("conflict"),
        other => other.localized(u.t.lang()),
    }
}

/// `datetime-local` (centre time) → RFC 3339; empty stays empty.
fn local_input(st: &AppState, name: &str, v: &str) -> Result<Option<String>, (String, String)> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| (name.to_string(), "YYYY-MM-DDTHH:MM".to_string()))?;
    tz(st)
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| Some(t.to_rfc3339()))
        .ok_or_else(|| (name.to_string(), "no such local time".to_string()))
}

fn can_read(u: &ConsoleUser, st: &AppState) -> Option<Response> {
    u.require(st, Permission::ChangeRead)
}

// ---------------------------------------------------------------------------------------------------------------
// The calendar

struct CalItem {
    kind: &'static str,
    kind_label: String,
    text: String,
    href: String,
}

struct Day {
    date: String,
    label: String,
    in_range: bool,
    today: bool,
    items: Vec<CalItem>,
}

#[derive(Template)]
#[template(path = "changes.html")]
struct CalendarPage {
    l: Layout,
    view: String,
    heading: String,
    weekdays: Vec<String>,
    weeks: Vec<Vec<Day>>,
    prev: String,
    next: String,
    today: String,
    date: String,
    counts: Vec<(String, usize)>,
}

/// The change calendar: `?view=month|week&date=YYYY-MM-DD`.
pub async fn calendar(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = can_read(&u, &st) {
        return r;
    }
    let today = st.platform.clock.now().with_timezone(&tz(&st)).date_naive();
    let date = q
        .get("date")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or(today);
    let week = q.get("view").map(String::as_str) == Some("week");
    let monday = |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
    let (first, last_excl, range_from, range_to, prev, next, heading) = if week {
        let m = monday(date);
        (
            m,
            m + Days::new(7),
            m,
            m + Days::new(7),
            m - Days::new(7),
            m + Days::new(7),
            format!("{} – {}", m, m + Days::new(6)),
        )
    } else {
        let m1 = date.with_day(1).unwrap_or(date);
        let next_m = m1.checked_add_months(Months::new(1)).unwrap_or(m1);
        let prev_m = m1.checked_sub_months(Months::new(1)).unwrap_or(m1);
        let grid_from = monday(m1);
        let mut grid_to = monday(next_m - Days::new(1)) + Days::new(7);
        if grid_to < grid_from + Days::new(35) {
            grid_to = grid_from + Days::new(35);
        }
        (
            grid_from,
            grid_to,
            m1,
            next_m,
            prev_m,
            next_m,
            m1.format("%Y-%m").to_string(),
        )
    };
    let from_us = start_us(&st, first);
    let to_us = start_us(&st, last_excl);
    let mut by_day: BTreeMap<NaiveDate, Vec<CalItem>> = BTreeMap::new();
    let is_zh = zh(&u);
    let freeze_gate = st
        .platform
        .policy
        .current()
        .pack
        .change
        .releases
        .freeze_gate
        .clone();
    // Releases up to three weeks after the grid: their gates and freeze fall inside it.
    let rels = match st
        .platform
        .store
        .releases_between(&first.to_string(), &(last_excl + Days::new(21)).to_string())
        .await
    {
        Ok(r) => r,
        Err(e) => return service_error_page(&u, &st, e.into()),
    };
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &rels {
        let href = format!("/changes/releases/{}", r.id);
        let Ok(rd) = NaiveDate::parse_from_str(&r.release_date, "%Y-%m-%d") else {
            continue;
        };
        if rd >= first && rd < last_excl {
            *counts.entry("release").or_default() += 1;
            by_day.entry(rd).or_default().push(CalItem {
                kind: "release",
                kind_label: u.t.t("chg-cal-release"),
                text: format!(
                    "{} {} · {} · {}",
                    hm(&st, r.starts_at),
                    r.title,
                    label(&u, "chg-kind", &r.kind),
                    label(&u, "chg-rstate", &r.state)
                ),
                href: href.clone(),
            });
        }
        if matches!(r.state.as_str(), "no_go" | "cancelled") {
            continue;
        }
        let gates: Value = serde_json::from_str(&r.gates).unwrap_or_default();
        for g in gates.as_array().into_iter().flatten() {
            let Some(due) = g["due_at"].as_i64() else {
                continue;
            };
            let d = day_of(&st, due);
            if g["key"] == freeze_gate.as_str() {
                let mut x = d + Days::new(1);
                while x < rd {
                    if x >= first && x < last_excl {
                        by_day.entry(x).or_default().push(CalItem {
                            kind: "freeze",
                            kind_label: u.t.t("chg-cal-freeze"),
                            text: r.title.clone(),
                            href: href.clone(),
                        });
                    }
                    x = x + Days::new(1);
                }
            }
            if d >= first && d < last_excl {
                *counts.entry("gate").or_default() += 1;
                let name = if is_zh { &g["name_zh"] } else { &g["name_en"] };
                by_day.entry(d).or_default().push(CalItem {
                    kind: "gate",
                    kind_label: u.t.t("chg-cal-gate"),
                    text: format!(
                        "{} ({}) · {}",
                        name.as_str().unwrap_or(""),
                        g["rule"].as_str().unwrap_or(""),
                        r.title
                    ),
                    href: href.clone(),
                });
            }
        }
    }
    match cutovers::between(&st.platform, &u.p, from_us, to_us).await {
        Ok(cs) => {
            for c in cs {
                *counts.entry("cutover").or_default() += 1;
                by_day
                    .entry(day_of(&st, c.starts_at))
                    .or_default()
                    .push(CalItem {
                        kind: "cutover",
                        kind_label: u.t.t("chg-cal-cutover"),
                        text: format!(
                            "{}–{} {} · {}",
                            hm(&st, c.starts_at),
                            hm(&st, c.ends_at),
                            c.title,
                            label(&u, "chg-cstate", &c.state)
                        ),
                        href: format!("/changes/cutovers/{}", c.id),
                    });
            }
        }
        Err(e) => return service_error_page(&u, &st, e),
    }
    if u.p.can(Permission::AlertRead) || u.p.can(Permission::ChangeRead) {
        if let Ok(ms) = st
            .platform
            .store
            .mutes(MuteKind::Maintenance, Some(from_us))
            .await
        {
            for m in ms.into_iter().filter(|m| m.starts_at < to_us) {
                if m.ended_at.is_some_and(|e| e <= m.starts_at) {
                    continue;
                }
                *counts.entry("maintenance").or_default() += 1;
                let (a, b) = (day_of(&st, m.starts_at), day_of(&st, m.ends_at - 1));
                let mut x = a.max(first);
                while x <= b && x < last_excl {
                    by_day.entry(x).or_default().push(CalItem {
                        kind: "maintenance",
                        kind_label: u.t.t("chg-cal-maintenance"),
                        text: format!("{}–{} {}", hm(&st, m.starts_at), hm(&st, m.ends_at), m.name),
                        href: "/alerts".into(),
                    });
                    x = x + Days::new(1);
                }
            }
        }
    }
    let mut weeks = Vec::new();
    let mut d = first;
    while d < last_excl {
        let mut row = Vec::new();
        for _ in 0..7 {
            row.push(Day {
                date: d.to_string(),
                label: if week {
                    d.format("%m-%d").to_string()
                } else {
                    d.day().to_string()
                },
                in_range: d >= range_from && d < range_to,
                today: d == today,
                items: by_day.remove(&d).unwrap_or_default(),
            });
            d = d + Days::new(1);
        }
        weeks.push(row);
    }
    let weekdays = (1..=7)
        .map(|i| u.t.t(&format!("chg-weekday-{i}")))
        .collect();
    let counts = ["release", "gate", "cutover", "maintenance"]
        .iter()
        .map(|k| {
            (
                u.t.t(&format!("chg-cal-{k}")),
                counts.get(k).copied().unwrap_or(0),
            )
        })
        .collect();
    render(
        StatusCode::OK,
        &CalendarPage {
            l: u.layout(&st, "changes", "chg-title-calendar"),
            view: if week { "week" } else { "month" }.into(),
            heading,
            weekdays,
            weeks,
            prev: prev.to_string(),
            next: next.to_string(),
            today: today.to_string(),
            date: date.to_string(),
            counts,
        },
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Releases

struct ReleaseRowOut {
    id: i64,
    date: String,
    start: String,
    title: String,
    kind: String,
    family: String,
    state: String,
    state_key: String,
    override_by: String,
}

#[derive(Default, Clone)]
struct ReleaseForm {
    title: String,
    kind: String,
    system_family: String,
    date: String,
    start: String,
    downtime_from: String,
    downtime_to: String,
    override_reason: String,
}

#[derive(Template)]
#[template(path = "chg_releases.html")]
struct ReleasesPage {
    l: Layout,
    month: String,
    rows: Vec<ReleaseRowOut>,
    can_plan: bool,
    can_override: bool,
    form: ReleaseForm,
    errors: Errors,
    start_time: String,
}

async fn releases_page(
    st: &AppState,
    u: &ConsoleUser,
    month: Option<String>,
    form: ReleaseForm,
    errors: Errors,
    status: StatusCode,
) -> Response {
    let pol = st.platform.policy.current();
    let today = st.platform.clock.now().with_timezone(&tz(st)).date_naive();
    let month = month
        .filter(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").is_ok())
        .unwrap_or_else(|| today.format("%Y-%m").to_string());
    let items = match releases::month(&st.platform, &u.p, &month).await {
        Ok(i) => i,
        Err(e) => return service_error_page(u, st, e),
    };
    let rows = items
        .into_iter()
        .map(|r| ReleaseRowOut {
            id: r.id,
            date: r.release_date.clone(),
            start: hm(st, r.starts_at),
            title: r.title,
            kind: label(u, "chg-kind", &r.kind),
            family: r.system_family,
            state: label(u, "chg-rstate", &r.state),
            state_key: r.state,
            override_by: r.override_by.unwrap_or_default(),
        })
        .collect();
    let can_override =
        u.p.roles
            .iter()
            .any(|r| pol.pack.change.releases.override_roles.contains(r));
    render(
        status,
        &ReleasesPage {
            l: u.layout(st, "changes", "chg-title-releases"),
            month,
            rows,
            can_plan: u.p.can(Permission::ChangeRequest) || can_override,
            can_override,
            form,
            errors,
            start_time: pol.pack.change.releases.start_time.clone(),
        },
    )
}

/// Releases of a month with the planning form.
pub async fn releases_list(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = can_read(&u, &st) {
        return r;
    }
    releases_page(
        &st,
        &u,
        q.get("month").cloned(),
        ReleaseForm::default(),
        Errors::new(),
        StatusCode::OK,
    )
    .await
}

/// Plans a release from the form; refusals are shown next to their field with the rule.
pub async fn release_create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let form = ReleaseForm {
        title: field(&pairs, "title"),
        kind: field(&pairs, "kind"),
        system_family: field(&pairs, "system_family"),
        date: field(&pairs, "date"),
        start: field(&pairs, "start"),
        downtime_from: field(&pairs, "downtime_from"),
        downtime_to: field(&pairs, "downtime_to"),
        override_reason: field(&pairs, "override_reason"),
    };
    let mut errors = Errors::new();
    let df = local_input(&st, "downtime_from", &form.downtime_from);
    let dt = local_input(&st, "downtime_to", &form.downtime_to);
    let (df, dt) = match (df, dt) {
        (Ok(a), Ok(b)) => (a, b),
        (Err((f, m)), _) | (_, Err((f, m))) => {
            errors.insert(f, m);
            return releases_page(
                &st,
                &u,
                None,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let month = form.date.get(..7).map(str::to_string);
    let input = releases::ReleaseInput {
        title: form.title.clone(),
        kind: form.kind.clone(),
        system_family: form.system_family.clone(),
        date: form.date.clone(),
        start: Some(form.start.trim().to_string()).filter(|s| !s.is_empty()),
        downtime_from: df,
        downtime_to: dt,
        override_reason: Some(form.override_reason.trim().to_string()).filter(|s| !s.is_empty()),
    };
    match releases::plan(&st.platform, &u.p, input).await {
        Ok(r) => Redirect::to(&format!("/changes/releases/{}", r.id)).into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let f = form_field(
                &e,
                &[("downtime", "downtime_from"), ("quota", "override_reason")],
            );
            let f = if [
                "title",
                "kind",
                "system_family",
                "date",
                "start",
                "downtime_from",
                "downtime_to",
                "override_reason",
            ]
            .contains(&f.as_str())
            {
                f
            } else if e.field().is_some_and(|x| x.contains("override")) {
                "override_reason".into()
            } else {
                "kind".into()
            };
            errors.insert(f, message(&u, &e));
            releases_page(&st, &u, month, form, errors, status_of(&e)).await
        }
    }
}

struct GateOut {
    name: String,
    rule: String,
    due: String,
    past: bool,
}

/// A CHG-05 / CHG-12 prerequisite row of the release page.
struct PrereqOut {
    key: String,
    name: String,
    rule: String,
    training: bool,
    recorded: bool,
    reference: String,
    held: String,
    by: String,
    /// The last submitted form was this one: its error is shown next to its field.
    error_here: bool,
}

struct VerOut {
    scenario: String,
    name: String,
    branch: String,
    due: String,
    result: String,
    result_key: String,
    note: String,
    by: String,
    overdue: bool,
}

struct ReqOut {
    id: i64,
    title: String,
    requester: String,
    acceptance: String,
}

#[derive(Template)]
#[template(path = "chg_release.html")]
struct ReleasePage {
    l: Layout,
    r: releases::ReleaseView,
    kind: String,
    state: String,
    starts: String,
    downtime: String,
    decision_at: String,
    gates: Vec<GateOut>,
    checklist: Vec<VerOut>,
    open_label: String,
    coverage: String,
    requirements: Vec<ReqOut>,
    can_decide: bool,
    can_verify: bool,
    prereqs: Vec<PrereqOut>,
    can_record: bool,
    error: Option<String>,
    error_field: String,
}

async fn release_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    error: Option<(String, String)>,
    prereq_key: &str,
    status: StatusCode,
) -> Response {
    let d = match releases::get(&st.platform, &u.p, id).await {
        Ok(d) => d,
        Err(e) => return service_error_page(u, st, e),
    };
    let now = st.platform.now_us();
    let is_zh = zh(u);
    let r = d.release;
    let gates = r
        .gates
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let due = g["due_at"].as_i64().unwrap_or(0);
            GateOut {
                name: (if is_zh { &g["name_zh"] } else { &g["name_en"] })
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                rule: g["rule"].as_str().unwrap_or("").to_string(),
                due: local(st, due),
                past: due < now,
            }
        })
        .collect();
    let open_items = d
        .verifications
        .iter()
        .filter(|v| v.result.is_none())
        .count();
    let checklist = d
        .verifications
        .into_iter()
        .map(|v| VerOut {
            overdue: v.result.is_none() && v.due_at < now,
            name: if is_zh { v.name_zh } else { v.name_en },
            branch: v.branch,
            due: local(st, v.due_at),
            result: v
                .result
                .as_deref()
                .map(|x| label(u, "chg-result", x))
                .unwrap_or_default(),
            result_key: v.result.unwrap_or_default(),
            note: v.note,
            by: v.recorded_by.unwrap_or_default(),
            scenario: v.scenario,
        })
        .collect();
    let requirements = d
        .requirements
        .into_iter()
        .map(|q| ReqOut {
            id: q.id,
            title: q.title,
            requester: q.requester,
            acceptance: q
                .acceptance
                .as_deref()
                .map(|a| label(u, "chg-acceptance", a))
                .unwrap_or_default(),
        })
        .collect();
    let prereqs = d
        .prerequisites
        .into_iter()
        .map(|q| PrereqOut {
            error_here: error.is_some() && q.key == prereq_key,
            name: if is_zh { q.name_zh } else { q.name_en },
            rule: q.rule,
            training: q.kind == "training",
            recorded: q.recorded.is_some(),
            reference: q
                .recorded
                .as_ref()
                .map(|x| x.reference.clone())
                .unwrap_or_default(),
            held: q
                .recorded
                .as_ref()
                .and_then(|x| x.held_at)
                .map(|h| local(st, h))
                .unwrap_or_default(),
            by: q.recorded.map(|x| x.recorded_by).unwrap_or_default(),
            key: q.key,
        })
        .collect();
    let (error, error_field) = match error {
        Some((f, m)) => (Some(m), f),
        None => (None, String::new()),
    };
    render(
        status,
        &ReleasePage {
            l: u.layout(st, "changes", "chg-title-release"),
            kind: label(u, "chg-kind", &r.kind),
            state: label(u, "chg-rstate", &r.state),
            starts: local(st, r.starts_at),
            downtime: match (r.downtime_from, r.downtime_to) {
                (Some(f), Some(t)) => format!("{} – {}", local(st, f), hm(st, t)),
                _ => String::new(),
            },
            decision_at: r.decision_at.map(|x| local(st, x)).unwrap_or_default(),
            gates,
            checklist,
            open_label: open_items.to_string(),
            coverage: format!("{:.1}", d.coverage_pct),
            requirements,
            can_decide: d.allowed.iter().any(|a| a == "go"),
            can_verify: d.allowed.iter().any(|a| a == "verify"),
            can_record: d.allowed.iter().any(|a| a == "record_prerequisite"),
            prereqs,
            r,
            error,
            error_field,
        },
    )
}

/// One release.
pub async fn release_detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    release_page(&st, &u, id, None, "", StatusCode::OK).await
}

/// Go / no-go or a verification result, from the release page.
pub async fn release_act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let prereq_key = field(&pairs, "key");
    let r = match field(&pairs, "action").as_str() {
        "prerequisite" => match local_input(&st, "held_at", &field(&pairs, "held_at")) {
            Ok(held_at) => releases::record_prerequisite(
                &st.platform,
                &u.p,
                id,
                releases::PrerequisiteInput {
                    key: prereq_key.clone(),
                    reference: field(&pairs, "reference"),
                    held_at,
                    note: String::new(),
                },
            )
            .await
            .map(|_| ()),
            Err((f, m)) => Err(ServiceError::invalid(f, m)),
        },
        "verify" => releases::verify(
            &st.platform,
            &u.p,
            id,
            releases::VerifyInput {
                scenario: field(&pairs, "scenario"),
                result: field(&pairs, "result"),
                note: field(&pairs, "note"),
            },
        )
        .await
        .map(|_| ()),
        decision => releases::decide(
            &st.platform,
            &u.p,
            id,
            releases::DecisionInput {
                decision: decision.to_string(),
                version: field(&pairs, "version").parse().unwrap_or(-1),
                note: field(&pairs, "note"),
            },
        )
        .await
        .map(|_| ()),
    };
    match r {
        Ok(()) => Redirect::to(&format!("/changes/releases/{id}")).into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let f = e.field().unwrap_or("").to_string();
            release_page(
                &st,
                &u,
                id,
                Some((f, message(&u, &e))),
                &prereq_key,
                status_of(&e),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Cut-overs

struct CutRow {
    id: i64,
    title: String,
    kind: String,
    window: String,
    systems: String,
    state: String,
    state_key: String,
    requester: String,
}

#[derive(Default, Clone)]
struct CutForm {
    title: String,
    kind: String,
    systems: String,
    major: bool,
    emergency: bool,
    starts_at: String,
    ends_at: String,
    downtime_from: String,
    downtime_to: String,
    plan: String,
    rollback_plan: String,
    checklist: String,
    test_list: String,
    people: String,
    impact: String,
    circuits: String,
    tiers: Vec<String>,
    data_case: String,
}

#[derive(Template)]
#[template(path = "chg_cutovers.html")]
struct CutoversPage {
    l: Layout,
    month: String,
    rows: Vec<CutRow>,
    can_apply: bool,
    form: CutForm,
    errors: Errors,
    kinds: Vec<(String, String, bool)>,
    tiers: Vec<(String, String, bool)>,
    texts: Vec<TextField>,
    /// CHG-20: key, "case → responsible", selected.
    data_cases: Vec<(String, String, bool)>,
}

struct TextField {
    name: &'static str,
    label: String,
    value: String,
    error: Option<String>,
}

async fn cutovers_page(
    st: &AppState,
    u: &ConsoleUser,
    month: Option<String>,
    form: CutForm,
    errors: Errors,
    status: StatusCode,
) -> Response {
    let today = st.platform.clock.now().with_timezone(&tz(st)).date_naive();
    let first = month
        .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
        .unwrap_or_else(|| today.with_day(1).unwrap_or(today));
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    let items = match cutovers::between(&st.platform, &u.p, start_us(st, first), start_us(st, next))
        .await
    {
        Ok(i) => i,
        Err(e) => return service_error_page(u, st, e),
    };
    let rows = items
        .into_iter()
        .map(|c| CutRow {
            id: c.id,
            window: format!("{} – {}", local(st, c.starts_at), hm(st, c.ends_at)),
            title: c.title,
            kind: label(u, "chg-ckind", &c.kind),
            systems: c.systems.join(", "),
            state: label(u, "chg-cstate", &c.state),
            state_key: c.state,
            requester: c.requester,
        })
        .collect();
    let pol = st.platform.policy.current();
    let tiers = pol
        .pack
        .change
        .notices
        .iter()
        .map(|n| {
            (
                n.tier.clone(),
                format!("{} ({})", label(u, "chg-tier", &n.tier), n.rule),
                form.tiers.contains(&n.tier),
            )
        })
        .collect();
    let is_zh = zh(u);
    let data_cases = pol
        .pack
        .change
        .cutover
        .data_cases
        .iter()
        .map(|d| {
            let (n, r) = if is_zh {
                (&d.name_zh, &d.responsible_zh)
            } else {
                (&d.name_en, &d.responsible_en)
            };
            (d.key.clone(), format!("{n} → {r}"), form.data_case == d.key)
        })
        .collect();
    let kinds = cutovers::KINDS
        .iter()
        .map(|k| (k.to_string(), label(u, "chg-ckind", k), form.kind == *k))
        .collect();
    let texts = [
        ("plan", "chg-c-plan", &form.plan),
        ("rollback_plan", "chg-c-rollback", &form.rollback_plan),
        ("checklist", "chg-c-checklist", &form.checklist),
        ("test_list", "chg-c-tests", &form.test_list),
        ("people", "chg-c-people", &form.people),
        ("impact", "chg-c-impact", &form.impact),
    ]
    .into_iter()
    .map(|(name, key, value)| TextField {
        name,
        label: u.t.t(key),
        value: value.clone(),
        error: errors.get(name).cloned(),
    })
    .collect();
    render(
        status,
        &CutoversPage {
            l: u.layout(st, "changes", "chg-title-cutovers"),
            month: first.format("%Y-%m").to_string(),
            rows,
            can_apply: u.p.can(Permission::ChangeRequest),
            form,
            errors,
            kinds,
            tiers,
            texts,
            data_cases,
        },
    )
}

/// Cut-overs of a month with the application form.
pub async fn cutovers_list(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = can_read(&u, &st) {
        return r;
    }
    cutovers_page(
        &st,
        &u,
        q.get("month").cloned(),
        CutForm {
            kind: "software".into(),
            ..CutForm::default()
        },
        Errors::new(),
        StatusCode::OK,
    )
    .await
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', '，', '\n', '、'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Applies for a cut-over from the form; the refusing rule is shown next to the field.
pub async fn cutover_create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let form = CutForm {
        title: field(&pairs, "title"),
        kind: field(&pairs, "kind"),
        systems: field(&pairs, "systems"),
        major: field(&pairs, "major") == "on",
        emergency: field(&pairs, "emergency") == "on",
        starts_at: field(&pairs, "starts_at"),
        ends_at: field(&pairs, "ends_at"),
        downtime_from: field(&pairs, "downtime_from"),
        downtime_to: field(&pairs, "downtime_to"),
        plan: field(&pairs, "plan"),
        rollback_plan: field(&pairs, "rollback_plan"),
        checklist: field(&pairs, "checklist"),
        test_list: field(&pairs, "test_list"),
        people: field(&pairs, "people"),
        impact: field(&pairs, "impact"),
        circuits: field(&pairs, "circuits"),
        tiers: pairs
            .iter()
            .filter(|(k, _)| k == "customer_tiers")
            .map(|(_, v)| v.clone())
            .collect(),
        data_case: field(&pairs, "data_case"),
    };
    let mut errors = Errors::new();
    let mut times = Vec::new();
    for (name, v) in [
        ("starts_at", &form.starts_at),
        ("ends_at", &form.ends_at),
        ("downtime_from", &form.downtime_from),
        ("downtime_to", &form.downtime_to),
    ] {
        match local_input(&st, name, v) {
            Ok(x) => times.push(x),
            Err((f, m)) => {
                errors.insert(f, m);
            }
        }
    }
    for name in ["starts_at", "ends_at"] {
        if field(&pairs, name).trim().is_empty() {
            errors.insert(name.into(), u.t.t("chg-required"));
        }
    }
    if !errors.is_empty() {
        return cutovers_page(
            &st,
            &u,
            None,
            form,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let input = cutovers::CutoverInput {
        title: form.title.clone(),
        kind: form.kind.clone(),
        systems: split_list(&form.systems),
        major: form.major,
        emergency: form.emergency,
        starts_at: times[0].clone().unwrap_or_default(),
        ends_at: times[1].clone().unwrap_or_default(),
        downtime_from: times[2].clone(),
        downtime_to: times[3].clone(),
        plan: form.plan.clone(),
        rollback_plan: form.rollback_plan.clone(),
        checklist: form.checklist.clone(),
        test_list: form.test_list.clone(),
        people: form.people.clone(),
        impact: form.impact.clone(),
        circuits: split_list(&form.circuits),
        customer_tiers: form.tiers.clone(),
        data_case: Some(form.data_case.clone()).filter(|d| !d.trim().is_empty()),
    };
    match cutovers::apply(&st.platform, &u.p, input).await {
        Ok(c) => Redirect::to(&format!("/changes/cutovers/{}", c.id)).into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let f = form_field(&e, &[("date", "starts_at"), ("downtime", "downtime_from")]);
            errors.insert(f, message(&u, &e));
            let month = form.starts_at.get(..7).map(str::to_string);
            cutovers_page(&st, &u, month, form, errors, status_of(&e)).await
        }
    }
}

struct NoticeOut {
    tier: String,
    rule: String,
    notify: String,
    due: String,
    late: bool,
}

struct LogOut {
    at: String,
    step: String,
    important: bool,
    operator: String,
    supervisor: String,
    result: String,
    by: String,
}

/// The CHG-17 start form as typed (kept on a refusal).
#[derive(Default)]
struct StartForm {
    kickoff_at: String,
    lead: String,
    lead_qualified: bool,
    arrived_at: String,
    equipment_checked: bool,
    host_present: bool,
    departments_present: bool,
    contractor_present: bool,
    note: String,
}

/// The recorded CHG-17 start, for display.
struct StartOut {
    kickoff: String,
    lead: String,
    arrived: String,
    ordered: String,
    by: String,
    note: String,
}

#[derive(Template)]
#[template(path = "chg_cutover.html")]
struct CutoverPage {
    l: Layout,
    c: cutovers::CutoverView,
    kind: String,
    state: String,
    window: String,
    downtime: String,
    approved_at: String,
    notices: Vec<NoticeOut>,
    log: Vec<LogOut>,
    can_approve: bool,
    can_start: bool,
    started: Option<StartOut>,
    sf: StartForm,
    can_log: bool,
    can_complete: bool,
    error: Option<String>,
    error_field: String,
    lf: (String, String, String, String, bool),
    /// CHG-20: key, case name, responsible key, rule, responsible name.
    data_case: Option<(String, String, String, String, String)>,
    can_rectify: bool,
    rectification_required: bool,
}

async fn cutover_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    error: Option<(String, String)>,
    lf: (String, String, String, String, bool),
    sf: StartForm,
    status: StatusCode,
) -> Response {
    let c = match cutovers::get(&st.platform, &u.p, id).await {
        Ok(c) => c,
        Err(e) => return service_error_page(u, st, e),
    };
    let notices = c
        .notices
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| NoticeOut {
            tier: label(u, "chg-tier", n["tier"].as_str().unwrap_or("")),
            rule: n["rule"].as_str().unwrap_or("").into(),
            notify: label(u, "chg-notify", n["notify"].as_str().unwrap_or("")),
            due: local(st, n["due_at"].as_i64().unwrap_or(0)),
            late: n["late"].as_bool().unwrap_or(false),
        })
        .collect();
    let log = c
        .log
        .iter()
        .map(|e| LogOut {
            at: local(st, e.at),
            step: e.step.clone(),
            important: e.important != 0,
            operator: e.operator.clone(),
            supervisor: e.supervisor.clone(),
            result: e.result.clone(),
            by: e.recorded_by.clone(),
        })
        .collect();
    let (error, error_field) = match error {
        Some((f, m)) => (Some(m), f),
        None => (None, String::new()),
    };
    let can_request = u.p.can(Permission::ChangeRequest);
    let pol = st.platform.policy.current();
    let def = c
        .data_case
        .as_deref()
        .and_then(|k| pol.pack.change.data_case(k));
    let is_zh = zh(u);
    let data_case = def.map(|d| {
        (
            d.key.clone(),
            if is_zh {
                d.name_zh.clone()
            } else {
                d.name_en.clone()
            },
            d.responsible.clone(),
            d.rule.clone(),
            if is_zh {
                d.responsible_zh.clone()
            } else {
                d.responsible_en.clone()
            },
        )
    });
    let rectification_required = def.is_some_and(|d| d.rectification_report);
    let can_rectify = can_request
        && c.state != "completed"
        && (rectification_required || c.rectification_report.is_some());
    let started = c.start.as_ref().map(|s| StartOut {
        kickoff: local(st, s.kickoff_at),
        lead: s.lead.clone(),
        arrived: local(st, s.arrived_at),
        ordered: local(st, s.ordered_at),
        by: s.ordered_by.clone(),
        note: s.note.clone(),
    });
    let sf = if sf.lead.is_empty() && error.is_none() {
        StartForm {
            lead: u.p.username.clone(),
            ..sf
        }
    } else {
        sf
    };
    render(
        status,
        &CutoverPage {
            l: u.layout(st, "changes", "chg-title-cutover"),
            kind: label(u, "chg-ckind", &c.kind),
            state: label(u, "chg-cstate", &c.state),
            window: format!("{} – {}", local(st, c.starts_at), local(st, c.ends_at)),
            downtime: match (c.downtime_from, c.downtime_to) {
                (Some(f), Some(t)) => format!("{} – {}", local(st, f), hm(st, t)),
                _ => String::new(),
            },
            approved_at: c.approved_at.map(|x| local(st, x)).unwrap_or_default(),
            notices,
            log,
            can_approve: c.state == "submitted" && u.p.can(Permission::ChangeApprove),
            can_start: can_request && c.state == "approved",
            started,
            sf,
            can_log: can_request && (c.state == "started" || c.state == "in_progress"),
            can_complete: can_request && c.state == "in_progress",
            c,
            error,
            error_field,
            lf,
            data_case,
            can_rectify,
            rectification_required,
        },
    )
}

/// One cut-over.
pub async fn cutover_detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    cutover_page(
        &st,
        &u,
        id,
        None,
        Default::default(),
        StartForm::default(),
        StatusCode::OK,
    )
    .await
}

/// Approve, the on-site start (CHG-17), a log step or completion, from the cut-over page.
pub async fn cutover_act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let lf = (
        field(&pairs, "step"),
        field(&pairs, "operator"),
        field(&pairs, "supervisor"),
        field(&pairs, "result"),
        field(&pairs, "important") == "on",
    );
    let sf = StartForm {
        kickoff_at: field(&pairs, "kickoff_at"),
        lead: field(&pairs, "lead"),
        lead_qualified: field(&pairs, "lead_qualified") == "on",
        arrived_at: field(&pairs, "arrived_at"),
        equipment_checked: field(&pairs, "equipment_checked") == "on",
        host_present: field(&pairs, "host_present") == "on",
        departments_present: field(&pairs, "departments_present") == "on",
        contractor_present: field(&pairs, "contractor_present") == "on",
        note: field(&pairs, "note"),
    };
    let r = match field(&pairs, "action").as_str() {
        "start" => match (
            local_input(&st, "kickoff_at", &sf.kickoff_at),
            local_input(&st, "arrived_at", &sf.arrived_at),
        ) {
            (Err((f, m)), _) | (_, Err((f, m))) => Err(ServiceError::invalid(f, m)),
            (Ok(kickoff_at), Ok(arrived_at)) => cutovers::start(
                &st.platform,
                &u.p,
                id,
                cutovers::StartInput {
                    kickoff_at,
                    lead: sf.lead.clone(),
                    lead_qualified: sf.lead_qualified,
                    arrived_at,
                    equipment_checked: sf.equipment_checked,
                    host_present: sf.host_present,
                    departments_present: sf.departments_present,
                    contractor_present: sf.contractor_present,
                    note: sf.note.clone(),
                },
            )
            .await
            .map(|_| ()),
        },
        "approve" => cutovers::approve(
            &st.platform,
            &u.p,
            id,
            field(&pairs, "version").parse().unwrap_or(-1),
        )
        .await
        .map(|_| ()),
        "log" => cutovers::log_step(
            &st.platform,
            &u.p,
            id,
            cutovers::LogInput {
                step: lf.0.clone(),
                important: lf.4,
                operator: lf.1.clone(),
                supervisor: lf.2.clone(),
                result: lf.3.clone(),
            },
        )
        .await
        .map(|_| ()),
        "complete" => cutovers::complete(&st.platform, &u.p, id).await.map(|_| ()),
        "rectification" => cutovers::rectify(&st.platform, &u.p, id, &field(&pairs, "report"))
            .await
            .map(|_| ()),
        _ => Err(ServiceError::invalid(
            "action",
            "approve, start, log or complete",
        )),
    };
    match r {
        Ok(()) => Redirect::to(&format!("/changes/cutovers/{id}")).into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let f = e.field().unwrap_or("").to_string();
            cutover_page(
                &st,
                &u,
                id,
                Some((f, message(&u, &e))),
                lf,
                sf,
                status_of(&e),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Requirements

struct ReqRow {
    id: i64,
    title: String,
    requester: String,
    system: String,
    registered: String,
    due: String,
    overdue: bool,
    analysis_wd: String,
    release: String,
    acceptance: String,
}

#[derive(Template)]
#[template(path = "chg_requirements.html")]
struct RequirementsPage {
    l: Layout,
    rows: Vec<ReqRow>,
    can_register: bool,
    form: (String, String, String),
    errors: Errors,
}

async fn requirements_page(
    st: &AppState,
    u: &ConsoleUser,
    form: (String, String, String),
    errors: Errors,
    status: StatusCode,
) -> Response {
    let items = match requirements::recent(&st.platform, &u.p, 200).await {
        Ok(i) => i,
        Err(e) => return service_error_page(u, st, e),
    };
    let now = st.platform.now_us();
    let rows = items
        .into_iter()
        .map(|q| ReqRow {
            id: q.id,
            registered: local(st, q.registered_at),
            due: local(st, q.analysis_due),
            overdue: q.solution_at.is_none() && q.analysis_due < now,
            analysis_wd: q.analysis_wd.map(|x| x.to_string()).unwrap_or_default(),
            release: q.release_id.map(|x| format!("#{x}")).unwrap_or_default(),
            acceptance: q
                .acceptance
                .as_deref()
                .map(|a| label(u, "chg-acceptance", a))
                .unwrap_or_default(),
            title: q.title,
            requester: q.requester,
            system: q.system,
        })
        .collect();
    render(
        status,
        &RequirementsPage {
            l: u.layout(st, "changes", "chg-title-requirements"),
            rows,
            can_register: u.p.can(Permission::ChangeRequest),
            form,
            errors,
        },
    )
}

/// Requirements with the registration form.
pub async fn requirements_list(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = can_read(&u, &st) {
        return r;
    }
    requirements_page(&st, &u, Default::default(), Errors::new(), StatusCode::OK).await
}

/// Registers a requirement from the form.
pub async fn requirement_create(
    State(st): State<AppState>,
    u: ConsoleUser,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let form = (
        field(&pairs, "title"),
        field(&pairs, "requester"),
        field(&pairs, "system"),
    );
    let input = requirements::RequirementInput {
        title: form.0.clone(),
        requester: form.1.trim().to_string(),
        system: form.2.clone(),
    };
    match requirements::register(&st.platform, &u.p, input).await {
        Ok(r) => Redirect::to(&format!("/changes/requirements/{}", r.id)).into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let mut errors = Errors::new();
            errors.insert(form_field(&e, &[]), message(&u, &e));
            requirements_page(&st, &u, form, errors, status_of(&e)).await
        }
    }
}

#[derive(Template)]
#[template(path = "chg_requirement.html")]
struct RequirementPage {
    l: Layout,
    q: tianshu_store::cutovers::RequirementRow,
    registered: String,
    due: String,
    solution_at: String,
    accepted_at: String,
    acceptance: String,
    acceptance_key: String,
    releases: Vec<(i64, String)>,
    can_request: bool,
    can_decide: bool,
    can_deem: bool,
    error: Option<String>,
    error_field: String,
}

async fn requirement_page(
    st: &AppState,
    u: &ConsoleUser,
    id: i64,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let q = match requirements::get(&st.platform, &u.p, id).await {
        Ok(q) => q,
        Err(e) => return service_error_page(u, st, e),
    };
    let today = st.platform.clock.now().with_timezone(&tz(st)).date_naive();
    let mut releases_open = Vec::new();
    if q.acceptance.is_none() && u.p.can(Permission::ChangeRequest) {
        let from = today.with_day(1).unwrap_or(today);
        let to = from.checked_add_months(Months::new(3)).unwrap_or(from);
        if let Ok(rs) = st
            .platform
            .store
            .releases_between(&from.to_string(), &to.to_string())
            .await
        {
            releases_open = rs
                .into_iter()
                .filter(|r| r.state == "planned" || r.state == "go")
                .map(|r| (r.id, format!("#{} {} {}", r.id, r.release_date, r.title)))
                .collect();
        }
    }
    let (error, error_field) = match error {
        Some((f, m)) => (Some(m), f),
        None => (None, String::new()),
    };
    let undecided = q.acceptance.is_none() && q.release_id.is_some();
    render(
        status,
        &RequirementPage {
            l: u.layout(st, "changes", "chg-title-requirement"),
            registered: local(st, q.registered_at),
            due: local(st, q.analysis_due),
            solution_at: q.solution_at.map(|x| local(st, x)).unwrap_or_default(),
            accepted_at: q.accepted_at.map(|x| local(st, x)).unwrap_or_default(),
            acceptance: q
                .acceptance
                .as_deref()
                .map(|a| label(u, "chg-acceptance", a))
                .unwrap_or_default(),
            acceptance_key: q.acceptance.clone().unwrap_or_default(),
            releases: releases_open,
            can_request: u.p.can(Permission::ChangeRequest),
            can_decide: undecided && u.p.username == q.requester,
            can_deem: undecided && u.p.can(Permission::ChangeApprove),
            q,
            error,
            error_field,
        },
    )
}

/// One requirement.
pub async fn requirement_detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    requirement_page(&st, &u, id, None, StatusCode::OK).await
}

/// A requirement step from its page.
pub async fn requirement_act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let a = requirements::RequirementAction {
        action: field(&pairs, "action"),
        version: field(&pairs, "version").parse().unwrap_or(-1),
        release_id: field(&pairs, "release_id").parse().ok(),
        note: Some(field(&pairs, "note")).filter(|s| !s.trim().is_empty()),
    };
    match requirements::act(&st.platform, &u.p, id, a).await {
        Ok(_) => Redirect::to(&format!("/changes/requirements/{id}")).into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let f = e.field().unwrap_or("").to_string();
            requirement_page(&st, &u, id, Some((f, message(&u, &e))), status_of(&e)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// CNT-06 key-communications assurance (重保) plans

struct PlanRowOut {
    id: i64,
    name: String,
    period: String,
    in_period: bool,
    scope: String,
    state: String,
    state_key: String,
    version: i64,
    measures: String,
    contingency: String,
    escalation: String,
    contacts: String,
    weak: Vec<String>,
}

struct PlanField {
    name: &'static str,
    kind: &'static str,
    label: String,
    help: String,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "chg_assurance.html")]
struct AssurancePage {
    l: Layout,
    rows: Vec<PlanRowOut>,
    can_write: bool,
    fields: Vec<PlanField>,
    action_error: Option<String>,
}

/// The plan form's inputs, in order: (name, kind, label key, help key).
const PLAN_FIELDS: [(&str, &str, &str, &str); 10] = [
    ("name", "text", "chg-as-name", ""),
    ("starts_at", "datetime", "chg-as-starts", ""),
    ("ends_at", "datetime", "chg-as-ends", ""),
    (
        "scope_systems",
        "text",
        "chg-as-scope-systems",
        "chg-as-list-help",
    ),
    (
        "scope_regions",
        "text",
        "chg-as-scope-regions",
        "chg-as-list-help",
    ),
    ("measures", "area", "chg-as-measures", ""),
    ("contingency", "area", "chg-as-contingency", ""),
    ("escalation", "area", "chg-as-escalation", ""),
    ("contacts", "area", "chg-as-contacts", ""),
    ("weak_sections", "area", "chg-as-weak", "chg-as-weak-help"),
];

async fn assurance_page(
    st: &AppState,
    u: &ConsoleUser,
    form: &HashMap<String, String>,
    errors: Errors,
    action_error: Option<String>,
    status: StatusCode,
) -> Response {
    let plans = match assurance_plans::list_plans(&st.platform, &u.p).await {
        Ok(p) => p,
        Err(e) => return service_error_page(u, st, e),
    };
    let rows = plans
        .into_iter()
        .map(|p| PlanRowOut {
            id: p.id,
            period: format!("{} – {}", local(st, p.starts_at), local(st, p.ends_at)),
            in_period: p.in_period,
            scope: p
                .scope_systems
                .iter()
                .chain(p.scope_regions.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            state: label(u, "chg-as-state", &p.state),
            state_key: p.state,
            version: p.version,
            measures: p.measures,
            contingency: p.contingency,
            escalation: p.escalation,
            contacts: p.contacts,
            weak: p
                .weak_sections
                .iter()
                .map(|w| format!("{} | {} | {}", w.section, w.contingency, w.improvement))
                .collect(),
            name: p.name,
        })
        .collect();
    let fields = PLAN_FIELDS
        .iter()
        .map(|&(name, kind, label_key, help)| PlanField {
            name,
            kind,
            label: u.t.t(label_key),
            help: if help.is_empty() {
                String::new()
            } else {
                u.t.t(help)
            },
            value: form.get(name).cloned().unwrap_or_default(),
            error: errors.get(name).cloned(),
        })
        .collect();
    render(
        status,
        &AssurancePage {
            l: u.layout(st, "changes", "chg-title-assurance"),
            rows,
            can_write: u.p.can(Permission::ChangeRequest),
            fields,
            action_error,
        },
    )
}

/// CNT-06: the assurance plans with the form to write one.
pub async fn assurance_list(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = can_read(&u, &st) {
        return r;
    }
    assurance_page(
        &st,
        &u,
        &HashMap::new(),
        Errors::new(),
        None,
        StatusCode::OK,
    )
    .await
}

/// Writes a draft plan from the form; a refusal is shown next to its field (CNT-06).
pub async fn assurance_create(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let form: HashMap<String, String> = PLAN_FIELDS
        .iter()
        .map(|(n, ..)| (n.to_string(), field(&pairs, n)))
        .collect();
    let get = |n: &str| form.get(n).cloned().unwrap_or_default();
    let mut errors = Errors::new();
    let mut times = Vec::new();
    for name in ["starts_at", "ends_at"] {
        match local_input(&st, name, &get(name)) {
            Ok(x) => times.push(x.unwrap_or_default()),
            Err((f, m)) => {
                errors.insert(f, m);
                times.push(String::new());
            }
        }
    }
    if !errors.is_empty() {
        return assurance_page(
            &st,
            &u,
            &form,
            errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let weak_sections = get("weak_sections")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, ['|', '｜']).map(|x| x.trim().to_string());
            tianshu_core::change::WeakSection {
                section: parts.next().unwrap_or_default(),
                contingency: parts.next().unwrap_or_default(),
                improvement: parts.next().unwrap_or_default(),
            }
        })
        .collect();
    let input = assurance_plans::PlanInput {
        name: get("name"),
        starts_at: times[0].clone(),
        ends_at: times[1].clone(),
        scope_systems: split_list(&get("scope_systems")),
        scope_regions: split_list(&get("scope_regions")),
        measures: get("measures"),
        contingency: get("contingency"),
        escalation: get("escalation"),
        contacts: get("contacts"),
        weak_sections,
    };
    match assurance_plans::create(&st.platform, &u.p, input).await {
        Ok(_) => Redirect::to("/changes/assurance").into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            errors.insert(form_field(&e, &[]), message(&u, &e));
            assurance_page(&st, &u, &form, errors, None, status_of(&e)).await
        }
    }
}

/// Activates or archives a plan (CNT-06: archiving only after the period).
pub async fn assurance_act(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let r = assurance_plans::act(
        &st.platform,
        &u.p,
        id,
        &field(&pairs, "action"),
        field(&pairs, "version").parse().unwrap_or(-1),
    )
    .await;
    match r {
        Ok(_) => Redirect::to("/changes/assurance").into_response(),
        Err(e) => {
            if is_page_error(&e) {
                return service_error_page(&u, &st, e);
            }
            let msg = message(&u, &e);
            assurance_page(
                &st,
                &u,
                &HashMap::new(),
                Errors::new(),
                Some(msg),
                status_of(&e),
            )
            .await
        }
    }
}
