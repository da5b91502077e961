//! Notification rules that need no IO: template checking and rendering (NTF-08), recipient-class routing
//! (NTF-03..NTF-05, NTF-10), follow-up due times (NTF-06) and retry backoff.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use tianshu_workcal::WorkCalendar;

use crate::policy::{DeliveryPolicy, FollowUpPolicy, NotifyPolicy};
use crate::severity::ComplaintLevel;

/// Why a template text or a rendering was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The text does not parse.
    Syntax(String),
    /// The text uses placeholders the template does not declare.
    Unknown(Vec<String>),
    /// Rendering lacked values (or had empty ones) for these placeholders.
    Missing(Vec<String>),
    /// Rendering failed for another reason (e.g. a filter error).
    Render(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Syntax(m) => write!(f, "template syntax error: {m}"),
            TemplateError::Unknown(v) => write!(
                f,
                "unknown placeholder(s) {} (not among the template's declared variables)",
                v.join(", ")
            ),
            TemplateError::Missing(v) => {
                write!(
                    f,
                    "missing or empty value for placeholder(s) {}",
                    v.join(", ")
                )
            }
            TemplateError::Render(m) => write!(f, "cannot render: {m}"),
        }
    }
}

impl std::error::Error for TemplateError {}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    // An undefined placeholder is an error, never an empty hole in an SMS (NTF-08).
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Checks that `text` parses and uses only the `declared` placeholders (checked when a template is saved).
pub fn check_text(text: &str, declared: &[String]) -> Result<(), TemplateError> {
    let env = env();
    let tmpl = env
        .template_from_str(text)
        .map_err(|e| TemplateError::Syntax(e.to_string()))?;
    let used = tmpl.undeclared_variables(false);
    let mut unknown: Vec<String> = used
        .into_iter()
        .filter(|v| !declared.iter().any(|d| d == v))
        .collect();
    unknown.sort();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::Unknown(unknown))
    }
}

/// Whether a context value counts as present: not null, not blank text, not an empty list.
fn present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// Renders `text` with `vars`; every `required` placeholder must be present and non-empty, and any placeholder
/// the text uses must have a value (strict undefined).
pub fn render(text: &str, vars: &Value, required: &[String]) -> Result<String, TemplateError> {
    let obj = vars.as_object();
    let mut missing: BTreeSet<String> = required
        .iter()
        .filter(|r| !present(obj.and_then(|o| o.get(r.as_str()))))
        .cloned()
        .collect();
    let env = env();
    let tmpl = env
        .template_from_str(text)
        .map_err(|e| TemplateError::Syntax(e.to_string()))?;
    for v in tmpl.undeclared_variables(false) {
        if obj.and_then(|o| o.get(&v)).is_none_or(Value::is_null) {
            missing.insert(v);
        }
    }
    if !missing.is_empty() {
        return Err(TemplateError::Missing(missing.into_iter().collect()));
    }
    tmpl.render(vars)
        .map_err(|e| TemplateError::Render(e.to_string()))
}

/// The type of fault a notice is about (NTF-03 / NTF-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Business-type fault: notice after customer service's level-1 SMS (NTF-03).
    Business,
    /// System-type fault (NTF-04).
    System,
}

/// What routing needs to know about a fault.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoticeFacts {
    /// Business or system fault; `None` routes no classes.
    pub kind: Option<FaultKind>,
    /// System key, if known.
    pub system: Option<String>,
    /// Customer-service complaint level, if any.
    pub cs_level: Option<ComplaintLevel>,
    /// Regions (branch keys) the fault involves.
    pub regions: Vec<String>,
}

/// The classes and lists a notice goes to, with the rules that put them there.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Route {
    /// Class letters, sorted, de-duplicated.
    pub classes: Vec<String>,
    /// Recipient list keys (class lists are not repeated here), in rule order, de-duplicated.
    pub lists: Vec<String>,
    /// Rule IDs applied.
    pub rules: Vec<String>,
}

/// Routes a fault notice to recipient classes and lists (NTF-03, NTF-04, NTF-05 union, NTF-10).
pub fn route(p: &NotifyPolicy, f: &NoticeFacts) -> Route {
    let mut classes: BTreeSet<String> = BTreeSet::new();
    let mut rules = Vec::new();
    match f.kind {
        Some(FaultKind::Business) => {
            classes.extend(p.routing.business.iter().cloned());
            rules.push("NTF-03".to_string());
        }
        Some(FaultKind::System) => {
            let cc = f
                .system
                .as_ref()
                .is_some_and(|s| p.routing.callcenter_systems.contains(s));
            let set = if cc {
                &p.routing.callcenter
            } else {
                &p.routing.system
            };
            classes.extend(set.iter().cloned());
            rules.push("NTF-04".to_string());
        }
        None => {}
    }
    if f.cs_level
        .is_some_and(|l| l >= p.routing.complaint_cs_at_least)
    {
        // Proposed default (NTF-05 ambiguity): D is added to, not substituted for, the NTF-03/04 classes.
        classes.extend(p.routing.complaint_classes.iter().cloned());
        rules.push("NTF-05".to_string());
    }
    let mut lists: Vec<String> = Vec::new();
    if let Some(sys) = &f.system {
        for g in p.regional.iter().filter(|g| &g.system == sys) {
            let mut add = |l: &str| {
                if !lists.iter().any(|x| x == l) {
                    lists.push(l.to_string());
                }
            };
            add(&g.base_list);
            for e in &g.extra {
                if f.regions.contains(&e.region) {
                    add(&e.list);
                }
            }
            if !rules.contains(&g.rule) {
                rules.push(g.rule.clone());
            }
        }
    }
    Route {
        classes: classes.into_iter().collect(),
        lists,
        rules,
    }
}

/// NTF-06: the first follow-up due after a notice sent at `sent_at`: the end of the working afternoon of that
/// day when it is a working day and the notice went out before then, else of the next working day.
pub fn first_follow_up_due(
    f: &FollowUpPolicy,
    cal: &WorkCalendar,
    sent_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let day = cal.local_date(sent_at);
    let due = at_end_of_afternoon(f, cal, day)?;
    if cal.is_working_day(day) && sent_at < due {
        Some(due)
    } else {
        next_follow_up_due(f, cal, due)
    }
}

/// NTF-06: while the fault stays open, the follow-up after one due at `prev` is due at the end of the working
/// afternoon of the next working day.
pub fn next_follow_up_due(
    f: &FollowUpPolicy,
    cal: &WorkCalendar,
    prev: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut day = cal.local_date(prev);
    // A calendar without any working day in a year is a broken pack; stop rather than loop forever.
    for _ in 0..366 {
        day = day.succ_opt()?;
        if cal.is_working_day(day) {
            return at_end_of_afternoon(f, cal, day);
        }
    }
    None
}

fn at_end_of_afternoon(
    f: &FollowUpPolicy,
    cal: &WorkCalendar,
    day: chrono::NaiveDate,
) -> Option<DateTime<Utc>> {
    let secs = f.end_seconds()?;
    let t = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?;
    day.and_time(t)
        .and_local_timezone(cal.time_zone())
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// The delay before retry number `attempt` (1 = the first retry): `base · 2^(attempt-1)`, capped, plus up to
/// `jitter_percent` of it chosen by `unit` ∈ [0, 1) (the caller draws it, so this stays deterministic).
pub fn backoff(d: &DeliveryPolicy, attempt: u32, unit: f64) -> Duration {
    let base = d.backoff_base.seconds().max(1) as f64;
    let cap = d.backoff_cap.seconds().max(1) as f64;
    let exp = attempt.saturating_sub(1).min(30);
    let plain = (base * f64::from(1u32 << exp)).min(cap);
    let jitter = plain * f64::from(d.jitter_percent) / 100.0 * unit.clamp(0.0, 1.0);
    Duration::milliseconds(((plain + jitter) * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyPack;

    fn pack() -> PolicyPack {
        PolicyPack::load_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/default"
        ))
        .expect("default pack loads")
    }

    fn facts(kind: FaultKind, system: &str, cs: Option<u8>) -> NoticeFacts {
        NoticeFacts {
            kind: Some(kind),
            system: Some(system.into()),
            cs_level: cs.and_then(ComplaintLevel::new),
            regions: vec![],
        }
    }

    /// Worked example 9 [NTF-02, NTF-03, NTF-04]: non-CallCenter system fault → A+B+C; CallCenter → B+C;
    /// business fault → C only.
    #[test]
    fn worked_example_9_class_routing_ntf_03_04() {
        let p = pack();
        let n = &p.notifications;
        assert_eq!(
            route(n, &facts(FaultKind::System, "crm", None)).classes,
            ["A", "B", "C"]
        );
        assert_eq!(
            route(n, &facts(FaultKind::System, "callcenter", None)).classes,
            ["B", "C"]
        );
        assert_eq!(
            route(n, &facts(FaultKind::Business, "crm", None)).classes,
            ["C"]
        );
    }

    /// NTF-05 (proposed default: union): CS3+ adds D to the NTF-03/04 classes; CS2 does not.
    #[test]
    fn cs3_adds_class_d_to_the_notice_classes_ntf_05() {
        let p = pack();
        let n = &p.notifications;
        assert_eq!(
            route(n, &facts(FaultKind::System, "crm", Some(3))).classes,
            ["A", "B", "C", "D"]
        );
        assert_eq!(
            route(n, &facts(FaultKind::Business, "crm", Some(4))).classes,
            ["C", "D"]
        );
        assert_eq!(
            route(n, &facts(FaultKind::Business, "crm", Some(2))).classes,
            ["C"]
        );
    }

    /// NTF-10: the agent portal's base list plus the extra list of each region involved.
    #[test]
    fn agent_portal_adds_regional_extra_lists_ntf_10() {
        let p = pack();
        let mut f = facts(FaultKind::System, "agent-portal", None);
        f.regions = vec!["guangzhou".into(), "shenzhen".into()];
        let r = route(&p.notifications, &f);
        assert_eq!(
            r.lists,
            [
                "agent_portal_base",
                "agent_portal_guangzhou",
                "agent_portal_shenzhen"
            ]
        );
        assert!(r.rules.contains(&"NTF-10".to_string()));
        f.regions = vec!["foshan".into()];
        assert_eq!(route(&p.notifications, &f).lists, ["agent_portal_base"]);
    }

    /// NTF-08: every default template (T1–T5, NTF-15, escalation notices) keeps its heading and renders in both
    /// languages once all its variables are given; a missing mandatory value is an error, never a hole.
    #[test]
    fn templates_render_and_refuse_missing_values_ntf_08() {
        let p = pack();
        let t1 = p.notifications.template("t1_fault_notice").unwrap();
        let mut vars = serde_json::json!({
            "system": "CRM", "fault_time": "2026-11-23 10:00", "symptom": "无法受理", "cause": "数据库锁",
            "impact_scope": "全省营业厅", "owner_org": "IT中心", "eta": "11:30", "owner_role": "升级值班",
        });
        let zh = render(&t1.zh, &vars, &t1.required).unwrap();
        assert!(zh.starts_with("CRM故障通知:"), "{zh}");
        assert!(zh.contains("预计恢复时间:11:30"), "{zh}");
        vars["eta"] = serde_json::json!("  ");
        assert_eq!(
            render(&t1.zh, &vars, &t1.required),
            Err(TemplateError::Missing(vec!["eta".into()]))
        );
        let headings = [
            ("t2_system_fault_notice", "CRM系统故障通知:"),
            ("t3_follow_up", "CRM系统故障跟进情况:"),
            ("t4_recovery", "CRM系统故障恢复通知:"),
            ("t5_program_fault_notice", "CRM系统程序故障通知:"),
        ];
        for (id, heading) in headings {
            let t = p.notifications.template(id).unwrap();
            let mut all = serde_json::Map::new();
            for v in &t.variables {
                all.insert(v.clone(), serde_json::json!("x"));
            }
            all.insert("system".into(), serde_json::json!("CRM"));
            let out = render(&t.zh, &Value::Object(all.clone()), &t.required).unwrap();
            assert!(out.starts_with(heading), "{id}: {out}");
            render(&t.en, &Value::Object(all), &t.required).unwrap();
        }
        for t in &p.notifications.templates {
            let mut all = serde_json::Map::new();
            for v in &t.variables {
                all.insert(v.clone(), serde_json::json!(["x"]));
            }
            for text in [&t.zh, &t.en, &t.subject_zh, &t.subject_en] {
                render(text, &Value::Object(all.clone()), &t.required)
                    .unwrap_or_else(|e| panic!("{}: {e}", t.id));
            }
        }
    }

    /// Bad input: a text with a placeholder the template does not declare is refused (checked on save).
    #[test]
    fn unknown_placeholders_are_refused() {
        let declared = vec!["system".to_string()];
        assert_eq!(check_text("{{ system }}故障", &declared), Ok(()));
        assert_eq!(
            check_text("{{ system }} {{ sytem }} {{ eta }}", &declared),
            Err(TemplateError::Unknown(vec!["eta".into(), "sytem".into()]))
        );
        assert!(matches!(
            check_text("{{ system ", &declared),
            Err(TemplateError::Syntax(_))
        ));
    }

    /// Bad input in the pack: an unknown placeholder or an undefined escalation template is reported as
    /// `file:line:field`.
    #[test]
    fn pack_errors_name_file_line_and_field() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default");
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n, std::fs::read_to_string(e.path()).unwrap())
            })
            .collect();
        let ntf = files
            .iter_mut()
            .find(|(n, _)| n == "notifications.toml")
            .unwrap();
        ntf.1 = ntf
            .1
            .replacen("故障跟进人:{{ owner_role }}", "故障跟进人:{{ owner }}", 1);
        ntf.1 = ntf.1.replacen(
            "id = \"esc05_department_manager\"",
            "id = \"esc05_renamed\"",
            1,
        );
        let errs: Vec<String> = PolicyPack::load_files(&files)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errs.iter().any(|e| e.starts_with("notifications.toml:")
                && e.contains(":template[0].zh: unknown placeholder(s) owner")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("'esc05_department_manager'")),
            "{errs:?}"
        );
    }

    /// Worked example 11 [NTF-06]: a notice sent Monday 10:00 with no major progress → follow-up due before 17:30
    /// that day; still open the next day → another follow-up due 17:30 Tuesday. Friday's next one is Monday's.
    #[test]
    fn worked_example_11_follow_up_due_ntf_06() {
        let p = pack();
        let cal = tianshu_workcal::WorkCalendar::new(
            p.calendars
                .calendars
                .iter()
                .find(|c| c.name == p.calendars.default_calendar)
                .unwrap(),
            tianshu_workcal::Holidays::default(),
        )
        .unwrap();
        let f = &p.notifications.follow_up;
        let utc = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
                .unwrap()
                .and_local_timezone(chrono_tz::Asia::Shanghai)
                .unwrap()
                .with_timezone(&Utc)
        };
        // 2026-11-23 is a Monday.
        let first = first_follow_up_due(f, &cal, utc("2026-11-23 10:00")).unwrap();
        assert_eq!(first, utc("2026-11-23 17:30"));
        assert_eq!(
            next_follow_up_due(f, &cal, first).unwrap(),
            utc("2026-11-24 17:30")
        );
        // Sent after 17:30: the first follow-up is due the next working day.
        assert_eq!(
            first_follow_up_due(f, &cal, utc("2026-11-23 18:00")).unwrap(),
            utc("2026-11-24 17:30")
        );
        assert_eq!(
            next_follow_up_due(f, &cal, utc("2026-11-27 17:30")).unwrap(),
            utc("2026-11-30 17:30")
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let p = pack();
        let d = &p.notifications.delivery;
        let base = d.backoff_base.seconds() * 1000;
        assert_eq!(backoff(d, 1, 0.0).num_milliseconds(), base);
        assert_eq!(backoff(d, 2, 0.0).num_milliseconds(), 2 * base);
        assert_eq!(
            backoff(d, 40, 0.0).num_milliseconds(),
            d.backoff_cap.seconds() * 1000
        );
        let j = backoff(d, 1, 0.999).num_milliseconds();
        assert!(
            j > base && j <= base + base * i64::from(d.jitter_percent) / 100,
            "{j}"
        );
    }
}
