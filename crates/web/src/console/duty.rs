//! Duty pages: who is on duty now, today and this week (DUTY-02..04), and the monthly comp-time statement
//! (DUTY-05) with its XLSX export.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use tianshu_core::policy::FieldKind;
use tianshu_core::Permission;
use tianshu_services::duty::{self, HandoverRequest, OnDutyQuery, ReportRequest};
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, local, service_error_page};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// One row of the week table: a day and who works each shift.
struct DayRow {
    date: String,
    weekday: String,
    today: bool,
    /// Per shift (pack order): "slot: person" entries.
    cells: Vec<Vec<String>>,
}

/// One field of the DUTY-06 daily report form (duty.toml `report.field`), or of a filed report.
struct ReportFieldRow {
    key: String,
    label: String,
    required: bool,
    /// `text`, `bool` or `number`.
    kind: &'static str,
    /// What was typed (form) or the filed value for people (read-only).
    value: String,
    error: Option<String>,
}

/// One of the signed-in user's duties with a daily report: its form, or the report as filed.
struct ReportCard {
    id: i64,
    date: String,
    title: String,
    /// `filed`, `open` (begun, not filed), `missing` (ended, not filed) or `upcoming` (not begun).
    state: &'static str,
    /// When the report was filed.
    filed_at: Option<String>,
    fields: Vec<ReportFieldRow>,
    error: Option<String>,
    /// Show the form unfolded: today's duties, and a late one whose filing was just refused.
    open: bool,
}

/// A hand-over note as listed.
struct NoteRow {
    date: String,
    /// "slot · shift → next shift"
    from_to: String,
    author: String,
    at: String,
    note: String,
}

#[derive(Template)]
#[template(path = "duty.html")]
struct DutyPage {
    l: Layout,
    flash: Option<String>,
    now_label: String,
    /// (name, person, slot, shift, until)
    on_duty: Vec<(String, String, String, String, String)>,
    shifts: Vec<String>,
    week: Vec<DayRow>,
    me: String,
    error: Option<String>,
    reports: Vec<ReportCard>,
    /// (value `date|slot|shift`, label) of the user's duties today, for the hand-over form.
    handover_duties: Vec<(String, String)>,
    handover: HandoverInput,
    notes: Vec<NoteRow>,
}

/// What was typed into a report form that was refused.
#[derive(Default)]
pub struct ReportInput {
    assignment_id: i64,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    message: Option<String>,
}

/// What was typed into the hand-over form, and why it was refused.
#[derive(Default)]
pub struct HandoverInput {
    duty: String,
    note: String,
    /// `duty` or `note` when refused.
    error_field: String,
    error: Option<String>,
}

/// Query of the duty page: what was just saved.
#[derive(Debug, Deserialize, Default)]
pub struct DutyQuery {
    filed: Option<i64>,
    handover: Option<String>,
}

fn name_of<'a>(zh: &'a str, en: &'a str, t: &super::Tr) -> &'a str {
    if t.lang().starts_with("en") {
        en
    } else {
        zh
    }
}

/// /duty: on duty now, this week's roster by day and shift, the user's daily reports and the hand-over notes.
pub async fn page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<DutyQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::DutyRead) {
        return r;
    }
    let flash = if q.filed.is_some() {
        Some(u.t.t("duty-report-filed-flash"))
    } else {
        q.handover.map(|_| u.t.t("duty-handover-flash"))
    };
    duty_page(
        &st,
        &u,
        StatusCode::OK,
        flash,
        None,
        HandoverInput::default(),
    )
    .await
}

fn shift_span(d: &tianshu_core::policy::DutyPolicy, shift: &str, t: &super::Tr) -> String {
    d.shift(shift).map_or(shift.to_string(), |s| {
        format!(
            "{} {}–{}",
            name_of(&s.name_zh, &s.name_en, t),
            s.start,
            s.end
        )
    })
}

/// A filed value for people: yes / no, the number, the text; "—" when left out.
fn shown_value(u: &ConsoleUser, v: Option<&Value>) -> String {
    match v {
        Some(Value::Bool(true)) => u.t.t("duty-yes"),
        Some(Value::Bool(false)) => u.t.t("duty-no"),
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "—".into(),
    }
}

async fn duty_page(
    st: &AppState,
    u: &ConsoleUser,
    status: StatusCode,
    flash: Option<String>,
    report_input: Option<ReportInput>,
    handover: HandoverInput,
) -> Response {
    let p = &st.platform;
    let pol = p.policy.current();
    let d = &pol.pack.duty;
    let tz = tianshu_core::duty::time_zone(d);
    let now = p.clock.now();
    let mut error = None;
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
    let on_duty = match duty::on_duty(p, &u.p, now, &OnDutyQuery::default()).await {
        Ok(v) => v
            .into_iter()
            .map(|o| {
                let until = chrono::DateTime::parse_from_rfc3339(&o.end)
                    .map(|e| e.with_timezone(&tz).format("%H:%M").to_string())
                    .unwrap_or_default();
                (
                    o.name,
                    o.person,
                    slot_name(&o.slot),
                    shift_name(&o.shift),
                    until,
                )
            })
            .collect(),
        Err(e) => {
            error = Some(e.localized(&u.p.locale));
            Vec::new()
        }
    };
    let today = duty::today(p);
    let (from, to) = duty::week_of(today);
    let rows = duty::roster(p, &u.p, from, to).await.unwrap_or_default();
    let mut by_day: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in &rows {
        by_day
            .entry((r.date.clone(), r.shift.clone()))
            .or_default()
            .push(format!("{}: {}", slot_name(&r.slot), r.person));
    }
    let weekday_keys = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let week = from
        .iter_days()
        .take(7)
        .enumerate()
        .map(|(i, date)| {
            let ds = date.format("%Y-%m-%d").to_string();
            DayRow {
                weekday: u.t.t(&format!("duty-wd-{}", weekday_keys[i])),
                today: date == today,
                cells: d
                    .shifts
                    .iter()
                    .map(|s| {
                        by_day
                            .remove(&(ds.clone(), s.key.clone()))
                            .unwrap_or_default()
                    })
                    .collect(),
                date: ds,
            }
        })
        .collect();
    // DUTY-06: the user's own duties with a report, as forms or as filed.
    let report_input = report_input.unwrap_or_default();
    let today_s = today.format("%Y-%m-%d").to_string();
    let reports = match duty::my_report_duties(p, &u.p).await {
        Ok(v) => v
            .into_iter()
            .map(|r| {
                let a = &r.assignment;
                let filed: Option<serde_json::Map<String, Value>> = r
                    .report
                    .as_ref()
                    .map(|x| serde_json::from_str(&x.fields).unwrap_or_default());
                let typed = report_input.assignment_id == a.id;
                let fields = d
                    .report
                    .fields
                    .iter()
                    .map(|f| ReportFieldRow {
                        key: f.key.clone(),
                        label: name_of(&f.name_zh, &f.name_en, &u.t).to_string(),
                        required: f.required,
                        kind: match f.kind {
                            FieldKind::Text => "text",
                            FieldKind::Bool => "bool",
                            FieldKind::Number => "number",
                        },
                        value: match &filed {
                            Some(m) => shown_value(u, m.get(&f.key)),
                            None if typed => {
                                report_input.values.get(&f.key).cloned().unwrap_or_default()
                            }
                            None => String::new(),
                        },
                        error: if typed {
                            report_input.errors.get(&f.key).cloned()
                        } else {
                            None
                        },
                    })
                    .collect();
                ReportCard {
                    id: a.id,
                    date: a.date.clone(),
                    title: format!(
                        "{} · {} · {}",
                        a.date,
                        slot_name(&a.slot),
                        shift_span(d, &a.shift, &u.t)
                    ),
                    state: match (&r.report, r.started, r.ended) {
                        (Some(_), _, _) => "filed",
                        (None, false, _) => "upcoming",
                        (None, true, false) => "open",
                        (None, true, true) => "missing",
                    },
                    filed_at: r.report.as_ref().map(|x| local(st, x.submitted_at)),
                    fields,
                    error: if typed {
                        report_input.message.clone()
                    } else {
                        None
                    },
                    open: typed || a.date == today_s,
                }
            })
            .collect(),
        Err(e) => {
            error = Some(e.localized(&u.p.locale));
            Vec::new()
        }
    };
    let handover_duties = duty::my_duties(p, &u.p, today, today)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            (
                format!("{}|{}|{}", a.date, a.slot, a.shift),
                format!(
                    "{} · {} · {}",
                    a.date,
                    slot_name(&a.slot),
                    shift_span(d, &a.shift, &u.t)
                ),
            )
        })
        .collect();
    // The next shift a note hands over to: the following shift of the day, else the next day's first.
    let next_shift = |shift: &str| {
        let i = d.shifts.iter().position(|s| s.key == shift);
        match i.and_then(|i| d.shifts.get(i + 1)) {
            Some(s) => name_of(&s.name_zh, &s.name_en, &u.t).to_string(),
            None => d.shifts.first().map_or(String::new(), |s| {
                format!(
                    "{} {}",
                    u.t.t("duty-next-day"),
                    name_of(&s.name_zh, &s.name_en, &u.t)
                )
            }),
        }
    };
    let notes = duty::handovers(p, &u.p, today - chrono::Duration::days(2), today)
        .await
        .unwrap_or_default()
        .into_iter()
        .rev()
        .take(NOTES_SHOWN)
        .map(|h| NoteRow {
            from_to: format!(
                "{} · {} → {}",
                slot_name(&h.slot),
                shift_name(&h.shift),
                next_shift(&h.shift)
            ),
            date: h.day,
            author: h.author,
            at: local(st, h.created_at),
            note: h.note,
        })
        .collect();
    let page = DutyPage {
        l: u.layout(st, "duty", "duty-title"),
        flash,
        reports,
        handover_duties,
        handover,
        notes,
        now_label: now.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        on_duty,
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
        week,
        me: u.p.username.clone(),
        error,
    };
    render(status, &page)
}

/// Hand-over notes listed on the page (the last three days, newest first).
const NOTES_SHOWN: usize = 20;

/// Files the daily report of one of the user's duties (DUTY-06); refused input is shown next to its field
/// (422) and nothing is saved.
pub async fn file_report(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let pol = st.platform.policy.current();
    let zh = u.t.lang() == "zh-CN";
    let mut input = ReportInput {
        assignment_id: field(&pairs, "assignment_id").trim().parse().unwrap_or(-1),
        ..Default::default()
    };
    let mut fields = std::collections::BTreeMap::new();
    for f in &pol.pack.duty.report.fields {
        let raw = field(&pairs, &format!("f_{}", f.key));
        input.values.insert(f.key.clone(), raw.clone());
        let v = raw.trim();
        if v.is_empty() {
            continue;
        }
        let value = match f.kind {
            FieldKind::Text => Value::String(raw.clone()),
            FieldKind::Bool => Value::Bool(v == "true"),
            FieldKind::Number => match v.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    input.errors.insert(
                        f.key.clone(),
                        if zh {
                            "须为非负整数".into()
                        } else {
                            "must be a whole number".into()
                        },
                    );
                    continue;
                }
            },
        };
        fields.insert(f.key.clone(), value);
    }
    if input.errors.is_empty() {
        let req = ReportRequest {
            assignment_id: input.assignment_id,
            fields,
        };
        match duty::file_report(&st.platform, &u.p, req).await {
            Ok(_) => {
                return Redirect::to(&format!(
                    "/duty?filed={}#report-{}",
                    input.assignment_id, input.assignment_id
                ))
                .into_response()
            }
            Err(ServiceError::Forbidden(perm)) => return super::pages::forbidden(&u, &st, perm),
            Err(e) => {
                let status = match &e {
                    ServiceError::Conflict { .. } => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let msg = e.localized(u.t.lang());
                match e.field().and_then(|f| f.strip_prefix("fields.")) {
                    Some(k) => {
                        input.errors.insert(k.to_string(), msg);
                    }
                    None => input.message = Some(msg),
                }
                return duty_page(&st, &u, status, None, Some(input), HandoverInput::default())
                    .await;
            }
        }
    }
    duty_page(
        &st,
        &u,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        Some(input),
        HandoverInput::default(),
    )
    .await
}

/// Adds a hand-over note to the next shift from one of the user's duties today.
pub async fn add_handover(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let mut input = HandoverInput {
        duty: field(&pairs, "duty"),
        note: field(&pairs, "note"),
        ..Default::default()
    };
    let parts: Vec<&str> = input.duty.split('|').collect();
    let r = match parts.as_slice() {
        [date, slot, shift] => {
            let req = HandoverRequest {
                date: date.to_string(),
                slot: slot.to_string(),
                shift: shift.to_string(),
                note: input.note.clone(),
            };
            duty::add_handover(&st.platform, &u.p, req)
                .await
                .map(|_| ())
        }
        _ => Err(ServiceError::invalid_zh(
            "duty",
            "choose one of your duties",
            "请选择你的班次",
        )),
    };
    match r {
        Ok(()) => Redirect::to("/duty?handover=1#handover").into_response(),
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::UnknownReference { .. })) => {
            input.error_field = match e.field() {
                Some("note") => "note".into(),
                _ => "duty".into(),
            };
            input.error = Some(e.localized(u.t.lang()));
            duty_page(&st, &u, StatusCode::UNPROCESSABLE_ENTITY, None, None, input).await
        }
        Err(e) => service_error_page(&u, &st, e),
    }
}

/// Query of the comp-time page.
#[derive(Debug, Deserialize, Default)]
pub struct MonthForm {
    #[serde(default)]
    pub month: String,
}

#[derive(Template)]
#[template(path = "duty_comp.html")]
struct CompPage {
    l: Layout,
    month: String,
    error: Option<String>,
    /// (person, duties, hours, lines "date shift (hours)")
    rows: Vec<(String, usize, String, String)>,
    total: String,
    rule: String,
}

/// /duty/comp-time: everyone's comp time of a month (DUTY-05), with the XLSX export link.
pub async fn comp_time(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(f): Query<MonthForm>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::DutyRead) {
        return r;
    }
    let p = &st.platform;
    let month = if f.month.is_empty() {
        duty::today(p).format("%Y-%m").to_string()
    } else {
        f.month.clone()
    };
    let pol = p.policy.current();
    let d = &pol.pack.duty;
    let shift_name = |k: &str| {
        d.shift(k).map_or(k.to_string(), |s| {
            name_of(&s.name_zh, &s.name_en, &u.t).to_string()
        })
    };
    let (rows, error, total) = match duty::comp_time_all(p, &u.p, &month).await {
        Ok(all) => {
            let total: f64 = all.iter().map(|s| s.total_hours).sum();
            let rows = all
                .into_iter()
                .map(|s| {
                    let detail = s
                        .lines
                        .iter()
                        .map(|l| {
                            format!(
                                "{} {} ({}h)",
                                l.date.format("%m-%d"),
                                shift_name(&l.shift),
                                l.minutes as f64 / 60.0
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    (
                        s.person,
                        s.lines.len(),
                        format!("{}", s.total_hours),
                        detail,
                    )
                })
                .collect();
            (rows, None, format!("{total}"))
        }
        Err(e) => (Vec::new(), Some(e.localized(&u.p.locale)), String::new()),
    };
    let table = |m: &std::collections::BTreeMap<String, f64>| {
        d.shifts
            .iter()
            .filter_map(|s| {
                m.get(&s.key)
                    .map(|h| format!("{} {h}h", name_of(&s.name_zh, &s.name_en, &u.t)))
            })
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let rule = [
        ("working", table(&d.comp_time.working_day)),
        ("nonworking", table(&d.comp_time.non_working_day)),
    ];
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = CompPage {
        l: u.layout(&st, "duty", "duty-comp-title"),
        month,
        error,
        rows,
        total,
        rule: u.t.t2("duty-comp-rule", &rule),
    };
    render(status, &page)
}
