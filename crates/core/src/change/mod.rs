//! Release and cut-over timing rules (CHG-01..CHG-16), the cut-over start conditions (CHG-17) and customer notice deadlines (CNT-01..CNT-05). Pure: the
//! working-day calendar, the policy and the instants are parameters.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use tianshu_workcal::{DeadlineBasis, WorkCalendar};

use crate::dataop::Refusal;
use crate::policy::{ChangePolicy, CutoverRule, DataCaseDef, PrerequisiteDef};

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

/// CHG-17: what the on-site lead records before giving the order to start a cut-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartConditions {
    /// When the kick-off meeting with the contractor was held.
    pub kickoff_at: Option<DateTime<Utc>>,
    /// The on-site lead (username).
    pub lead: String,
    /// The lead is confirmed qualified for this cut-over.
    pub lead_qualified: bool,
    /// When the lead arrived on site.
    pub arrived_at: Option<DateTime<Utc>>,
    /// The equipment was checked against the checklist.
    pub equipment_checked: bool,
    /// Host-side staff present.
    pub host_present: bool,
    /// Cooperating departments present.
    pub departments_present: bool,
    /// Contractor present.
    pub contractor_present: bool,
}

/// CHG-17: the start order is tied to the approved cut-over window `[starts_at, ends_at)`: given at `now`, it is
/// refused before `starts_at` minus the pack's `start_early_minutes` (field `starts_at`) and at or after `ends_at`
/// (field `ends_at`).
pub fn check_start_window(
    rule: &CutoverRule,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let r = rule.start_rule.as_str();
    let early = i64::from(rule.start_early_minutes);
    let earliest = starts_at - chrono::Duration::minutes(early);
    if now < earliest {
        let ahead = (starts_at - now).num_minutes();
        return Err(refusal(
            r,
            "starts_at",
            format!(
                "the order to start is given within the approved window: {ahead} minutes before its start, at most {early} allowed"
            ),
            format!("须在批准的割接窗口内下令开始实施：距窗口开始还有 {ahead} 分钟，最多提前 {early} 分钟"),
        ));
    }
    if now >= ends_at {
        let late = (now - ends_at).num_minutes();
        return Err(refusal(
            r,
            "ends_at",
            format!(
                "the approved window ended {late} minutes ago; the order to start is given within the window — apply for a new cut-over"
            ),
            format!("批准的割接窗口已于 {late} 分钟前结束，不能再下令开始实施，请重新申请割接"),
        ));
    }
    Ok(())
}

/// CHG-17: refuses the start order of a cut-over planned for `planned_start`, given at `now`, unless every start
/// condition holds; the first one missing or late is named by its field.
pub fn check_start_conditions(
    rule: &CutoverRule,
    c: &StartConditions,
    planned_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let r = rule.start_rule.as_str();
    let n = i64::from(rule.arrive_before_minutes);
    match c.kickoff_at {
        None => {
            return Err(refusal(
                r,
                "kickoff_at",
                "the kick-off meeting with the contractor is held before the start; give its time"
                    .into(),
                "开始前须与施工单位召开启动会，请填写召开时间".into(),
            ))
        }
        Some(k) if k > now => {
            return Err(refusal(
                r,
                "kickoff_at",
                "the kick-off meeting is recorded once it has been held; that time is still ahead"
                    .into(),
                "启动会须召开后登记，所填时间尚未到来".into(),
            ))
        }
        Some(_) => {}
    }
    if c.lead.trim().is_empty() {
        return Err(refusal(
            r,
            "lead",
            "name the on-site lead who gives the order to start".into(),
            "须指定下令开始实施的割接现场负责人".into(),
        ));
    }
    if !c.lead_qualified {
        return Err(refusal(
            r,
            "lead_qualified",
            format!(
                "the on-site lead {} must be confirmed qualified",
                c.lead.trim()
            ),
            format!("割接现场负责人 {} 须确认具备相应资质", c.lead.trim()),
        ));
    }
    let Some(arrived) = c.arrived_at else {
        return Err(refusal(
            r,
            "arrived_at",
            "give the time the on-site lead arrived".into(),
            "请填写现场负责人到达现场的时间".into(),
        ));
    };
    if arrived > now {
        return Err(refusal(
            r,
            "arrived_at",
            "the arrival is recorded once the lead is on site; that time is still ahead".into(),
            "到达时间尚未到来，须到场后登记".into(),
        ));
    }
    let ahead = (planned_start - arrived).num_minutes();
    if ahead < n {
        let en = if ahead >= 0 {
            format!("the on-site lead arrived {ahead} minutes before the planned start, at least {n} required")
        } else {
            format!(
                "the on-site lead arrived {} minutes after the planned start, at least {n} minutes before it required",
                -ahead
            )
        };
        return Err(refusal(
            r,
            "arrived_at",
            en,
            format!("现场负责人须提前 {n} 分钟到达现场，实际提前 {ahead} 分钟"),
        ));
    }
    if !c.equipment_checked {
        return Err(refusal(
            r,
            "equipment_checked",
            "check the equipment against the checklist before the start".into(),
            "开始前须按检查表检查设备".into(),
        ));
    }
    for (present, field, en, zh) in [
        (
            c.host_present,
            "host_present",
            "the host staff",
            "主办单位人员",
        ),
        (
            c.departments_present,
            "departments_present",
            "the cooperating departments",
            "配合部门",
        ),
        (
            c.contractor_present,
            "contractor_present",
            "the contractor",
            "施工单位",
        ),
    ] {
        if !present {
            return Err(refusal(
                r,
                field,
                format!("execution starts only when {en} are present"),
                format!("{zh}到齐后才能开始实施"),
            ));
        }
    }
    Ok(())
}

/// CHG-20: the data case a cut-over names, checked against its kind: a `data` cut-over names one of the pack's
/// `[[cutover.data_case]]` (whose entry gives the responsible party); another kind names none.
pub fn data_case<'a>(
    pol: &'a ChangePolicy,
    kind: &str,
    case: Option<&str>,
) -> Result<Option<&'a DataCaseDef>, Refusal> {
    let case = case.map(str::trim).filter(|c| !c.is_empty());
    let keys = || {
        pol.cutover
            .data_cases
            .iter()
            .map(|d| d.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (kind, case) {
        ("data", None) if !pol.cutover.data_cases.is_empty() => Err(refusal(
            "CHG-20",
            "data_case",
            format!(
                "a data cut-over names its case, which decides who is responsible: {}",
                keys()
            ),
            format!("数据割接须注明类别（决定责任方）：{}", keys()),
        )),
        ("data", None) => Ok(None),
        ("data", Some(c)) => match pol.data_case(c) {
            Some(d) => Ok(Some(d)),
            None => Err(refusal(
                "CHG-20",
                "data_case",
                format!("'{c}' is not a data case of change.toml: {}", keys()),
                format!("“{c}”不是已定义的数据割接类别：{}", keys()),
            )),
        },
        (_, Some(_)) => Err(refusal(
            "CHG-20",
            "data_case",
            format!("only a data cut-over names a data case (this one is {kind})"),
            format!("只有数据割接需注明数据割接类别（本次为 {kind}）"),
        )),
        (_, None) => Ok(None),
    }
}

/// CHG-20: a case whose responsible party writes a rectification report (a province-wide fault: the central
/// operations team) is completed only once the report is attached.
pub fn check_rectification(def: &DataCaseDef, report: Option<&str>) -> Result<(), Refusal> {
    if !def.rectification_report || report.is_some_and(|r| !r.trim().is_empty()) {
        return Ok(());
    }
    Err(refusal(
        &def.rule,
        "rectification_report",
        format!(
            "a {} is completed only once the {} attached its rectification report",
            def.name_en.to_lowercase(),
            def.responsible_en.to_lowercase()
        ),
        format!(
            "{}须由{}提交整改报告后才能完成",
            def.name_zh, def.responsible_zh
        ),
    ))
}

/// CNT-06: a single-route or fault-prone section of an assurance plan with its contingency and improvement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeakSection {
    pub section: String,
    #[serde(default)]
    pub contingency: String,
    #[serde(default)]
    pub improvement: String,
}

/// CNT-06: what a key-communications assurance (重保) plan states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssurancePlan<'a> {
    pub name: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub scope_systems: &'a [String],
    pub scope_regions: &'a [String],
    pub measures: &'a str,
    pub contingency: &'a str,
    pub escalation: &'a str,
    pub contacts: &'a str,
    pub weak_sections: &'a [WeakSection],
}

/// CNT-06: refuses a plan missing any part the rule requires, naming the field; the period is a real interval of
/// at most the pack's `max_period_days`.
pub fn check_assurance_plan(pol: &ChangePolicy, p: &AssurancePlan<'_>) -> Result<(), Refusal> {
    let r = pol.assurance.rule.as_str();
    for (field, v, en, zh) in [
        (
            "name",
            p.name,
            "the holiday or event assured",
            "重保的节日或活动名称",
        ),
        ("measures", p.measures, "the assurance measures", "保障措施"),
        (
            "contingency",
            p.contingency,
            "the contingency plan",
            "应急预案",
        ),
        (
            "escalation",
            p.escalation,
            "fault handling and escalation",
            "故障处理及上报流程",
        ),
        (
            "contacts",
            p.contacts,
            "the team contacts",
            "保障团队联系方式",
        ),
    ] {
        if v.trim().is_empty() {
            return Err(refusal(
                r,
                field,
                format!("the assurance plan states {en}"),
                format!("重保方案须写明{zh}"),
            ));
        }
    }
    if p.ends_at <= p.starts_at {
        return Err(refusal(
            r,
            "ends_at",
            "the assurance period ends after it starts".into(),
            "重保结束时间须晚于开始时间".into(),
        ));
    }
    let max = i64::from(pol.assurance.max_period_days);
    if (p.ends_at - p.starts_at).num_seconds() > max * 86_400 {
        return Err(refusal(
            r,
            "ends_at",
            format!("an assurance period lasts at most {max} days"),
            format!("重保期最长 {max} 天"),
        ));
    }
    if p.scope_systems.is_empty() && p.scope_regions.is_empty() {
        return Err(refusal(
            r,
            "scope_systems",
            "the plan's scope names at least one system or region".into(),
            "重保范围须至少包括一个系统或地区".into(),
        ));
    }
    if p.weak_sections.is_empty() {
        return Err(refusal(
            r,
            "weak_sections",
            "name the single-route and fault-prone sections with their contingency and improvement"
                .into(),
            "须列出单路由及故障多发段落及其应急和整改措施".into(),
        ));
    }
    for (i, w) in p.weak_sections.iter().enumerate() {
        for (f, v, en, zh) in [
            ("section", &w.section, "the section", "段落"),
            ("contingency", &w.contingency, "its contingency", "应急措施"),
            ("improvement", &w.improvement, "its improvement", "整改措施"),
        ] {
            if v.trim().is_empty() {
                return Err(refusal(
                    r,
                    &format!("weak_sections[{i}].{f}"),
                    format!("a single-route or fault-prone section states {en}"),
                    format!("单路由或故障多发段落须写明{zh}"),
                ));
            }
        }
    }
    Ok(())
}

/// CNT-06: a plan is activated while its period has not ended, from a draft.
pub fn check_assurance_activate(
    pol: &ChangePolicy,
    state: &str,
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let r = pol.assurance.rule.as_str();
    if state != "draft" {
        return Err(refusal(
            r,
            "state",
            format!("only a draft plan is activated (state {state})"),
            format!("只有草稿状态的重保方案可以启用（当前 {state}）"),
        ));
    }
    if now >= ends_at {
        return Err(refusal(
            r,
            "ends_at",
            "the assurance period is over; a plan is activated before its end".into(),
            "重保期已结束，不能再启用方案".into(),
        ));
    }
    Ok(())
}

/// CNT-06: a plan is archived after its period, from the active state.
pub fn check_assurance_archive(
    pol: &ChangePolicy,
    state: &str,
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let r = pol.assurance.rule.as_str();
    if state != "active" {
        return Err(refusal(
            r,
            "state",
            format!("only an active plan is archived (state {state})"),
            format!("只有已启用的重保方案可以归档（当前 {state}）"),
        ));
    }
    if now < ends_at {
        return Err(refusal(
            r,
            "ends_at",
            "the plan is archived after the assurance period; it has not ended yet".into(),
            "重保方案须在重保期结束后归档，重保期尚未结束".into(),
        ));
    }
    Ok(())
}

/// CNT-06: whether a fault on `system` in the region `region` reported at `at` falls under an active plan.
pub fn assurance_covers(
    scope_systems: &[String],
    scope_regions: &[String],
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    system: Option<&str>,
    region: Option<&str>,
    at: DateTime<Utc>,
) -> bool {
    if at < starts_at || at >= ends_at {
        return false;
    }
    system.is_some_and(|s| scope_systems.iter().any(|x| x == s))
        || region.is_some_and(|r| scope_regions.iter().any(|x| x == r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn rule() -> CutoverRule {
        CutoverRule {
            rule: "CHG-16".into(),
            apply_before: DeadlineBasis::WorkingDaysBefore { days: 3 },
            report_rule: "CHG-11".into(),
            major_before: DeadlineBasis::CalendarDaysBefore { days: 7 },
            minor_before: DeadlineBasis::CalendarDaysBefore { days: 1 },
            start_rule: "CHG-17".into(),
            arrive_before_minutes: 15,
            start_early_minutes: 30,
            data_cases: Vec::new(),
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 9, 16, 0, 0).unwrap()
    }

    fn all_met() -> StartConditions {
        StartConditions {
            kickoff_at: Some(start() - Duration::hours(2)),
            lead: "netops".into(),
            lead_qualified: true,
            arrived_at: Some(start() - Duration::minutes(15)),
            equipment_checked: true,
            host_present: true,
            departments_present: true,
            contractor_present: true,
        }
    }

    fn refused(c: &StartConditions, now: DateTime<Utc>) -> (String, String, String) {
        let e = check_start_conditions(&rule(), c, start(), now).unwrap_err();
        (e.rule, e.field, e.message)
    }

    #[test]
    fn all_conditions_met_fifteen_minutes_early_is_the_order_to_start_chg_17() {
        assert!(check_start_conditions(&rule(), &all_met(), start(), start()).is_ok());
    }

    #[test]
    fn arrival_ten_minutes_before_the_start_is_late_chg_17() {
        let mut c = all_met();
        c.arrived_at = Some(start() - Duration::minutes(10));
        let (rule, field, msg) = refused(&c, start());
        assert_eq!((rule.as_str(), field.as_str()), ("CHG-17", "arrived_at"));
        assert_eq!(
            msg,
            "CHG-17: the on-site lead arrived 10 minutes before the planned start, at least 15 required"
        );
        c.arrived_at = Some(start() + Duration::minutes(5));
        let (_, field, msg) = refused(&c, start() + Duration::minutes(6));
        assert_eq!(field, "arrived_at");
        assert!(msg.contains("5 minutes after"), "{msg}");
    }

    type Spoil = fn(&mut StartConditions);

    #[test]
    fn each_missing_condition_is_named_by_its_field_chg_17() {
        let now = start();
        let cases: [(&str, Spoil); 9] = [
            ("kickoff_at", |c| c.kickoff_at = None),
            ("lead", |c| c.lead = " ".into()),
            ("lead_qualified", |c| c.lead_qualified = false),
            ("arrived_at", |c| c.arrived_at = None),
            ("equipment_checked", |c| c.equipment_checked = false),
            ("host_present", |c| c.host_present = false),
            ("departments_present", |c| c.departments_present = false),
            ("contractor_present", |c| c.contractor_present = false),
            ("kickoff_at", |c| {
                c.kickoff_at = Some(start() + Duration::minutes(1))
            }),
        ];
        for (want, spoil) in cases {
            let mut c = all_met();
            spoil(&mut c);
            let (rule, field, msg) = refused(&c, now);
            assert_eq!((rule.as_str(), field.as_str()), ("CHG-17", want), "{msg}");
            assert!(msg.starts_with("CHG-17: "), "{msg}");
        }
    }

    #[test]
    fn an_arrival_still_ahead_is_refused_chg_17() {
        let now = start() - Duration::hours(1);
        let mut c = all_met();
        c.kickoff_at = Some(now - Duration::hours(1));
        c.arrived_at = Some(now + Duration::minutes(5));
        assert_eq!(refused(&c, now).1, "arrived_at");
    }

    #[test]
    fn the_order_is_given_only_inside_the_approved_window_chg_17() {
        let end = start() + Duration::hours(4);
        let ok = |now| check_start_window(&rule(), start(), end, now);
        // 30 minutes early (the pack's tolerance) up to the last minute of the window.
        assert!(ok(start() - Duration::minutes(30)).is_ok());
        assert!(ok(start()).is_ok());
        assert!(ok(end - Duration::minutes(1)).is_ok());
        let e = ok(start() - Duration::minutes(31)).unwrap_err();
        assert_eq!((e.rule.as_str(), e.field.as_str()), ("CHG-17", "starts_at"));
        assert_eq!(
            e.message,
            "CHG-17: the order to start is given within the approved window: 31 minutes before its start, at most 30 allowed"
        );
        let e = ok(start() - Duration::days(3)).unwrap_err();
        assert_eq!(e.field, "starts_at");
        let e = ok(end).unwrap_err();
        assert_eq!((e.rule.as_str(), e.field.as_str()), ("CHG-17", "ends_at"));
        let e = ok(end + Duration::hours(2)).unwrap_err();
        assert!(e.message.contains("ended 120 minutes ago"), "{}", e.message);
        // No tolerance: not a minute before the start.
        let mut strict = rule();
        strict.start_early_minutes = 0;
        assert!(check_start_window(&strict, start(), end, start()).is_ok());
        let e =
            check_start_window(&strict, start(), end, start() - Duration::minutes(1)).unwrap_err();
        assert_eq!(e.field, "starts_at");
    }
}
