//! Problem management (PRB-01..PRB-13): the report form and work order of PRB-12, the lifecycle from report to
//! archive, and the deadlines of every step on the working-day calendar. Pure: the numbers come from
//! problem_levels.toml, time from the caller.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tianshu_workcal::{CalendarError, DeadlineBasis, WorkCalendar};

use crate::policy::ProblemLevelPolicy;
use crate::severity::ProblemLevel;

/// PRB-12 附件一: the problem report form as submitted (level mandatory: Proposed default of PRB-12).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportForm {
    /// Short title.
    pub title: String,
    /// P1..P5; mandatory.
    pub level: Option<ProblemLevel>,
    /// PRB-04 category key.
    pub category: String,
    /// Where it came from (duty, info card, system maintenance, monitoring …).
    pub source: String,
    /// 发现时间.
    pub discovered_at: Option<DateTime<Utc>>,
    /// 报告时间.
    pub reported_at: Option<DateTime<Utc>>,
    /// 报告人 (a user name).
    pub reporter: String,
    /// 问题现象.
    pub symptom: String,
    /// 影响范围.
    pub impact: String,
    /// 现场数据.
    #[serde(default)]
    pub on_site_data: String,
    /// 原因分析 (initial).
    #[serde(default)]
    pub cause_analysis: String,
}

/// A refused field: which one and why, with the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// Why.
    pub message: String,
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Checks a report form (PRB-12, PRB-04); every problem found, not just the first.
pub fn validate_report(
    form: &ReportForm,
    policy: &ProblemLevelPolicy,
    now: DateTime<Utc>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let required = [
        ("title", &form.title),
        ("source", &form.source),
        ("reporter", &form.reporter),
        ("symptom", &form.symptom),
        ("impact", &form.impact),
    ];
    for (f, v) in required {
        if v.trim().is_empty() {
            errs.push(field_error(
                f,
                "PRB-12: required on the problem report form",
            ));
        } else if v.chars().count() > 4000 {
            errs.push(field_error(f, "at most 4000 characters"));
        }
    }
    if form.level.is_none() {
        errs.push(field_error(
            "level",
            "PRB-12: the problem level (P1–P5) is mandatory",
        ));
    }
    if policy.category(&form.category).is_none() {
        let known: Vec<&str> = policy.categories.iter().map(|c| c.key.as_str()).collect();
        errs.push(field_error(
            "category",
            format!(
                "PRB-04: '{}' is not a problem category ({})",
                form.category,
                known.join(", ")
            ),
        ));
    }
    match (form.discovered_at, form.reported_at) {
        (None, _) => errs.push(field_error("discovered_at", "PRB-12: required")),
        (Some(d), Some(r)) if d > r => errs.push(field_error(
            "discovered_at",
            "cannot be after the report time",
        )),
        (Some(d), _) if d > now + chrono::Duration::minutes(5) => {
            errs.push(field_error("discovered_at", "cannot be in the future"))
        }
        _ => {}
    }
    if form
        .reported_at
        .is_some_and(|r| r > now + chrono::Duration::minutes(5))
    {
        errs.push(field_error("reported_at", "cannot be in the future"));
    }
    errs
}

/// PRB-12 附件二: the problem work order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrder {
    /// 派单人.
    pub dispatcher: String,
    /// 派单时间.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// 处理人.
    pub handler: String,
    /// 处理时间.
    pub handled_at: Option<DateTime<Utc>>,
    /// 处理结果.
    pub result: String,
    /// 处理方法.
    pub method: String,
    /// 改进建议.
    pub improvement: String,
}

/// Where a problem stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemState {
    /// Reported, not yet dispatched (the coordinator responds, PRB-06).
    Reported,
    /// Dispatched to a handler (PRB-02, PRB-07).
    Dispatched,
    /// Resolved (PRB-08); the analysis report, review and archive follow.
    Resolved,
    /// Archived (PRB-10): closed.
    Closed,
}

impl ProblemState {
    /// Stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemState::Reported => "reported",
            ProblemState::Dispatched => "dispatched",
            ProblemState::Resolved => "resolved",
            ProblemState::Closed => "closed",
        }
    }
}

/// The facts of a problem that the deadlines depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemTimeline {
    /// Level.
    pub level: ProblemLevel,
    /// Report time (clocks start here, PRB-01/02).
    pub reported_at: DateTime<Utc>,
    /// First response.
    pub responded_at: Option<DateTime<Utc>>,
    /// Dispatch.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Resolution (PRB-08).
    pub resolved_at: Option<DateTime<Utc>>,
    /// Analysis-and-handling report submitted (PRB-09).
    pub analysis_at: Option<DateTime<Utc>>,
    /// Review meeting held (PRB-09, P1/P2).
    pub meeting_at: Option<DateTime<Utc>>,
    /// Documents handed to the document administrator (PRB-10).
    pub archived_at: Option<DateTime<Utc>>,
    /// PRB-11: letter to another department sent, and its reply deadline.
    pub letter: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// PRB-11: the department's reply.
    pub replied_at: Option<DateTime<Utc>>,
}

/// Which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// PRB-01 response.
    Response,
    /// PRB-02 dispatch.
    Dispatch,
    /// PRB-01 resolution.
    Resolution,
    /// PRB-09 analysis report.
    AnalysisReport,
    /// PRB-09 review meeting (P1/P2).
    ReviewMeeting,
    /// PRB-10 hand-over to the document administrator.
    Archive,
    /// PRB-11 other department's reply.
    DepartmentReply,
}

impl DeadlineKind {
    /// Stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::Response => "response",
            DeadlineKind::Dispatch => "dispatch",
            DeadlineKind::Resolution => "resolution",
            DeadlineKind::AnalysisReport => "analysis_report",
            DeadlineKind::ReviewMeeting => "review_meeting",
            DeadlineKind::Archive => "archive",
            DeadlineKind::DepartmentReply => "department_reply",
        }
    }
}

/// One deadline of a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDeadline {
    /// Which.
    pub kind: DeadlineKind,
    /// The rule setting it.
    pub rule: String,
    /// Due.
    pub due: DateTime<Utc>,
    /// When it was met, if it was.
    pub met_at: Option<DateTime<Utc>>,
}

impl ProblemDeadline {
    /// Met late, or still open after `due`.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        match self.met_at {
            Some(m) => m > self.due,
            None => now > self.due,
        }
    }
}

/// Every deadline that applies to the problem so far (after-resolution ones once it is resolved).
pub fn deadlines(
    t: &ProblemTimeline,
    policy: &ProblemLevelPolicy,
    cal: &WorkCalendar,
) -> Result<Vec<ProblemDeadline>, CalendarError> {
    let due = |b: &DeadlineBasis, from| cal.deadline(b, from, &[]);
    let mut v = Vec::new();
    if let Some(rule) = policy.get(t.level) {
        v.push(ProblemDeadline {
            kind: DeadlineKind::Response,
            rule: rule.rule.clone(),
            due: due(&rule.response, t.reported_at)?,
            met_at: t.responded_at,
        });
        v.push(ProblemDeadline {
            kind: DeadlineKind::Dispatch,
            rule: policy.dispatch.rule.clone(),
            due: due(&policy.dispatch.limit, t.reported_at)?,
            // A problem the coordinator resolves directly needs no dispatch (PRB-06).
            met_at: t.dispatched_at.or(t.resolved_at),
        });
        v.push(ProblemDeadline {
            kind: DeadlineKind::Resolution,
            rule: rule.rule.clone(),
            due: due(&rule.resolution, t.reported_at)?,
            met_at: t.resolved_at,
        });
    }
    if let Some(resolved) = t.resolved_at {
        v.push(ProblemDeadline {
            kind: DeadlineKind::AnalysisReport,
            rule: policy.review.rule.clone(),
            due: due(&policy.review.analysis_report, resolved)?,
            met_at: t.analysis_at,
        });
        if policy.review.meeting_levels.contains(&t.level) {
            v.push(ProblemDeadline {
                kind: DeadlineKind::ReviewMeeting,
                rule: policy.review.rule.clone(),
                due: due(&policy.review.review_meeting, resolved)?,
                met_at: t.meeting_at,
            });
        }
        v.push(ProblemDeadline {
            kind: DeadlineKind::Archive,
            rule: policy.archive.rule.clone(),
            due: due(&policy.archive.hand_over, resolved)?,
            met_at: t.archived_at,
        });
    }
    if let Some((_, reply_due)) = t.letter {
        v.push(ProblemDeadline {
            kind: DeadlineKind::DepartmentReply,
            rule: policy.other_department.rule.clone(),
            due: reply_due,
            met_at: t.replied_at,
        });
    }
    Ok(v)
}

/// A step of a problem that starts durable deadline clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStep {
    /// The report: PRB-01 response and resolution, PRB-02 dispatch.
    Report,
    /// The resolution: PRB-09 analysis report and (meeting levels) review meeting, PRB-10 hand-over.
    Resolution,
}

/// One deadline a step starts: which, the rule setting it and its basis counted from the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockStart {
    /// Which deadline.
    pub kind: DeadlineKind,
    /// The rule setting it.
    pub rule: String,
    /// Counted from the step.
    pub basis: DeadlineBasis,
}

/// The deadlines `step` starts for a problem of `level`: the same ones, with the same bases, as [`deadlines`]
/// computes, so the durable clocks and the deadlines shown never disagree. The PRB-11 reply is not among
/// them: its deadline is the letter's own.
pub fn clocks_started_by(
    step: ClockStep,
    level: ProblemLevel,
    policy: &ProblemLevelPolicy,
) -> Vec<ClockStart> {
    let start = |kind, rule: &str, basis: &DeadlineBasis| ClockStart {
        kind,
        rule: rule.to_string(),
        basis: basis.clone(),
    };
    match step {
        ClockStep::Report => policy
            .get(level)
            .map(|r| {
                vec![
                    start(DeadlineKind::Response, &r.rule, &r.response),
                    start(
                        DeadlineKind::Dispatch,
                        &policy.dispatch.rule,
                        &policy.dispatch.limit,
                    ),
                    start(DeadlineKind::Resolution, &r.rule, &r.resolution),
                ]
            })
            .unwrap_or_default(),
        ClockStep::Resolution => {
            let mut v = vec![start(
                DeadlineKind::AnalysisReport,
                &policy.review.rule,
                &policy.review.analysis_report,
            )];
            if policy.review.meeting_levels.contains(&level) {
                v.push(start(
                    DeadlineKind::ReviewMeeting,
                    &policy.review.rule,
                    &policy.review.review_meeting,
                ));
            }
            v.push(start(
                DeadlineKind::Archive,
                &policy.archive.rule,
                &policy.archive.hand_over,
            ));
            v
        }
    }
}

/// PRB-06: whether the level is reported to managers at once, and to which roles.
pub fn immediate_report_roles(level: ProblemLevel, policy: &ProblemLevelPolicy) -> &[String] {
    if policy.immediate_report.levels.contains(&level) {
        &policy.immediate_report.roles
    } else {
        &[]
    }
}

/// Why a problem cannot be archived yet (each item names its rule).
pub fn close_blockers(
    t: &ProblemTimeline,
    open_actions: usize,
    policy: &ProblemLevelPolicy,
) -> Vec<String> {
    let mut v = Vec::new();
    if t.resolved_at.is_none() {
        v.push("PRB-08: the problem is not resolved".to_string());
    }
    if t.analysis_at.is_none() {
        v.push(format!(
            "{}: the analysis-and-handling report is missing",
            policy.review.rule
        ));
    }
    if policy.review.meeting_levels.contains(&t.level) && t.meeting_at.is_none() {
        v.push(format!(
            "{}: the review meeting of a {} problem has not been held",
            policy.review.rule, t.level
        ));
    }
    if open_actions > 0 {
        v.push(format!(
            "{}: {open_actions} review action(s) still open",
            policy.review.rule
        ));
    }
    if t.letter.is_some() && t.replied_at.is_none() {
        v.push(format!(
            "{}: the other department has not confirmed the resolution",
            policy.other_department.rule
        ));
    }
    v
}

/// PRB-10: the earliest date the problem's documents may be destroyed.
pub fn retention_until(archived_at: DateTime<Utc>, policy: &ProblemLevelPolicy) -> DateTime<Utc> {
    let years = i32::try_from(policy.archive.retention_years).unwrap_or(i32::MAX);
    chrono::Datelike::with_year(
        &archived_at,
        chrono::Datelike::year(&archived_at).saturating_add(years),
    )
    .unwrap_or(archived_at + chrono::Duration::days(366 * i64::from(years)))
}
