//! Duty pages: who is on duty now, today and this week (DUTY-02..04), and the monthly comp-time statement
//! (DUTY-05) with its XLSX export.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::duty::{self, OnDutyQuery};

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

#[derive(Template)]
#[template(path = "duty.html")]
struct DutyPage {
    l: Layout,
    now_label: String,
    /// (name, person, slot, shift, until)
    on_duty: Vec<(String, String, String, String, String)>,
    shifts: Vec<String>,
    week: Vec<DayRow>,
    me: String,
    error: Option<String>,
}

fn name_of<'a>(zh: &'a str, en: &'a str, t: &super::Tr) -> &'a str {
    if t.lang().starts_with("en") {
        en
    } else {
        zh
    }
}

/// /duty: on duty now, and this week's roster by day and shift.
pub async fn page(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = u.require(&st, Permission::DutyRead) {
        return r;
    }
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
    let page = DutyPage {
        l: u.layout(&st, "duty", "duty-title"),
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
    render(StatusCode::OK, &page)
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
