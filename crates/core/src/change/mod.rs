//! Release and cut-over timing rules (CHG-01..CHG-16) and customer notice deadlines (CNT-01..CNT-05). Pure: the
//! working-day calendar, the policy and the instants are parameters.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use tianshu_workcal::{DeadlineBasis, WorkCalendar};

use crate::dataop::Refusal;
use crate::policy::{ChangePolicy, PrerequisiteDef};

fn refusal(rule: &str, field: &str, en: String, zh: String) -> Refusal {
    Refusal {
        rule: rule.to_string(),
        field: field.to_string(),
        message: format!("{rule}: {en}"),
        zh: format!("{rule}：{zh}"),
    }
}

/// One gate of a release with its due instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDue {
    pub key: String,
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    /// End of the working day the gate falls due (C-3).
    pub due: DateTime<Utc>,
}

/// CHG-03/04/08: the gates of an upgrade on `date`, counted back on the calendar.
pub fn gates(pol: &ChangePolicy, cal: &WorkCalendar, date: NaiveDate) -> Vec<GateDue> {
    pol.releases
        .gates
        .iter()
        .filter_map(|g| {
            Some(GateDue {
                key: g.key.clone(),
                rule: g.rule.clone(),
                name_zh: g.name_zh.clone(),
                name_en: g.name_en.clone(),
                due: cal.deadline_before(&g.before, date).ok()?,
            })
        })
        .collect()
}

/// Refuses a release whose gates already fell due before `now` (a gate date in the past).
pub fn check_gates_ahead(
    pol: &ChangePolicy,
    cal: &WorkCalendar,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<GateDue>, Refusal> {
    let g = gates(pol, cal, date);
    if let Some(past) = g.iter().find(|g| g.due < now) {
        let day = past.due.with_timezone(&cal.time_zone()).date_naive();
        return Err(refusal(
            &past.rule,
            "date",
            format!(
                "the '{}' gate of an upgrade on {date} fell due on {day}, which is already past",
                past.name_en
            ),
            format!("{date} 升级的“{}”节点应于 {day} 完成，已过期", past.name_zh),
        ));
    }
    Ok(g)
}

/// CHG-09: the start instant of an upgrade on `date` (the evening of that day, local).
pub fn upgrade_start(
    pol: &ChangePolicy,
    cal: &WorkCalendar,
    date: NaiveDate,
) -> Option<DateTime<Utc>> {
    cal.time_zone()
        .from_local_datetime(&date.and_time(pol.start_time()))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// CHG-09: refuses a start other than the configured local start time.
pub fn check_start(pol: &ChangePolicy, local_start: NaiveTime) -> Result<(), Refusal> {
    if local_start == pol.start_time() {
        return Ok(());
    }
    Err(refusal(
        &pol.releases.start_rule,
        "start",
        format!(
            "upgrades start at {}, not {}",
            pol.releases.start_time,
            local_start.format("%H:%M")
        ),
        format!(
            "升级开始时间为 {}，不是 {}",
            pol.releases.start_time,
            local_start.format("%H:%M")
        ),
    ))
}

/// CHG-10: the declared outage `[from, to)` (local, one day) must lie inside the window.
pub fn check_downtime(
    pol: &ChangePolicy,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> Result<(), Refusal> {
    let (ws, we) = pol.downtime_window();
    let ok = to > from && from.date() == to.date() && from.time() >= ws && to.time() <= we;
    if ok {
        return Ok(());
    }
    Err(refusal(
        &pol.downtime.rule,
        "downtime",
        format!(
            "the outage {}–{} lies outside the downtime window {}–{}",
            from.format("%H:%M"),
            to.format("%H:%M"),
            ws.format("%H:%M"),
            we.format("%H:%M")
        ),
        format!(
            "停机时段 {}–{} 不在停机窗口 {}–{} 内",
            from.format("%H:%M"),
            to.format("%H:%M"),
            ws.format("%H:%M"),
            we.format("%H:%M")
        ),
    ))
}

/// What kind of release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseKind {
    Routine,
    Emergency,
}

/// CHG-01 / CHG-02: refuses one release too many in the month unless an override (with a reason) is recorded.
pub fn check_quota(
    pol: &ChangePolicy,
    kind: ReleaseKind,
    already_in_month: u32,
    override_reason: Option<&str>,
) -> Result<(), Refusal> {
    let r = &pol.releases;
    let (max, rule, what, zh) = match kind {
        ReleaseKind::Routine => (r.routine_per_month, &r.rule, "routine releases", "例行版本"),
        ReleaseKind::Emergency => (
            r.emergency_per_month,
            &r.emergency_rule,
            "emergency releases",
            "紧急需求",
        ),
    };
    if already_in_month < max {
        return Ok(());
    }
    if kind == ReleaseKind::Emergency && override_reason.is_some_and(|s| !s.trim().is_empty()) {
        return Ok(());
    }
    let extra = if kind == ReleaseKind::Emergency {
        format!(
            " unless the {} records an override with a reason",
            r.override_roles.join(" or ")
        )
    } else {
        String::new()
    };
    Err(refusal(
        rule,
        "kind",
        format!(
            "at most {max} {what} per month; this would be number {}{extra}",
            already_in_month + 1
        ),
        format!(
            "每月{zh}不超过 {max} 个，本次为第 {} 个",
            already_in_month + 1
        ),
    ))
}

/// Working days `d` with `applied ≤ d < date`: how many working days ahead something was done.
pub fn working_days_ahead(cal: &WorkCalendar, applied: NaiveDate, date: NaiveDate) -> u32 {
    let mut n = 0;
    let mut d = applied;
    while d < date {
        if cal.is_working_day(d) {
            n += 1;
        }
        match d.succ_opt() {
            Some(x) => d = x,
            None => break,
        }
    }
    n
}

fn days_of(b: &DeadlineBasis) -> u32 {
    match b {
        DeadlineBasis::WorkingDaysBefore { days } | DeadlineBasis::CalendarDaysBefore { days } => {
            *days
        }
        _ => 0,
    }
}

/// CHG-16 and CHG-11: a cut-over on `date` applied at `applied_at` is early enough.
pub fn check_cutover_lead(
    pol: &ChangePolicy,
    cal: &WorkCalendar,
    date: NaiveDate,
    major: bool,
    applied_at: DateTime<Utc>,
) -> Result<(), Refusal> {
    let c = &pol.cutover;
    let applied = applied_at.with_timezone(&cal.time_zone()).date_naive();
    if let Ok(due) = cal.deadline_before(&c.apply_before, date) {
        if applied_at > due {
            let n = working_days_ahead(cal, applied, date);
            let need = days_of(&c.apply_before);
            return Err(refusal(
                &c.rule,
                "date",
                format!("applied {n} working days ahead, {need} required"),
                format!("提前 {n} 个工作日申请，须至少提前 {need} 个工作日"),
            ));
        }
    }
    let basis = if major {
        &c.major_before
    } else {
        &c.minor_before
    };
    if let Ok(due) = cal.deadline_before(basis, date) {
        if applied_at > due {
            let need = days_of(basis);
            let what = if major {
                "a major-version cut-over"
            } else {
                "a downtime"
            };
            return Err(refusal(
                &c.report_rule,
                "date",
                format!(
                    "{what} is reported at least {need} days ahead (by {})",
                    due.with_timezone(&cal.time_zone()).date_naive()
                ),
                format!("须至少提前 {need} 天报备"),
            ));
        }
    }
    Ok(())
}

/// A customer notice due for one tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeDue {
    pub tier: String,
    pub rule: String,
    /// `customer` or `account_manager`.
    pub notify: String,
    pub due: DateTime<Utc>,
}

/// CNT-01..CNT-05: when each tier must be told of work starting at `start`; CNT-04 for an emergency.
pub fn notice_due(
    pol: &ChangePolicy,
    cal: &WorkCalendar,
    tier: &str,
    start: DateTime<Utc>,
    emergency: bool,
) -> Option<NoticeDue> {
    if emergency {
        let e = &pol.emergency_notice;
        let secs = match e.before {
            DeadlineBasis::WallClock { seconds } => seconds,
            _ => return None,
        };
        return Some(NoticeDue {
            tier: tier.to_string(),
            rule: e.rule.clone(),
            notify: e.notify.clone(),
            due: start - chrono::Duration::seconds(secs),
        });
    }
    let n = pol.notice(tier)?;
    let date = start.with_timezone(&cal.time_zone()).date_naive();
    Some(NoticeDue {
        tier: tier.to_string(),
        rule: n.rule.clone(),
        notify: n.notify.clone(),
        due: cal.deadline_before(&n.before, date).ok()?,
    })
}

/// REQ-01: the average analysis time of a week's intake and whether it breaches the limit.
pub fn analysis_average(pol: &ChangePolicy, days: &[u32]) -> Option<(f64, bool)> {
    if days.is_empty() {
        return None;
    }
    let avg = f64::from(days.iter().sum::<u32>()) / days.len() as f64;
    Some((avg, avg > pol.requirements.average_limit_wd))
}

/// CHG-07: the branches that verify a release when the durable rotation cursor stands at `start`, and each
/// scenario with its branch (spread round-robin over them). Pure: the cursor is read and advanced by the caller.
pub fn verification_assignment(
    pol: &ChangePolicy,
    start: usize,
) -> (Vec<String>, Vec<(String, String)>) {
    let v = &pol.verification;
    let len = v.branches.len();
    if len == 0 {
        return (Vec::new(), Vec::new());
    }
    let n = (v.branches_per_release as usize).clamp(1, len);
    let chosen: Vec<String> = (0..n)
        .map(|k| v.branches[(start + k) % len].clone())
        .collect();
    let items = v
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key.clone(), chosen[i % n].clone()))
        .collect();
    (chosen, items)
}

/// CHG-07: the share of the scenario catalogue verified after each release, percent (one decimal).
pub fn verification_coverage(pol: &ChangePolicy) -> f64 {
    let v = &pol.verification;
    if v.catalogue_size == 0 {
        return 0.0;
    }
    (v.scenarios.len() as f64 * 1000.0 / f64::from(v.catalogue_size)).round() / 10.0
}

/// CHG-05 / CHG-12: the go decision needs every `[[releases.prerequisite]]` of the pack recorded on the release
/// (`recorded`: key and, for a training, when it was held), a training held before the upgrade start. The first
/// one missing refuses the decision naming its rule.
pub fn check_prerequisites(
    pol: &ChangePolicy,
    recorded: &[(String, Option<DateTime<Utc>>)],
    starts_at: DateTime<Utc>,
) -> Result<(), Refusal> {
    for d in &pol.releases.prerequisites {
        match recorded.iter().find(|(k, _)| k == &d.key) {
            None => {
                return Err(refusal(
                    &d.rule,
                    "decision",
                    format!(
                        "no go decision before the {} ({}) is recorded on the release",
                        d.name_en, d.key
                    ),
                    format!("须先登记“{}”才能作出上线决策", d.name_zh),
                ))
            }
            Some((_, held)) if d.kind == "training" && !held.is_some_and(|h| h < starts_at) => {
                return Err(refusal(
                    &d.rule,
                    "decision",
                    format!(
                        "the {} was not held before the upgrade start: no go-live before training",
                        d.name_en
                    ),
                    format!("“{}”未在升级开始前完成，杜绝先上线后培训", d.name_zh),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// CHG-12: a training is recorded once it has been held (`held_at` not after `now`) and only if it was held
/// before the upgrade starts.
pub fn check_training_time(
    def: &PrerequisiteDef,
    held_at: DateTime<Utc>,
    now: DateTime<Utc>,
    starts_at: DateTime<Utc>,
) -> Result<(), Refusal> {
    if held_at > now {
        return Err(refusal(
            &def.rule,
            "held_at",
            format!(
                "the {} is recorded once it has been held; that time is still ahead",
                def.name_en
            ),
            format!("“{}”须在举办后登记，所填时间尚未到来", def.name_zh),
        ));
    }
    if held_at >= starts_at {
        return Err(refusal(
            &def.rule,
            "held_at",
            format!(
                "the {} must take place before the upgrade starts: no go-live before training",
                def.name_en
            ),
            format!("“{}”须在升级开始前完成，杜绝先上线后培训", def.name_zh),
        ));
    }
    Ok(())
}
