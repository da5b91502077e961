//! The weekly and monthly report pack (issue 8, RPT-01..RPT-08): frequent faults (RPT-03), major-fault summary
//! (RPT-04 / INC-12), program-defect summary (BUG records), SLA compliance (deadline clocks met or breached by
//! rule), duty statistics, reconciliation consistency (no stored runs yet → "no runs") and, monthly, the KPI
//! scorecard with its ranking. One function builds the pack; the console page, the API and the XLSX download
//! all read it.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tianshu_core::incident::FrequentFault;
use tianshu_core::Permission;
use tianshu_store::kpi::{BugSummaryRow, MajorFaultRow};

use crate::authz::Principal;
use crate::kpi::{self, Scorecards};
use crate::{Platform, ServiceError, ServiceResult};

/// Weekly or monthly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackKind {
    Weekly,
    Monthly,
}

impl PackKind {
    /// Parses `weekly` or `monthly`.
    pub fn parse(s: &str) -> ServiceResult<Self> {
        match s.trim() {
            "weekly" => Ok(PackKind::Weekly),
            "monthly" => Ok(PackKind::Monthly),
            other => Err(ServiceError::invalid(
                "kind",
                format!("'{other}' is not weekly or monthly"),
            )),
        }
    }

    /// `weekly` / `monthly`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackKind::Weekly => "weekly",
            PackKind::Monthly => "monthly",
        }
    }
}

/// Deadline clocks of one rule that ended in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaLine {
    pub subject_kind: String,
    pub rule: String,
    pub met: i64,
    pub breached: i64,
    /// met / (met + breached) in percent, one decimal.
    pub rate: Option<f64>,
}

/// Duty of one slot and shift in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DutyLine {
    pub slot: String,
    pub shift: String,
    pub assignments: i64,
    /// DUTY-06 daily reports filed for those assignments.
    pub reports: i64,
}

/// The report pack of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportPack {
    pub kind: PackKind,
    /// `2026-11` or `2026-W48`.
    pub period: String,
    /// First local day and the day after the last (`YYYY-MM-DD`).
    pub start: String,
    pub end: String,
    /// RPT-01..03 (union of both sets, which rules fired).
    pub frequent: Vec<FrequentFault>,
    /// RPT-04 / INC-12: FL1/FL2 tickets opened in the period.
    pub major: Vec<MajorFaultRow>,
    /// BUG records raised in the period.
    pub bugs: Vec<BugSummaryRow>,
    /// Deadline clocks by rule.
    pub sla: Vec<SlaLine>,
    /// Duty by slot and shift.
    pub duty: Vec<DutyLine>,
    /// Reconciliation runs: none are stored yet, so always empty ("no runs").
    pub recon_runs: Vec<String>,
    /// Monthly: the first KPI set's branch scorecards and ranking (absent without `kpi.read`).
    pub kpi: Option<Scorecards>,
}

/// The local days `[start, end)` of a `YYYY-MM` month or an ISO week `YYYY-Www`.
pub fn period_days(kind: PackKind, period: &str) -> ServiceResult<(String, NaiveDate, NaiveDate)> {
    let p = period.trim();
    match kind {
        PackKind::Monthly => {
            let bad =
                || ServiceError::invalid("period", format!("'{p}' is not a month such as 2026-11"));
            if p.len() != 7 {
                return Err(bad());
            }
            let first =
                NaiveDate::parse_from_str(&format!("{p}-01"), "%Y-%m-%d").map_err(|_| bad())?;
            if !(2000..=2100).contains(&first.year()) {
                return Err(bad());
            }
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .ok_or_else(bad)?;
            Ok((first.format("%Y-%m").to_string(), first, next))
        }
        PackKind::Weekly => {
            let bad = || {
                ServiceError::invalid(
                    "period",
                    format!("'{p}' is not an ISO week such as 2026-W48"),
                )
            };
            let (y, w) = p.split_once("-W").ok_or_else(bad)?;
            let y: i32 = y.parse().map_err(|_| bad())?;
            let w: u32 = w.parse().map_err(|_| bad())?;
            if !(2000..=2100).contains(&y) {
                return Err(bad());
            }
            let first = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon).ok_or_else(bad)?;
            Ok((
                format!("{y}-W{w:02}"),
                first,
                first + chrono::Duration::days(7),
            ))
        }
    }
}

/// The current period of `kind` (this month / this ISO week) in the centre's zone.
pub fn current_period(p: &Platform, kind: PackKind) -> String {
    let today = p.clock.now().with_timezone(&p.time_zone()).date_naive();
    match kind {
        PackKind::Monthly => today.format("%Y-%m").to_string(),
        PackKind::Weekly => {
            let w = today.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
    }
}

/// Builds the pack of `kind` for `period` (default: the current one).
pub async fn build(
    p: &Platform,
    actor: &Principal,
    kind: PackKind,
    period: Option<&str>,
) -> ServiceResult<ReportPack> {
    actor.require(Permission::ReportRead)?;
    let period = period
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map_or_else(|| current_period(p, kind), str::to_string);
    let (key, first, next) = period_days(kind, &period)?;
    let tz = p.time_zone();
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|n| tz.from_local_datetime(&n).earliest())
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
            .ok_or_else(|| ServiceError::invalid("period", "no such local day"))
    };
    let (from, to) = (at(first)?, at(next)?);
    let frequent = if actor.can(Permission::IncidentRead) {
        crate::incidents::frequent_faults(p, actor, kind == PackKind::Monthly, next).await?
    } else {
        Vec::new()
    };
    let (major, bugs, sla) = if actor.can(Permission::IncidentRead) {
        let rows = p.store.clock_outcomes_between(from, to).await?;
        let mut sla: Vec<SlaLine> = Vec::new();
        for (kind, rule, state, n) in rows {
            let i = match sla
                .iter()
                .position(|l| l.subject_kind == kind && l.rule == rule)
            {
                Some(i) => i,
                None => {
                    sla.push(SlaLine {
                        subject_kind: kind,
                        rule,
                        met: 0,
                        breached: 0,
                        rate: None,
                    });
                    sla.len() - 1
                }
            };
            let line = &mut sla[i];
            if state == "met" {
                line.met += n;
            } else {
                line.breached += n;
            }
        }
        for l in &mut sla {
            let all = l.met + l.breached;
            l.rate = (all > 0).then(|| (l.met as f64 * 1000.0 / all as f64).round() / 10.0);
        }
        (
            visible_major(actor, p.store.major_faults_between(from, to).await?),
            p.store.bugs_between(from, to).await?,
            sla,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let duty = if actor.can(Permission::DutyRead) {
        p.store
            .duty_stats_between(
                &first.format("%Y-%m-%d").to_string(),
                &next.format("%Y-%m-%d").to_string(),
            )
            .await?
            .into_iter()
            .map(|(slot, shift, assignments, reports)| DutyLine {
                slot,
                shift,
                assignments,
                reports,
            })
            .collect()
    } else {
        Vec::new()
    };
    let kpi = if kind == PackKind::Monthly && actor.can(Permission::KpiRead) {
        Some(kpi::scorecards(p, actor, Some(&key), None, None, None).await?)
    } else {
        None
    };
    Ok(ReportPack {
        kind,
        period: key,
        start: first.format("%Y-%m-%d").to_string(),
        end: next.format("%Y-%m-%d").to_string(),
        frequent,
        major,
        bugs,
        sla,
        duty,
        recon_runs: Vec::new(),
        kpi,
    })
}

/// A branch-scoped reader sees the major faults of their branch only; vendors none.
fn visible_major(actor: &Principal, rows: Vec<MajorFaultRow>) -> Vec<MajorFaultRow> {
    use crate::authz::Scope;
    match actor.scope {
        Scope::Province => rows,
        Scope::Region(r) => rows
            .into_iter()
            .filter(|m| m.region_id == Some(r))
            .collect(),
        Scope::Vendor(_) => Vec::new(),
    }
}

/// A workbook cell: text or number.
enum Cell {
    S(String),
    N(f64),
}

fn s(v: impl Into<String>) -> Cell {
    Cell::S(v.into())
}

fn n(v: impl Into<f64>) -> Cell {
    Cell::N(v.into())
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> ServiceError {
    ServiceError::Internal(format!("writing XLSX: {e}"))
}

/// The pack as a workbook, one sheet per section (the KPI sheets as in the scorecard download).
pub fn pack_xlsx(pack: &ReportPack, tz: chrono_tz::Tz) -> ServiceResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let time = |us: i64| {
        tianshu_store::time::from_micros(us)
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let mut sheet = |name: &str, head: &[&str], rows: Vec<Vec<Cell>>| -> ServiceResult<()> {
        let ws = wb.add_worksheet();
        ws.set_name(name).map_err(xlsx_err)?;
        for (c, h) in head.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(xlsx_err)?;
            ws.set_column_width(c as u16, 18).map_err(xlsx_err)?;
        }
        if rows.is_empty() {
            ws.write_string(1, 0, "无记录").map_err(xlsx_err)?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let (r, c) = (u32::try_from(r + 1).unwrap_or(u32::MAX), c as u16);
                match v {
                    Cell::N(x) => ws.write_number(r, c, *x).map_err(xlsx_err)?,
                    Cell::S(t) => ws.write_string(r, c, t).map_err(xlsx_err)?,
                };
            }
        }
        Ok(())
    };
    sheet(
        "概要",
        &["报表", "周期", "起", "止（不含）"],
        vec![vec![
            s(if pack.kind == PackKind::Monthly {
                "月报"
            } else {
                "周报"
            }),
            s(pack.period.clone()),
            s(pack.start.clone()),
            s(pack.end.clone()),
        ]],
    )?;
    sheet(
        "频发故障",
        &["故障", "次数", "投诉量", "触发规则"],
        pack.frequent
            .iter()
            .map(|f| {
                vec![
                    s(f.fault_key.clone()),
                    n(f.occurrences),
                    n(f.complaints as f64),
                    s(f.fired
                        .iter()
                        .map(|t| format!("{} {}", t.rule, t.detail))
                        .collect::<Vec<_>>()
                        .join("；")),
                ]
            })
            .collect(),
    )?;
    sheet(
        "重大故障",
        &["工单号", "标题", "等级", "状态", "发生", "恢复"],
        pack.major
            .iter()
            .map(|m| {
                vec![
                    s(m.number.clone()),
                    s(m.title.clone()),
                    s(m.fault_level.clone()),
                    s(m.state.clone()),
                    s(time(m.created_at)),
                    s(m.resolved_at.map(time).unwrap_or_default()),
                ]
            })
            .collect(),
    )?;
    sheet(
        "程序缺陷",
        &["BUG单号", "工单号", "紧急程度", "状态", "提出"],
        pack.bugs
            .iter()
            .map(|b| {
                vec![
                    s(b.number.clone()),
                    s(b.incident_number.clone()),
                    s(b.urgency.clone()),
                    s(b.state.clone()),
                    s(time(b.created_at)),
                ]
            })
            .collect(),
    )?;
    sheet(
        "时限达成",
        &["对象", "规则", "按时", "超时", "达成率%"],
        pack.sla
            .iter()
            .map(|l| {
                vec![
                    s(l.subject_kind.clone()),
                    s(l.rule.clone()),
                    n(l.met as f64),
                    n(l.breached as f64),
                    l.rate.map_or_else(|| s("—"), n),
                ]
            })
            .collect(),
    )?;
    sheet(
        "值班统计",
        &["岗位", "班次", "排班人次", "日报提交"],
        pack.duty
            .iter()
            .map(|d| {
                vec![
                    s(d.slot.clone()),
                    s(d.shift.clone()),
                    n(d.assignments as f64),
                    n(d.reports as f64),
                ]
            })
            .collect(),
    )?;
    sheet(
        "对账一致性",
        &["稽核对账"],
        vec![vec![s("无运行记录（no runs）")]],
    )?;
    if let Some(k) = &pack.kpi {
        let ranking = k
            .ranking
            .iter()
            .map(|r| {
                let name = k
                    .cards
                    .iter()
                    .find(|c| c.unit == r.unit)
                    .map_or_else(|| r.unit.clone(), |c| c.unit_name.clone());
                vec![
                    n(r.rank),
                    s(name),
                    n(r.total.as_f64()),
                    s(if r.laggard { "是" } else { "否" }),
                ]
            })
            .collect();
        sheet(
            "考核排名",
            &["名次", "考核对象", "得分", "排名靠后"],
            ranking,
        )?;
    }
    wb.save_to_buffer().map_err(xlsx_err)
}

// ---------------------------------------------------------------- scheduled e-mail (RPT-06 / SLA-13)

/// Kind of the durable timer that e-mails the monthly pack.
pub const TIMER_KIND: &str = "report.monthly_pack";
const SUBJECT_KIND: &str = "report_pack";
const SUBJECT_ID: &str = "monthly";

/// The next send instant strictly after `after` for `s` in `tz` (the `day` at `at`, local).
pub fn next_send(
    s: &tianshu_core::policy::MonthlyPackSchedule,
    tz: chrono_tz::Tz,
    after: chrono::DateTime<Utc>,
) -> Option<chrono::DateTime<Utc>> {
    let (h, m) = s.time_of_day()?;
    let local = after.with_timezone(&tz).date_naive();
    let this = NaiveDate::from_ymd_opt(local.year(), local.month(), s.day)?;
    for d in [this, this.checked_add_months(chrono::Months::new(1))?] {
        let t = tz
            .from_local_datetime(&d.and_hms_opt(h, m, 0)?)
            .earliest()?
            .with_timezone(&Utc);
        if t > after {
            return Some(t);
        }
    }
    None
}

/// Schedules the next monthly e-mail unless one is pending (called at start; idempotent).
pub async fn ensure_scheduled(p: &Platform) -> ServiceResult<Option<i64>> {
    let pol = p.policy.current();
    let Some(s) = pol.pack.kpi.monthly_pack.clone() else {
        return Ok(None);
    };
    if p.store
        .timers_of(SUBJECT_KIND, SUBJECT_ID)
        .await?
        .iter()
        .any(|t| t.state == "pending" && t.kind == TIMER_KIND)
    {
        return Ok(None);
    }
    let Some(due) = next_send(&s, p.time_zone(), p.clock.now()) else {
        return Ok(None);
    };
    let now = p.now_us();
    let inserted = p
        .store
        .write(move |c| {
            Box::pin(async move {
                tianshu_store::timers::insert_timer(
                    c,
                    tianshu_store::timers::NewTimer {
                        clock_id: None,
                        subject_kind: SUBJECT_KIND.into(),
                        subject_id: SUBJECT_ID.into(),
                        kind: TIMER_KIND.into(),
                        due_at: due.timestamp_micros(),
                        payload: serde_json::json!({"rule": s.rule}),
                        created_at: now,
                    },
                )
                .await
            })
        })
        .await;
    match inserted {
        Ok(id) => Ok(Some(id)),
        // Another instance scheduled it first (one pending timer, unique index of migration 0017).
        Err(tianshu_store::StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Fires the monthly timer inside the scheduler's transaction: queues one e-mail (idempotency key per month)
/// linking last month's pack, and schedules next month's.
pub async fn fire(
    c: &mut tianshu_store::Conn<'_>,
    pol: &crate::policy::ActivePolicy,
    t: &tianshu_store::timers::Timer,
    now: i64,
) -> tianshu_store::StoreResult<()> {
    let Some(s) = pol.pack.kpi.monthly_pack.clone() else {
        return Ok(());
    };
    let tz: chrono_tz::Tz = pol
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let Some(due) = chrono::DateTime::from_timestamp_micros(t.due_at) else {
        return Ok(());
    };
    let local = due.with_timezone(&tz).date_naive();
    let previous = local
        .with_day(1)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(1)))
        .unwrap_or(local);
    let period = previous.format("%Y-%m").to_string();
    tianshu_store::timers::insert_outbox(
        c,
        tianshu_store::timers::NewOutbox {
            idempotency_key: format!("report:monthly_pack:{period}"),
            subject_kind: SUBJECT_KIND.into(),
            subject_id: period.clone(),
            template: s.template.clone(),
            recipients: serde_json::json!({"classes": s.classes, "roles": s.roles, "on_duty": []}),
            context: serde_json::json!({
                "period": period,
                "link": format!("/reports/pack?kind=monthly&period={period}"),
                "xlsx": format!("/api/v1/reports/pack.xlsx?kind=monthly&period={period}"),
            }),
            cause: format!("{}:monthly_pack", s.rule),
            state: "queued".into(),
            created_at: now,
        },
    )
    .await?;
    if let Some(next) = next_send(&s, tz, due) {
        tianshu_store::timers::insert_timer(
            c,
            tianshu_store::timers::NewTimer {
                clock_id: None,
                subject_kind: SUBJECT_KIND.into(),
                subject_id: SUBJECT_ID.into(),
                kind: TIMER_KIND.into(),
                due_at: next.timestamp_micros(),
                payload: serde_json::json!({"rule": s.rule}),
                created_at: now,
            },
        )
        .await?;
    }
    Ok(())
}
