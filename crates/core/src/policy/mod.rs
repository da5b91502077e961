//! The policy pack: a directory of TOML files holding every number and list the rules need (GUIDE: "a rule's
//! numbers come from the policy pack"). Loading validates everything and reports all problems at once as
//! `file:line:field: message`.

mod calendars;
mod change;
mod data_ops;
mod duty;
mod error;
mod escalation;
mod fault;
mod frequent;
mod kpi;
mod monitoring;
mod notify;
mod pack;
mod problem;
mod reconciliation;
mod roles;
mod sla;
mod span;
mod units;
mod workflow;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tianshu_workcal::{DeadlineBasis, HolidayYear};

pub use calendars::CalendarsPolicy;
pub use change::{
    AnnouncementRule, AssuranceRule, ChangePolicy, CutoverRule, DataCaseDef, DowntimeRule,
    EmergencyNotice, GateDef, NoticeRule, PrerequisiteDef, ReleaseRule, RequirementRule,
    ScenarioDef, VerificationRule, PREREQUISITE_KINDS,
};
pub use data_ops::{
    BatchRule, DataOpsPolicy, ExtractionRule, GuardRule, PeakRule, SensitiveClass, SensitiveRule,
    SeparationRule, TicketRule, VENDOR_MODES,
};
pub use duty::{
    parse_hhmm, BranchDay, CompTimeDef, DayOfWeek, DutyPolicy, FieldKind, HqPosition, LookupDef,
    ReportDef, ReportField, RotationDef, ShiftDef, SlotDef, SlotScope,
};
pub use error::{PolicyError, PolicyErrors};
pub use escalation::{
    BugRoomManagerPolicy, CentreManagerPolicy, ClockCondition, ClockRule, EmergencyPolicy,
    EscalationPolicy, FaultCategory, ImmediateReportPolicy, ReReport, ReReportPolicy, Trigger,
    TriggerEvent, HANDLER_RECIPIENT,
};
pub use fault::{
    ActualImpact, Compare, FaultLevelPolicy, HotBusiness, PotentialCriterion, Threshold,
};
pub use frequent::{Combine, FrequentFaultPolicy, FrequentTrigger, Period, ReportKind, TriggerSet};
pub use kpi::{
    Conversion, FlagCombine, FormulaKind, Indicator, IndicatorGroup, IndicatorSet, KpiPolicy,
    LimitSource, MonthlyPackSchedule, RankingRule, RatioMeasure, UnitRounding, WhenEmpty,
};
pub use monitoring::{
    AlertRoute, FactValue, FlappingPolicy, GroupingPolicy, IntakePolicy, MonRetentionPolicy,
    MonitoringPolicy, PointPolicy, ProbePolicy, SevereBudgetPolicy, SignInPolicy, SilencePolicy,
    TicketAction,
};
pub use notify::{
    Channel, DeliveryPolicy, FollowUpPolicy, NotifyPolicy, RecipientClass, RegionExtra,
    RegionalLists, ReviewPolicy, Routing, TemplateDef,
};
pub use pack::{
    ApiTokenPolicy, LoginPolicy, PackInfo, RateLimitPolicy, SecurityPolicy, SessionPolicy,
};
pub use problem::{
    ArchiveRule, BreachNotice, DispatchRule, ImmediateProblemReport, MeetingReminder,
    OtherDepartmentRule, ProblemCategory, ProblemLevelPolicy, ProblemLevelRule, ReviewRule,
};
pub use reconciliation::{
    EngineDef, FollowUpDef, InputSource, NullDefault, ReconMode, ReconciliationPolicy, ScheduleDef,
    ScheduleInputs, UploadDef, UploadStatus,
};
pub use roles::{Permission, Role, RoleScope, UnknownPermission, PERMISSIONS};
pub use sla::{
    AccessPointRule, AssuranceMatrix, AssuranceOverride, LineStandard, NetworkQuality, RepeatCount,
    ServiceType, SlaPolicy, Stage, TierQuota,
};
pub use units::{HalfOpen, PolicyDuration};
pub use workflow::{DuplicatePolicy, IncidentWorkflow, MultiDispatchPolicy, Transition};

use error::Issue;
use span::SpanIndex;

/// pack.toml: identity and security numbers.
pub const PACK_FILE: &str = "pack.toml";
/// calendars.toml: business-hour calendars.
pub const CALENDARS_FILE: &str = "calendars.toml";
/// roles.toml: roles and their permissions.
pub const ROLES_FILE: &str = "roles.toml";
/// fault_levels.toml: SEV-01..SEV-08.
pub const FAULT_LEVELS_FILE: &str = "fault_levels.toml";
/// problem_levels.toml: PRB-01, PRB-02.
pub const PROBLEM_LEVELS_FILE: &str = "problem_levels.toml";
/// incident_workflow.toml: the incident lifecycle (INC-01..INC-05), DUP-01 and DUP-04 settings.
pub const INCIDENT_WORKFLOW_FILE: &str = "incident_workflow.toml";
/// escalation.toml: ESC-01..ESC-05, INC-06, INC-09 and BUG-03.
pub const ESCALATION_FILE: &str = "escalation.toml";
/// frequent_faults.toml: RPT-01..RPT-03.
pub const FREQUENT_FAULTS_FILE: &str = "frequent_faults.toml";
/// notifications.toml: NTF-02..NTF-10, NTF-15 (routing, review, delivery, templates).
pub const NOTIFICATIONS_FILE: &str = "notifications.toml";
/// duty.toml: DUTY-02..DUTY-06, DUTY-09 (shifts, slots, rotation, comp time, daily report).
pub const DUTY_FILE: &str = "duty.toml";
/// monitoring.toml: alert intake, grouping, flapping, silences and MON-06 routing (issue 5).
pub const MONITORING_FILE: &str = "monitoring.toml";
/// reconciliation.toml: REC-01..REC-08 schedules, upload deadline, consistency target (issue 6).
pub const RECONCILIATION_FILE: &str = "reconciliation.toml";
/// sla.toml: SLA-02..SLA-05 (tier quotas, assurance matrix, stage limit tables, access-point scaling).
pub const SLA_FILE: &str = "sla.toml";
/// kpi.toml: KPI-01..KPI-15 indicator sets.
pub const KPI_FILE: &str = "kpi.toml";
/// data_ops.toml: back-end data operations DATA-02..DATA-17 and guarded execution (issue 7).
pub const DATA_OPS_FILE: &str = "data_ops.toml";
/// change.toml: releases, gates, windows, cut-over lead times and CNT notice tiers (issue 7).
pub const CHANGE_FILE: &str = "change.toml";
/// Folder of `HolidayYear` files, one per year (C-2).
pub const HOLIDAYS_DIR: &str = "holidays";

const REQUIRED: [&str; 16] = [
    PACK_FILE,
    CALENDARS_FILE,
    ROLES_FILE,
    FAULT_LEVELS_FILE,
    PROBLEM_LEVELS_FILE,
    INCIDENT_WORKFLOW_FILE,
    ESCALATION_FILE,
    FREQUENT_FAULTS_FILE,
    NOTIFICATIONS_FILE,
    DUTY_FILE,
    MONITORING_FILE,
    RECONCILIATION_FILE,
    SLA_FILE,
    KPI_FILE,
    DATA_OPS_FILE,
    CHANGE_FILE,
];

/// One file of a pack as stored (relative name with `/` separators, UTF-8 text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    /// Relative name, e.g. `roles.toml` or `holidays/cn-2026.toml`.
    pub name: String,
    /// The file's text.
    pub content: String,
}

/// A loaded, fully validated policy pack.
#[derive(Debug, Clone)]
pub struct PolicyPack {
    /// Identity (pack.toml `[pack]`).
    pub pack: PackInfo,
    /// Security numbers (pack.toml `[security]`).
    pub security: SecurityPolicy,
    /// Business-hour calendars (calendars.toml).
    pub calendars: CalendarsPolicy,
    /// Public holidays and 调休 per year (holidays/*.toml), sorted by year.
    pub holidays: Vec<HolidayYear>,
    /// The holiday files found, relative names, sorted.
    pub holiday_files: Vec<String>,
    /// Roles (roles.toml).
    pub roles: Vec<Role>,
    /// Fault-level thresholds and criteria (fault_levels.toml).
    pub fault_levels: FaultLevelPolicy,
    /// Problem-level limits (problem_levels.toml).
    pub problem_levels: ProblemLevelPolicy,
    /// The incident lifecycle (incident_workflow.toml).
    pub incident_workflow: IncidentWorkflow,
    /// Escalation clocks and immediate reports (escalation.toml).
    pub escalation: EscalationPolicy,
    /// Frequent-fault report triggers (frequent_faults.toml).
    pub frequent_faults: FrequentFaultPolicy,
    /// Notification routing, review, delivery and templates (notifications.toml).
    pub notifications: NotifyPolicy,
    /// Duty rosters (duty.toml).
    pub duty: DutyPolicy,
    /// Alert intake and routing (monitoring.toml).
    pub monitoring: MonitoringPolicy,
    /// Reconciliation schedules and follow-up (reconciliation.toml).
    pub reconciliation: ReconciliationPolicy,
    /// Customer service tiers and time limits (sla.toml).
    pub sla: SlaPolicy,
    /// KPI indicator sets (kpi.toml).
    pub kpi: KpiPolicy,
    /// Back-end data operations (data_ops.toml).
    pub data_ops: DataOpsPolicy,
    /// Releases, cut-overs and customer notices (change.toml).
    pub change: ChangePolicy,
    /// The source files, sorted by name, so the exact text can be stored and audited.
    pub files: Vec<PackFile>,
    /// SHA-256 (hex) over every file's name and bytes in name order; identifies the pack version in audit records.
    pub source_hash: String,
}

/// Collects located errors for one file.
struct FileCheck<'a> {
    name: &'a str,
    index: SpanIndex,
    errors: &'a mut Vec<PolicyError>,
}

impl FileCheck<'_> {
    fn at_offset(&mut self, offset: Option<usize>, field: String, message: String) {
        let (line, column) = match offset.map(|o| self.index.line_col(o)) {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        };
        self.errors.push(PolicyError {
            file: self.name.to_string(),
            line,
            column,
            field,
            message,
        });
    }

    fn issues(&mut self, issues: Vec<Issue>) {
        for i in issues {
            let offset = self.index.offset_of(&i.path);
            let field = if i.path.is_empty() {
                "(file)".to_string()
            } else {
                i.path
            };
            self.at_offset(offset, field, i.message);
        }
    }
}

/// Parses one file into `T`, reporting a syntax or shape error with its line and field.
fn parse_file<T: DeserializeOwned>(
    name: &str,
    content: &str,
    errors: &mut Vec<PolicyError>,
) -> Option<(T, SpanIndex)> {
    let mut check = FileCheck {
        name,
        index: SpanIndex::new(content),
        errors,
    };
    if let Err(e) = toml_edit::ImDocument::parse(content) {
        let offset = e.span().map(|s| s.start);
        let field = offset
            .and_then(|o| check.index.path_at(o))
            .map_or_else(|| "(syntax)".to_string(), str::to_string);
        check.at_offset(
            offset,
            field,
            format!("TOML syntax error: {}", e.message().trim()),
        );
        return None;
    }
    // Index the text serde actually reads, so error offsets map to the right key even after date rewriting.
    let normalised = dates_as_strings(content);
    if let Some(text) = &normalised {
        check.index = SpanIndex::new(text);
    }
    match toml::from_str::<T>(normalised.as_deref().unwrap_or(content)) {
        Ok(v) => Some((v, check.index)),
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            let message = e.message().trim().to_string();
            let mut field = offset
                .and_then(|o| check.index.path_at(o))
                .unwrap_or("")
                .to_string();
            // serde names the offending key only in the message; append it when the span stops at its table.
            if let Some(key) = named_field(&message) {
                if !(field == key || field.ends_with(&format!(".{key}"))) {
                    field = span::join(&field, key);
                }
            }
            if field.is_empty() {
                field = "(file)".to_string();
            }
            check.at_offset(offset, field, message);
            None
        }
    }
}

/// Rewrites bare TOML dates (`from = 2026-01-01`) as strings, because workcal's chrono dates deserialize only
/// from strings; values stay on their lines, so reported line numbers are unchanged. `None` if nothing changed.
fn dates_as_strings(content: &str) -> Option<String> {
    use toml_edit::visit_mut::{visit_value_mut, VisitMut};
    struct Dates(bool);
    impl VisitMut for Dates {
        fn visit_value_mut(&mut self, v: &mut toml_edit::Value) {
            if let toml_edit::Value::Datetime(d) = v {
                let decor = d.decor().clone();
                let mut s = toml_edit::Value::from(d.value().to_string());
                *s.decor_mut() = decor;
                *v = s;
                self.0 = true;
            } else {
                visit_value_mut(self, v);
            }
        }
    }
    let mut doc = content.parse::<toml_edit::DocumentMut>().ok()?;
    let mut dates = Dates(false);
    dates.visit_document_mut(&mut doc);
    dates.0.then(|| doc.to_string())
}

/// The key named in a serde "missing field `x`" / "unknown field `x`" message.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

/// Runs a validator and locates its issues in the file.
fn locate(name: &str, index: SpanIndex, issues: Vec<Issue>, errors: &mut Vec<PolicyError>) {
    FileCheck {
        name,
        index,
        errors,
    }
    .issues(issues);
}

impl PolicyPack {
    /// Reads `dir/*.toml` and `dir/holidays/*.toml` and loads them; error file names are prefixed with `dir`.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<PolicyPack, PolicyErrors> {
        let dir = dir.as_ref();
        let shown = dir.display().to_string();
        let shown = shown.trim_end_matches('/');
        let mut files = Vec::new();
        let mut errors = Vec::new();
        read_toml_files(dir, "", &mut files, &mut errors);
        let holidays = dir.join(HOLIDAYS_DIR);
        if holidays.is_dir() {
            read_toml_files(&holidays, "holidays/", &mut files, &mut errors);
        }
        let result = if errors.is_empty() {
            PolicyPack::load_files(&files)
        } else {
            Err(PolicyErrors(errors))
        };
        result.map_err(|PolicyErrors(errs)| {
            PolicyErrors(
                errs.into_iter()
                    .map(|mut e| {
                        e.file = format!("{shown}/{}", e.file);
                        e
                    })
                    .collect(),
            )
        })
    }

    /// Loads a pack from `(relative name, content)` pairs, e.g. as read back from the database.
    pub fn load_files(files: &[(String, String)]) -> Result<PolicyPack, PolicyErrors> {
        let mut errors = Vec::new();
        let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, content) in files {
            let known = REQUIRED.contains(&name.as_str()) || is_holiday_file(name);
            if !known {
                errors.push(file_error(
                    name,
                    format!(
                        "not a policy file (expected {}, or {HOLIDAYS_DIR}/<name>.toml)",
                        REQUIRED.join(", ")
                    ),
                ));
            } else if by_name.insert(name, content).is_some() {
                errors.push(file_error(name, "file given twice".to_string()));
            }
        }
        for name in REQUIRED {
            if !by_name.contains_key(name) {
                errors.push(file_error(name, "required file is missing".to_string()));
            }
        }
        let get = |n: &str| by_name.get(n).copied();

        let pack = get(PACK_FILE).and_then(|c| {
            let (p, idx) = parse_file::<pack::PackFile>(PACK_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            locate(PACK_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let calendars = get(CALENDARS_FILE).and_then(|c| {
            let (p, idx) = parse_file::<CalendarsPolicy>(CALENDARS_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            locate(CALENDARS_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let roles = get(ROLES_FILE).and_then(|c| {
            let (p, idx) = parse_file::<roles::RolesFile>(ROLES_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            let roles = p.validate(&mut issues);
            locate(ROLES_FILE, idx, issues, &mut errors);
            Some(roles)
        });
        let fault_levels = get(FAULT_LEVELS_FILE).and_then(|c| {
            let (p, idx) = parse_file::<FaultLevelPolicy>(FAULT_LEVELS_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            locate(FAULT_LEVELS_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let calendar_names: Option<HashSet<String>> = calendars
            .as_ref()
            .map(|c| c.calendars.iter().map(|s| s.name.clone()).collect());
        let problem_levels = get(PROBLEM_LEVELS_FILE).and_then(|c| {
            let (p, idx) = parse_file::<ProblemLevelPolicy>(PROBLEM_LEVELS_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: every `@calendar` must name a calendar of calendars.toml.
            if let Some(names) = &calendar_names {
                for (path, d) in p.deadlines() {
                    if let DeadlineBasis::WorkingTime { calendar, .. } = d {
                        if !names.contains(calendar) {
                            issues.push(Issue::new(
                                path,
                                format!(
                                    "'@{calendar}' is not a calendar defined in {CALENDARS_FILE}"
                                ),
                            ));
                        }
                    }
                }
            }
            if let Some(roles) = &roles {
                for (path, r) in p.role_refs() {
                    if !roles.iter().any(|x: &Role| x.key == r) {
                        issues.push(Issue::new(
                            path,
                            format!("'{r}' is not a role defined in {ROLES_FILE}"),
                        ));
                    }
                }
            }
            locate(PROBLEM_LEVELS_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let incident_workflow = get(INCIDENT_WORKFLOW_FILE).and_then(|c| {
            let (p, idx) =
                parse_file::<workflow::WorkflowFile>(INCIDENT_WORKFLOW_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            let wf = p.validate(&mut issues);
            locate(INCIDENT_WORKFLOW_FILE, idx, issues, &mut errors);
            wf
        });
        let role_keys: Option<HashSet<String>> = roles
            .as_ref()
            .map(|r: &Vec<Role>| r.iter().map(|r| r.key.clone()).collect());
        let escalation = get(ESCALATION_FILE).and_then(|c| {
            let (p, idx) = parse_file::<EscalationPolicy>(ESCALATION_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: recipients are roles of roles.toml (or the ticket's handler).
            if let Some(keys) = &role_keys {
                for (path, list) in p.recipient_lists() {
                    for (j, r) in list.iter().enumerate() {
                        if r != HANDLER_RECIPIENT && !keys.contains(r) {
                            issues.push(Issue::new(
                                format!("{path}[{j}]"),
                                format!("'{r}' is not a role defined in {ROLES_FILE} (nor '{HANDLER_RECIPIENT}')"),
                            ));
                        }
                    }
                }
            }
            if let Some(names) = &calendar_names {
                for (i, c) in p.clocks.iter().enumerate() {
                    for (f, b) in [("basis", Some(&c.basis)), ("repeat", c.repeat.as_ref())] {
                        if let Some(DeadlineBasis::WorkingTime { calendar, .. }) = b {
                            if !names.contains(calendar) {
                                issues.push(Issue::new(
                                    format!("clock[{i}].{f}"),
                                    format!("'@{calendar}' is not a calendar defined in {CALENDARS_FILE}"),
                                ));
                            }
                        }
                    }
                }
            }
            locate(ESCALATION_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let frequent_faults = get(FREQUENT_FAULTS_FILE).and_then(|c| {
            let (p, idx) = parse_file::<FrequentFaultPolicy>(FREQUENT_FAULTS_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            locate(FREQUENT_FAULTS_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let notifications = get(NOTIFICATIONS_FILE).and_then(|c| {
            let (p, idx) = parse_file::<NotifyPolicy>(NOTIFICATIONS_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: roles exist; every template escalation.toml queues is defined here.
            check_roles(&role_keys, p.role_refs(), &mut issues);
            if let Some(esc) = &escalation {
                for (path, t) in esc.templates() {
                    if p.template(t).is_none() {
                        issues.push(Issue::new(
                            "template",
                            format!("no [[template]] with id '{t}', which {ESCALATION_FILE} {path} uses"),
                        ));
                    }
                }
            }
            if let Some(names) = &calendar_names {
                if let Some(cal) = &p.follow_up.calendar {
                    if !names.contains(cal) {
                        issues.push(Issue::new(
                            "follow_up.calendar",
                            format!("'{cal}' is not a calendar defined in {CALENDARS_FILE}"),
                        ));
                    }
                }
            }
            locate(NOTIFICATIONS_FILE, idx, issues, &mut errors);
            Some(p)
        });
        // Cross-file: the templates and recipient classes problem_levels.toml names exist in notifications.toml;
        // checked once both are read, reported at the line of problem_levels.toml that names them.
        if let (Some(pl), Some(n), Some(c)) =
            (&problem_levels, &notifications, get(PROBLEM_LEVELS_FILE))
        {
            let mut issues = Vec::new();
            for (path, t) in pl.templates() {
                if n.template(t).is_none() {
                    issues.push(Issue::new(
                        path,
                        format!("no [[template]] with id '{t}' in {NOTIFICATIONS_FILE}"),
                    ));
                }
            }
            if let Some(m) = &pl.monthly_report {
                for (i, k) in m.classes.iter().enumerate() {
                    if n.class(k).is_none() {
                        issues.push(Issue::new(
                            format!("monthly_report.classes[{i}]"),
                            format!("'{k}' is not a class of {NOTIFICATIONS_FILE}"),
                        ));
                    }
                }
            }
            locate(PROBLEM_LEVELS_FILE, SpanIndex::new(c), issues, &mut errors);
        }
        let duty = get(DUTY_FILE).and_then(|c| {
            let (p, idx) = parse_file::<DutyPolicy>(DUTY_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: the calendar, the escalation roles and the templates exist.
            check_calendar(&calendar_names, "calendar", &p.calendar, &mut issues);
            if let Some(keys) = &role_keys {
                for (j, r) in p.report.escalate_to_roles.iter().enumerate() {
                    if !keys.contains(r) {
                        issues.push(Issue::new(
                            format!("report.escalate_to_roles[{j}]"),
                            format!("'{r}' is not a role defined in {ROLES_FILE}"),
                        ));
                    }
                }
            }
            if let Some(n) = &notifications {
                for (path, t) in p.templates() {
                    if n.template(t).is_none() {
                        issues.push(Issue::new(
                            path,
                            format!("no [[template]] with id '{t}' in {NOTIFICATIONS_FILE}"),
                        ));
                    }
                }
            }
            locate(DUTY_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let monitoring = get(MONITORING_FILE).and_then(|c| {
            let (p, idx) = parse_file::<MonitoringPolicy>(MONITORING_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: roles, recipient classes and templates exist.
            check_roles(&role_keys, p.role_refs(), &mut issues);
            if let Some(n) = &notifications {
                for (path, c) in p.class_refs() {
                    if n.class(c).is_none() {
                        issues.push(Issue::new(
                            path,
                            format!("'{c}' is not a [[class]] of {NOTIFICATIONS_FILE}"),
                        ));
                    }
                }
                for (path, t) in p.templates() {
                    if n.template(t).is_none() {
                        issues.push(Issue::new(
                            path,
                            format!("no [[template]] with id '{t}' in {NOTIFICATIONS_FILE}"),
                        ));
                    }
                }
            }
            locate(MONITORING_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let reconciliation = get(RECONCILIATION_FILE).and_then(|c| {
            let (p, idx) = parse_file::<ReconciliationPolicy>(RECONCILIATION_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            check_calendar(&calendar_names, "calendar", &p.calendar, &mut issues);
            // Cross-file: who is told of an overdue work item, and with which template.
            check_roles(&role_keys, p.role_refs(), &mut issues);
            if let Some(n) = &notifications {
                let t = &p.follow_up.overdue_template;
                if n.template(t).is_none() {
                    issues.push(Issue::new(
                        "follow_up.overdue_template",
                        format!("no [[template]] with id '{t}' in {NOTIFICATIONS_FILE}"),
                    ));
                }
            }
            locate(RECONCILIATION_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let sla = get(SLA_FILE).and_then(|c| {
            let (mut p, idx) = parse_file::<SlaPolicy>(SLA_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: working days are counted on a calendar of calendars.toml, one day = its daily hours.
            if let Some(cals) = &calendars {
                match cals.get(&p.calendar) {
                    Some(spec) => p.day_seconds = calendars::day_seconds(spec),
                    None => issues.push(Issue::new(
                        "calendar",
                        format!(
                            "'{}' is not a calendar defined in {CALENDARS_FILE}",
                            p.calendar
                        ),
                    )),
                }
            }
            // Cross-file: the breach message's template and roles exist.
            check_roles(&role_keys, p.role_refs(), &mut issues);
            if let Some(n) = &notifications {
                if n.template(&p.breach.template).is_none() {
                    issues.push(Issue::new(
                        "breach.template",
                        format!(
                            "no [[template]] with id '{}' in {NOTIFICATIONS_FILE}",
                            p.breach.template
                        ),
                    ));
                }
            }
            locate(SLA_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let kpi = get(KPI_FILE).and_then(|c| {
            let (p, idx) = parse_file::<KpiPolicy>(KPI_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            // Cross-file: an indicator counting from an SLA-04 stage names a stage of sla.toml.
            if let Some(sla) = &sla {
                for (path, stage) in p.sla_stages() {
                    if sla.stage(stage).is_none() {
                        issues.push(Issue::new(
                            path,
                            format!("'{stage}' is not a [[stage]] of {SLA_FILE}"),
                        ));
                    }
                }
            }
            // Cross-file: the monthly pack's template, classes and roles exist.
            if let Some(m) = &p.monthly_pack {
                if let Some(n) = &notifications {
                    if n.template(&m.template).is_none() {
                        issues.push(Issue::new(
                            "monthly_pack.template",
                            format!("'{}' is not a template of {NOTIFICATIONS_FILE}", m.template),
                        ));
                    }
                    for (i, c) in m.classes.iter().enumerate() {
                        if n.class(c).is_none() {
                            issues.push(Issue::new(
                                format!("monthly_pack.classes[{i}]"),
                                format!("'{c}' is not a class of {NOTIFICATIONS_FILE}"),
                            ));
                        }
                    }
                }
                check_roles(
                    &role_keys,
                    m.roles
                        .iter()
                        .enumerate()
                        .map(|(i, r)| (format!("monthly_pack.roles[{i}]"), r.as_str()))
                        .collect(),
                    &mut issues,
                );
            }
            locate(KPI_FILE, idx, issues, &mut errors);
            Some(p)
        });

        let data_ops = get(DATA_OPS_FILE).and_then(|c| {
            let (p, idx) = parse_file::<DataOpsPolicy>(DATA_OPS_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            check_roles(&role_keys, p.role_refs(), &mut issues);
            locate(DATA_OPS_FILE, idx, issues, &mut errors);
            Some(p)
        });
        let change = get(CHANGE_FILE).and_then(|c| {
            let (p, idx) = parse_file::<ChangePolicy>(CHANGE_FILE, c, &mut errors)?;
            let mut issues = Vec::new();
            p.validate(&mut issues);
            check_calendar(&calendar_names, "calendar", &p.calendar, &mut issues);
            check_roles(&role_keys, p.role_refs(), &mut issues);
            if let Some(n) = &notifications {
                for (field, t) in [
                    ("announcement.template", &p.announcement.template),
                    ("assurance.template", &p.assurance.template),
                ] {
                    if n.template(t).is_none() {
                        issues.push(Issue::new(
                            field,
                            format!("no [[template]] with id '{t}' in {NOTIFICATIONS_FILE}"),
                        ));
                    }
                }
            }
            locate(CHANGE_FILE, idx, issues, &mut errors);
            Some(p)
        });

        let mut holidays: Vec<(String, HolidayYear)> = Vec::new();
        for (name, content) in by_name.iter().filter(|(n, _)| is_holiday_file(n)) {
            let Some((y, idx)) = parse_file::<HolidayYear>(name, content, &mut errors) else {
                continue;
            };
            let mut issues = Vec::new();
            calendars::validate_holiday_year(&y, &mut issues);
            if let Some((other, _)) = holidays.iter().find(|(_, h)| h.year == y.year) {
                issues.push(Issue::new(
                    "year",
                    format!("{} is already defined in {other}", y.year),
                ));
            }
            locate(name, idx, issues, &mut errors);
            holidays.push((name.to_string(), y));
        }

        let (
            Some(pack),
            Some(calendars),
            Some(roles),
            Some(fault_levels),
            Some(problem_levels),
            Some(incident_workflow),
            Some(escalation),
            Some(frequent_faults),
            Some(notifications),
            Some(duty),
            Some(monitoring),
            Some(reconciliation),
            Some(sla),
            Some(kpi),
            Some(data_ops),
            Some(change),
        ) = (
            pack,
            calendars,
            roles,
            fault_levels,
            problem_levels,
            incident_workflow,
            escalation,
            frequent_faults,
            notifications,
            duty,
            monitoring,
            reconciliation,
            sla,
            kpi,
            data_ops,
            change,
        )
        else {
            return Err(PolicyErrors(errors));
        };
        if !errors.is_empty() {
            return Err(PolicyErrors(errors));
        }
        holidays.sort_by_key(|(_, h)| h.year);
        let files: Vec<PackFile> = by_name
            .iter()
            .map(|(n, c)| PackFile {
                name: n.to_string(),
                content: c.to_string(),
            })
            .collect();
        Ok(PolicyPack {
            pack: pack.pack,
            security: pack.security,
            calendars,
            holiday_files: holidays.iter().map(|(n, _)| n.clone()).collect(),
            holidays: holidays.into_iter().map(|(_, h)| h).collect(),
            roles,
            fault_levels,
            problem_levels,
            incident_workflow,
            escalation,
            frequent_faults,
            notifications,
            duty,
            monitoring,
            reconciliation,
            sla,
            kpi,
            data_ops,
            change,
            source_hash: source_hash(&files),
            files,
        })
    }

    /// Non-fatal findings for `policy check`: holiday data missing for the current or the next year (C-2).
    pub fn warnings(&self, today: NaiveDate) -> Vec<String> {
        [today.year(), today.year() + 1]
            .into_iter()
            .filter(|y| !self.holidays.iter().any(|h| h.year == *y))
            .map(|y| {
                format!(
                    "{HOLIDAYS_DIR}/: no holiday data for {y}; working days (C-2) in {y} ignore public holidays and 调休 until it is added"
                )
            })
            .collect()
    }

    /// The role with key `key`.
    pub fn role(&self, key: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.key == key)
    }
}

/// SHA-256 over `name NUL length content` of each file in name order, so renames and moves change the hash.
fn source_hash(files: &[PackFile]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update((f.content.len() as u64).to_be_bytes());
        h.update(f.content.as_bytes());
    }
    hex::encode(h.finalize())
}

fn is_holiday_file(name: &str) -> bool {
    name.strip_prefix("holidays/")
        .and_then(|n| n.strip_suffix(".toml"))
        .is_some_and(|stem| !stem.is_empty() && !stem.contains('/'))
}

fn file_error(name: &str, message: String) -> PolicyError {
    PolicyError {
        file: name.to_string(),
        line: None,
        column: None,
        field: "(file)".to_string(),
        message,
    }
}

/// Reads every visible `*.toml` regular file of `dir` (not recursive) as `(prefix + name, text)`.
fn read_toml_files(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    errors: &mut Vec<PolicyError>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(file_error(prefix, format!("cannot read directory: {e}")));
            return;
        }
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Editors leave hidden swap/backup files next to the real ones; they are not part of the pack.
        if name.starts_with('.') || !name.ends_with(".toml") || !entry.path().is_file() {
            continue;
        }
        names.push(name);
    }
    names.sort();
    for name in names {
        let rel = format!("{prefix}{name}");
        match std::fs::read(dir.join(&name)) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => out.push((rel, text)),
                Err(_) => errors.push(file_error(&rel, "not UTF-8 text".to_string())),
            },
            Err(e) => errors.push(file_error(&rel, format!("cannot read: {e}"))),
        }
    }
}

/// Cross-file check: the calendar `name` (at `path`) is defined in calendars.toml (skipped when that file failed).
fn check_calendar(
    names: &Option<HashSet<String>>,
    path: &str,
    name: &str,
    issues: &mut Vec<Issue>,
) {
    if let Some(names) = names {
        if !names.contains(name) {
            issues.push(Issue::new(
                path,
                format!("'{name}' is not a calendar defined in {CALENDARS_FILE}"),
            ));
        }
    }
}

/// Cross-file check: every (path, role) reference names a role of roles.toml (skipped when that file failed).
fn check_roles(keys: &Option<HashSet<String>>, refs: Vec<(String, &str)>, issues: &mut Vec<Issue>) {
    if let Some(keys) = keys {
        for (path, r) in refs {
            if !keys.contains(r) {
                issues.push(Issue::new(
                    path,
                    format!("'{r}' is not a role defined in {ROLES_FILE}"),
                ));
            }
        }
    }
}
