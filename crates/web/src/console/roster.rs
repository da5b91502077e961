//! Roster calendar (DUTY-02..04): a week or a month of duties, with swaps requested and decided on the
//! same page so a duty officer never leaves the calendar to give a shift away.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::duty::{self, AssignmentView, SwapDecision, SwapRequest};
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// One duty in a calendar cell.
struct Entry {
    id: i64,
    /// Shift name.
    shift: String,
    /// Slot name.
    slot: String,
    person: String,
    /// The signed-in user's own duty.
    mine: bool,
}

/// One day of the month grid.
struct Cell {
    date: String,
    day: u32,
    /// False for the days of the neighbouring months that fill the first and last week.
    in_month: bool,
    today: bool,
    entries: Vec<Entry>,
}

/// One day of the week table: its duties per shift (pack order).
struct WeekRow {
    date: String,
    weekday: String,
    today: bool,
    cells: Vec<Vec<Entry>>,
}

/// A swap as listed.
struct SwapItem {
    id: i64,
    duty: String,
    counter_duty: Option<String>,
    requester: String,
    counterpart: String,
    reason: String,
    state: String,
    state_label: String,
    decided_by: Option<String>,
    note: Option<String>,
    at: String,
    version: i64,
    /// The signed-in user may approve or reject it (duty.manage and not the requester).
    can_decide: bool,
}

/// What was typed into the swap form, and why it was refused (field → message).
#[derive(Default)]
struct SwapForm {
    assignment_id: String,
    counterpart: String,
    counter_assignment_id: String,
    reason: String,
    errors: HashMap<String, String>,
    message: Option<String>,
}

impl SwapForm {
    fn err(&self, f: &str) -> Option<&String> {
        self.errors.get(f)
    }
}

#[derive(Template)]
#[template(path = "roster.html")]
struct RosterPage {
    l: Layout,
    flash: Option<String>,
    error: Option<String>,
    /// `week` or `month`.
    view: String,
    /// The shown range, e.g. "2026-11-23 – 2026-11-29" or "2026-11".
    range: String,
    date: String,
    prev: String,
    next: String,
    shifts: Vec<String>,
    weekdays: Vec<String>,
    week: Vec<WeekRow>,
    month: Vec<Vec<Cell>>,
    /// The user's own duties of the shown range not yet over: (id, label).
    mine: Vec<(i64, String)>,
    form: SwapForm,
    swaps: Vec<SwapItem>,
}

/// Query of the roster page.
#[derive(Debug, Deserialize, Default)]
pub struct RosterQuery {
    #[serde(default)]
    view: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    requested: Option<i64>,
    #[serde(default)]
    decided: Option<String>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Swaps listed under the calendar: every open one, and this many decided ones.
const DECIDED_SHOWN: usize = 20;

fn name_of<'a>(zh: &'a str, en: &'a str, t: &super::Tr) -> &'a str {
    if t.lang().starts_with("en") {
        en
    } else {
        zh
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let m0 = d.year() * 12 + d.month0() as i32 + n;
    NaiveDate::from_ymd_opt(m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

/// The days shown: a Monday-to-Sunday week, or the whole weeks covering the month.
fn range_of(view: &str, d: NaiveDate) -> (NaiveDate, NaiveDate) {
    if view == "month" {
        let first = first_of_month(d);
        let last = add_months(first, 1) - Duration::days(1);
        (duty::week_of(first).0, duty::week_of(last).1)
    } else {
        duty::week_of(d)
    }
}

/// /duty/roster: the roster of a week or a month, the user's swap form and the swaps to decide.
pub async fn page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<RosterQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::DutyRead) {
        return r;
    }
    let flash = match (&q.requested, q.decided.as_deref()) {
        (Some(_), _) => Some(u.t.t("roster-swap-requested")),
        (_, Some("approved")) => Some(u.t.t("roster-swap-approved")),
        (_, Some(_)) => Some(u.t.t("roster-swap-rejected")),
        _ => None,
    };
    roster_page(
        &st,
        &u,
        &q,
        StatusCode::OK,
        flash,
        None,
        SwapForm::default(),
    )
    .await
}

async fn roster_page(
    st: &AppState,
    u: &ConsoleUser,
    q: &RosterQuery,
    status: StatusCode,
    flash: Option<String>,
    error: Option<String>,
    form: SwapForm,
) -> Response {
    let p = &st.platform;
    let pol = p.policy.current();
    let d = &pol.pack.duty;
    let today = duty::today(p);
    let view = match q.view.as_deref() {
        Some("month") => "month",
        _ => "week",
    };
    let mut error = error;
    let date = match q.date.as_deref().filter(|s| !s.is_empty()) {
        None => today,
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| {
            error = Some(u.t.t("roster-bad-date"));
            today
        }),
    };
    let (from, to) = range_of(view, date);
    let rows: Vec<AssignmentView> = match duty::roster(p, &u.p, from, to).await {
        Ok(v) => v,
        Err(e) => {
            error = Some(e.localized(&u.p.locale));
            Vec::new()
        }
    };
    let slot_name = |k: &str| {
        d.slot(k).map_or(k.to_string(), |s| {
            name_of(&s.name_zh, &s.name_en, &u.t).to_string()
        })
    };
    let shift_name = |k: &str| {
        d.shift(k).map_or(k.to_string(), |s| {
            name_of(&s.name_zh, &s.name_en, &u.t).to_string()
        })
    };
    let entry = |r: &AssignmentView| Entry {
        id: r.id,
        shift: shift_name(&r.shift),
        slot: slot_name(&r.slot),
        person: r.person.clone(),
        mine: r.person == u.p.username,
    };
    let label = |r: &AssignmentView| {
        format!(
            "{} · {} · {} · {}",
            r.date,
            shift_name(&r.shift),
            slot_name(&r.slot),
            r.person
        )
    };
    let shift_order = |k: &str| {
        d.shifts
            .iter()
            .position(|s| s.key == k)
            .unwrap_or(usize::MAX)
    };
    let mut by_day: HashMap<String, Vec<&AssignmentView>> = HashMap::new();
    for r in &rows {
        by_day.entry(r.date.clone()).or_default().push(r);
    }
    for v in by_day.values_mut() {
        v.sort_by_key(|r| (shift_order(&r.shift), r.slot.clone(), r.person.clone()));
    }
    let ds = |x: NaiveDate| x.format("%Y-%m-%d").to_string();
    let (week, month) = if view == "month" {
        let month_no = date.month();
        let days: Vec<Cell> = from
            .iter_days()
            .take_while(|x| *x <= to)
            .map(|x| Cell {
                date: ds(x),
                day: x.day(),
                in_month: x.month() == month_no,
                today: x == today,
                entries: by_day
                    .get(&ds(x))
                    .map(|v| v.iter().map(|r| entry(r)).collect())
                    .unwrap_or_default(),
            })
            .collect();
        let mut weeks = Vec::new();
        let mut it = days.into_iter().peekable();
        while it.peek().is_some() {
            weeks.push(it.by_ref().take(7).collect());
        }
        (Vec::new(), weeks)
    } else {
        let week = from
            .iter_days()
            .take(7)
            .enumerate()
            .map(|(i, x)| {
                let day_rows = by_day.get(&ds(x));
                WeekRow {
                    date: ds(x),
                    weekday: u.t.t(&format!("duty-wd-{}", WEEKDAYS[i])),
                    today: x == today,
                    cells: d
                        .shifts
                        .iter()
                        .map(|s| {
                            day_rows
                                .map(|v| {
                                    v.iter()
                                        .filter(|r| r.shift == s.key)
                                        .map(|r| entry(r))
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                        .collect(),
                }
            })
            .collect();
        (week, Vec::new())
    };
    let now = p
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // RFC 3339 UTC strings of one format order as instants do.
    let mine = rows
        .iter()
        .filter(|r| r.person == u.p.username && r.end.as_str() > now.as_str())
        .map(|r| (r.id, label(r)))
        .collect();
    let (prev, next) = if view == "month" {
        (add_months(date, -1), add_months(date, 1))
    } else {
        (date - Duration::days(7), date + Duration::days(7))
    };
    let range = if view == "month" {
        date.format("%Y-%m").to_string()
    } else {
        format!("{} – {}", ds(from), ds(to))
    };
    let swaps = swap_items(st, u, &label).await.unwrap_or_else(|e| {
        error = Some(e.localized(&u.p.locale));
        Vec::new()
    });
    let page = RosterPage {
        l: u.layout(st, "duty", "roster-title"),
        flash,
        error,
        view: view.into(),
        range,
        date: ds(date),
        prev: ds(prev),
        next: ds(next),
        shifts: d
            .shifts
            .iter()
            .map(|s| {
                format!(
                    "{} {}–{}",
                    name_of(&s.name_zh, &s.name_en, &u.t),
                    s.start,
                    s.end
                )
            })
            .collect(),
        weekdays: WEEKDAYS
            .iter()
            .map(|k| u.t.t(&format!("duty-wd-{k}")))
            .collect(),
        week,
        month,
        mine,
        form,
        swaps,
    };
    render(status, &page)
}

/// Open swaps (all) and the latest decided ones, each with the duties it names.
async fn swap_items(
    st: &AppState,
    u: &ConsoleUser,
    label: &impl Fn(&AssignmentView) -> String,
) -> Result<Vec<SwapItem>, ServiceError> {
    let p = &st.platform;
    let all = duty::swaps(p, &u.p, None).await?;
    let (open, decided): (Vec<_>, Vec<_>) = all.into_iter().partition(|s| s.state == "requested");
    let mut out = Vec::new();
    for s in open
        .into_iter()
        .chain(decided.into_iter().take(DECIDED_SHOWN))
    {
        let duty_label = |id: i64| async move {
            match duty::assignment(p, &u.p, id).await {
                Ok(a) => label(&a),
                Err(_) => format!("#{id}"),
            }
        };
        let duty = duty_label(s.assignment_id).await;
        let counter_duty = match s.counter_assignment_id {
            Some(c) => Some(duty_label(c).await),
            None => None,
        };
        out.push(SwapItem {
            can_decide: s.state == "requested"
                && u.p.can(Permission::DutyManage)
                && s.requester != u.p.username,
            id: s.id,
            duty,
            counter_duty,
            requester: s.requester,
            counterpart: s.counterpart,
            reason: s.reason,
            state_label: u.t.t(&format!("roster-state-{}", s.state)),
            state: s.state,
            decided_by: s.decided_by,
            note: s.note,
            at: local(st, s.created_at),
            version: s.version,
        });
    }
    Ok(out)
}

fn back(pairs: &[(String, String)]) -> RosterQuery {
    RosterQuery {
        view: Some(field(pairs, "view")).filter(|v| !v.is_empty()),
        date: Some(field(pairs, "date")).filter(|v| !v.is_empty()),
        ..Default::default()
    }
}

fn back_url(q: &RosterQuery, extra: (&str, String)) -> String {
    let mut pairs = vec![
        ("view", q.view.clone().unwrap_or_else(|| "week".into())),
        ("date", q.date.clone().unwrap_or_default()),
    ];
    pairs.push(extra);
    format!(
        "/duty/roster?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// Requests a swap of one of the user's duties (DUTY-04); a refusal is shown next to its field (422).
pub async fn request_swap(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let q = back(&pairs);
    let mut form = SwapForm {
        assignment_id: field(&pairs, "assignment_id"),
        counterpart: field(&pairs, "counterpart").trim().to_string(),
        counter_assignment_id: field(&pairs, "counter_assignment_id").trim().to_string(),
        reason: field(&pairs, "reason"),
        ..Default::default()
    };
    let refuse = |mut form: SwapForm, f: &str, msg: String| {
        form.errors.insert(f.to_string(), msg);
        form
    };
    let Ok(assignment_id) = form.assignment_id.trim().parse::<i64>() else {
        let msg = u.t.t("roster-pick-duty");
        form = refuse(form, "assignment_id", msg);
        return roster_page(
            &st,
            &u,
            &q,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            form,
        )
        .await;
    };
    let counter = if form.counter_assignment_id.is_empty() {
        None
    } else {
        match form.counter_assignment_id.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                let msg = u.t.t("roster-bad-number");
                form = refuse(form, "counter_assignment_id", msg);
                return roster_page(
                    &st,
                    &u,
                    &q,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    None,
                    form,
                )
                .await;
            }
        }
    };
    if form.counterpart.is_empty() {
        let msg = u.t.t("roster-need-counterpart");
        form = refuse(form, "counterpart", msg);
        return roster_page(
            &st,
            &u,
            &q,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            form,
        )
        .await;
    }
    let req = SwapRequest {
        assignment_id,
        counterpart: form.counterpart.clone(),
        counter_assignment_id: counter,
        reason: form.reason.clone(),
    };
    match duty::request_swap(&st.platform, &u.p, req).await {
        Ok(s) => Redirect::to(&back_url(&q, ("requested", s.id.to_string()))).into_response(),
        Err(e) => form_error(&st, &u, &q, form, e).await,
    }
}

/// Shows a refused swap form again with the refusal next to its field; other errors as a page.
async fn form_error(
    st: &AppState,
    u: &ConsoleUser,
    q: &RosterQuery,
    mut form: SwapForm,
    e: ServiceError,
) -> Response {
    let status = match &e {
        ServiceError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::UnknownReference { .. } => StatusCode::BAD_REQUEST,
        ServiceError::Conflict { .. } | ServiceError::Stale(_) => StatusCode::CONFLICT,
        ServiceError::OutOfScope => StatusCode::FORBIDDEN,
        _ => return service_error_page(u, st, e),
    };
    let msg = e.localized(&u.p.locale);
    match e.field() {
        Some(f @ ("assignment_id" | "counterpart" | "counter_assignment_id" | "reason")) => {
            form.errors.insert(f.to_string(), msg);
        }
        _ => form.message = Some(msg),
    }
    roster_page(st, u, q, status, None, None, form).await
}

/// Approves or rejects a requested swap (duty.manage, never the requester); version-checked.
pub async fn decide_swap(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let q = back(&pairs);
    let approve = field(&pairs, "decision") == "approve";
    let note = Some(field(&pairs, "note")).filter(|n| !n.trim().is_empty());
    let d = SwapDecision {
        note,
        version: field(&pairs, "version").trim().parse().unwrap_or(-1),
    };
    match duty::decide_swap(&st.platform, &u.p, id, approve, d).await {
        Ok(s) => Redirect::to(&back_url(&q, ("decided", s.state))).into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(
            e @ (ServiceError::Stale(_)
            | ServiceError::Conflict { .. }
            | ServiceError::Invalid { .. }),
        ) => {
            let msg = match &e {
                ServiceError::Stale(_) => u.t.t("conflict"),
                other => other.localized(&u.p.locale),
            };
            roster_page(
                &st,
                &u,
                &q,
                StatusCode::CONFLICT,
                None,
                Some(msg),
                SwapForm::default(),
            )
            .await
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}
