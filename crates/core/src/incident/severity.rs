//! Severity on tickets (SEV-01..SEV-08, DUP-04), ESC-01 immediate-report criteria and the INC-09 emergency trigger.
//! Pure: facts and the pack in, a level with human-readable reasons out.

use serde::{Deserialize, Serialize};

use super::centre::CentreFacts;
use crate::classify::{classify_fault, BusinessOutage, ClassifyError, FaultFacts};
use crate::policy::{
    Compare, EmergencyPolicy, FaultLevelPolicy, ImmediateReportPolicy, PolicyDuration, Threshold,
};
use crate::severity::{ComplaintLevel, FaultLevel};

/// Potential criteria derived from the key-interface outage length instead of being ticked (SEV-03 (4), SEV-05 (3)).
const INTERFACE_CRITERIA: [&str; 2] = ["key_interface_down_short", "key_interface_down_long"];

/// What is known about one incident (or one merged report); counts start at zero, unknowns are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// Customers confirmed to have normal communication affected (SEV-02a, SEV-04a, ESC-01 (4), INC-09).
    pub affected_users: Option<u64>,
    /// Complaints/enquiries about this problem (SEV-02c, SEV-04c, ESC-01 (3)).
    pub complaints: u64,
    /// Gold/diamond-card complaints about the same problem (SEV-02e, SEV-04e).
    pub gold_diamond_complaints: u64,
    /// Longest outage of a hot business, minutes (SEV-01, SEV-02b, SEV-04b).
    pub hot_outage_minutes: Option<u64>,
    /// Longest outage of a non-hot business, minutes.
    pub non_hot_outage_minutes: Option<u64>,
    /// Key-interface (Call Center, HLR, bank, website, SMP) interruption, minutes (SEV-03 (4), SEV-05 (3)).
    pub interface_outage_minutes: Option<u64>,
    /// Customer-service complaint level, an input set by customer service (SEV-08).
    pub cs_level: Option<ComplaintLevel>,
    /// Potential-impact criteria a person ticked (SEV-03, SEV-05), keys of fault_levels.toml.
    pub potential: Vec<String>,
    /// SEV-06 sub-type of a general fault: affects customers' communication / business handling / query.
    pub affects_customers: bool,
    /// Customers possibly affected while impact is unconfirmed (ESC-01 (2), (5)).
    pub possibly_affected_users: Option<u64>,
    /// Complaints the fault may cause while impact is unconfirmed (ESC-01 (8)).
    pub possible_complaints: Option<u64>,
    /// A system-level fault's actual or expected length, minutes (ESC-01 (6)).
    pub system_outage_minutes: Option<u64>,
    /// How long some functions are, or are expected to be, unusable, minutes (ESC-01 (7)).
    pub function_outage_minutes: Option<u64>,
    /// Facts only the centre-manager criteria read (ESC-07).
    #[serde(default)]
    pub centre: CentreFacts,
}

/// The master's facts with every merged duplicate report folded in (DUP-01, SEV-02/04).
///
/// Each merged report is a complaint of its own, so it adds at least one complaint, and adds its gold/diamond
/// complaints. Impact sizes (users, outage minutes, possible impact) describe the same fault seen by several
/// reporters, so they take the maximum rather than the sum. Clones (DUP-02/03) and dispatch children must not
/// be passed in (DUP-04: count the original only).
pub fn aggregate(master: &IncidentFacts, merged_reports: &[IncidentFacts]) -> IncidentFacts {
    let mut out = master.clone();
    for r in merged_reports {
        out.complaints = out.complaints.saturating_add(r.complaints.max(1));
        out.gold_diamond_complaints = out
            .gold_diamond_complaints
            .saturating_add(r.gold_diamond_complaints);
        out.affected_users = max_opt(out.affected_users, r.affected_users);
        out.hot_outage_minutes = max_opt(out.hot_outage_minutes, r.hot_outage_minutes);
        out.non_hot_outage_minutes = max_opt(out.non_hot_outage_minutes, r.non_hot_outage_minutes);
        out.interface_outage_minutes =
            max_opt(out.interface_outage_minutes, r.interface_outage_minutes);
        out.cs_level = max_opt(out.cs_level, r.cs_level);
        out.possibly_affected_users =
            max_opt(out.possibly_affected_users, r.possibly_affected_users);
        out.possible_complaints = max_opt(out.possible_complaints, r.possible_complaints);
        out.system_outage_minutes = max_opt(out.system_outage_minutes, r.system_outage_minutes);
        out.function_outage_minutes =
            max_opt(out.function_outage_minutes, r.function_outage_minutes);
        out.affects_customers |= r.affects_customers;
        out.centre.fold(&r.centre);
        for k in &r.potential {
            if !out.potential.contains(k) {
                out.potential.push(k.clone());
            }
        }
    }
    out
}

/// ESC-02 / ESC-08 "impact may widen": any count or size of impact grew between two views of the same fault.
/// Lowered or unchanged figures are not a widening; a figure appearing where none was known is.
pub fn impact_widened(before: &IncidentFacts, after: &IncidentFacts) -> bool {
    let grew = |a: Option<u64>, b: Option<u64>| b.unwrap_or(0) > a.unwrap_or(0);
    let (c0, c1) = (&before.centre, &after.centre);
    after.complaints > before.complaints
        || after.gold_diamond_complaints > before.gold_diamond_complaints
        || grew(before.affected_users, after.affected_users)
        || grew(
            before.possibly_affected_users,
            after.possibly_affected_users,
        )
        || grew(before.possible_complaints, after.possible_complaints)
        || (after.affects_customers && !before.affects_customers)
        || c1.comm_failure_complaints > c0.comm_failure_complaints
        || c1.wrong_suspension_complaints > c0.wrong_suspension_complaints
        || c1.billing_anomaly_complaints > c0.billing_anomaly_complaints
        || c1.red_list_customers > c0.red_list_customers
        || grew(
            c0.possibly_comm_failure_users,
            c1.possibly_comm_failure_users,
        )
        || grew(
            c0.possibly_wrong_suspension_users,
            c1.possibly_wrong_suspension_users,
        )
        || grew(
            c0.possibly_billing_anomaly_users,
            c1.possibly_billing_anomaly_users,
        )
}

fn max_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn minutes(m: u64) -> PolicyDuration {
    PolicyDuration::from_seconds(i64::try_from(m.saturating_mul(60)).unwrap_or(i64::MAX))
}

/// Whether `minutes` meets a duration threshold (C-1: 超过 excludes, 不超过/以上 include); zero never meets one.
fn meets(t: &Threshold, m: u64) -> bool {
    let Some(limit) = t.duration else {
        return false;
    };
    let v = minutes(m);
    m > 0
        && match t.compare {
            Compare::MoreThan => v > limit,
            Compare::AtMost => v <= limit,
            Compare::AtLeast => v >= limit,
        }
}

impl IncidentFacts {
    /// The facts as [`classify_fault`] reads them; the key-interface outage picks its SEV-03/05 criterion by the
    /// thresholds in fault_levels.toml.
    pub fn to_fault_facts(&self, policy: &FaultLevelPolicy) -> FaultFacts {
        let mut potential = self.potential.clone();
        if let Some(m) = self.interface_outage_minutes {
            for key in INTERFACE_CRITERIA {
                let hit = policy
                    .potential(key)
                    .and_then(|c| c.threshold.as_ref())
                    .is_some_and(|t| meets(t, m));
                if hit && !potential.iter().any(|p| p == key) {
                    potential.push(key.to_string());
                }
            }
        }
        let mut outages = Vec::new();
        if let Some(m) = self.hot_outage_minutes {
            outages.push(BusinessOutage {
                hot: true,
                minutes: m,
            });
        }
        if let Some(m) = self.non_hot_outage_minutes {
            outages.push(BusinessOutage {
                hot: false,
                minutes: m,
            });
        }
        FaultFacts {
            affected_users: self.affected_users,
            complaints: Some(self.complaints),
            gold_diamond_complaints: Some(self.gold_diamond_complaints),
            outages,
            cs_level: self.cs_level,
            potential,
        }
    }
}

/// One criterion behind a level, with its rule and text in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelReason {
    /// Rule ID, e.g. `SEV-04`.
    pub rule: String,
    /// Fact name or potential-criterion key.
    pub criterion: String,
    /// The level this criterion implies.
    pub level: FaultLevel,
    /// e.g. `二级故障:受影响客户 620 人 ≥ 500 (SEV-04)`.
    pub text_zh: String,
    /// e.g. `FL2: 620 affected users ≥ 500 (SEV-04)`.
    pub text_en: String,
}

/// How a reassessment relates to the ticket's current level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LevelChange {
    /// The ticket had no level yet.
    Initial,
    /// The computed level is above the current one and replaces it (SEV-07: raised automatically).
    Raised {
        /// The previous level.
        from: FaultLevel,
    },
    /// Same level.
    Unchanged,
    /// The facts now point lower; the level is kept because lowering is manual only (SEV-07).
    WouldLower {
        /// What the facts alone would give.
        computed: FaultLevel,
    },
}

/// The ticket's level after a reassessment and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// The level the ticket has now: never below the current one.
    pub level: FaultLevel,
    /// The level the facts alone give.
    pub computed: FaultLevel,
    /// Every criterion met, most severe first.
    pub reasons: Vec<LevelReason>,
    /// Relation to the previous level.
    pub change: LevelChange,
}

/// SEV-07: recomputes the level from `facts`; it may rise automatically but is never lowered (see
/// [`lower_manually`]). Call it on every fact change, including a merge ([`aggregate`]).
pub fn reassess(
    current: Option<FaultLevel>,
    facts: &IncidentFacts,
    policy: &FaultLevelPolicy,
) -> Result<Assessment, ClassifyError> {
    let ff = facts.to_fault_facts(policy);
    let c = classify_fault(&ff, policy)?;
    let mut reasons: Vec<LevelReason> = c
        .reasons
        .iter()
        .map(|r| describe(r, facts, policy))
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.level));
    let (level, change) = match current {
        None => (c.level, LevelChange::Initial),
        Some(cur) if c.level > cur => (c.level, LevelChange::Raised { from: cur }),
        Some(cur) if c.level == cur => (cur, LevelChange::Unchanged),
        Some(cur) => {
            reasons.insert(
                0,
                LevelReason {
                    rule: "SEV-07".into(),
                    criterion: "kept".into(),
                    level: cur,
                    text_zh: format!(
                        "保持{}:等级只能人工降低并注明原因 (SEV-07),当前事实对应{}",
                        cur.name_zh(),
                        c.level.name_zh()
                    ),
                    text_en: format!(
                        "{cur} kept: a level is lowered only manually with a reason (SEV-07); the facts alone give {}",
                        c.level
                    ),
                },
            );
            (cur, LevelChange::WouldLower { computed: c.level })
        }
    };
    Ok(Assessment {
        level,
        computed: c.level,
        reasons,
        change,
    })
}

/// Writes one classifier reason as text in both languages, with the band it fell into.
fn describe(r: &crate::classify::Reason, f: &IncidentFacts, p: &FaultLevelPolicy) -> LevelReason {
    let imp = if r.level == FaultLevel::FL2 {
        &p.fl2
    } else {
        &p.fl1
    };
    fn band<T: std::fmt::Display>(min: &T, max: &Option<T>) -> String {
        match max {
            Some(max) => format!("≥ {min} and < {max}"),
            None => format!("≥ {min}"),
        }
    }
    fn band_zh<T: std::fmt::Display>(min: &T, max: &Option<T>) -> String {
        match max {
            Some(max) => format!("≥ {min} 且 < {max}"),
            None => format!("≥ {min}"),
        }
    }
    let mins = |m: Option<u64>| minutes(m.unwrap_or(0));
    let (en, zh) = match r.criterion.as_str() {
        "affected_users" => (
            format!(
                "{} affected users {}",
                f.affected_users.unwrap_or(0),
                band(&imp.users.min, &imp.users.max)
            ),
            format!(
                "受影响客户 {} 人 {}",
                f.affected_users.unwrap_or(0),
                band_zh(&imp.users.min, &imp.users.max)
            ),
        ),
        "complaints" => (
            format!(
                "{} complaints {}",
                f.complaints,
                band(&imp.complaints.min, &imp.complaints.max)
            ),
            format!(
                "投诉/咨询 {} 单 {}",
                f.complaints,
                band_zh(&imp.complaints.min, &imp.complaints.max)
            ),
        ),
        "gold_diamond_complaints" => {
            let b = &imp.gold_diamond_complaints;
            (
                format!(
                    "{} gold/diamond-card complaints {}",
                    f.gold_diamond_complaints,
                    band(&b.min, &b.max)
                ),
                format!(
                    "金、钻卡客户投诉 {} 单 {}",
                    f.gold_diamond_complaints,
                    band_zh(&b.min, &b.max)
                ),
            )
        }
        "hot_outage" => {
            let b = &imp.hot_outage;
            let d = mins(f.hot_outage_minutes);
            (
                format!("hot business unavailable {d} {}", band(&b.min, &b.max)),
                format!("热点业务受影响 {d} {}", band_zh(&b.min, &b.max)),
            )
        }
        "non_hot_outage" => {
            let b = &imp.non_hot_outage;
            let d = mins(f.non_hot_outage_minutes);
            (
                format!("non-hot business unavailable {d} {}", band(&b.min, &b.max)),
                format!("非热点业务受影响 {d} {}", band_zh(&b.min, &b.max)),
            )
        }
        "cs_complaint" => {
            let b = &imp.cs_complaint;
            let cs = f.cs_level.map(|c| c.to_string()).unwrap_or_default();
            (
                format!("customer-service complaint {cs} {}", band(&b.min, &b.max)),
                format!("客服投诉等级 {cs} {}", band_zh(&b.min, &b.max)),
            )
        }
        key => {
            let text = p.potential(key).map_or(key, |c| c.text_zh.as_str());
            (format!("potential impact '{key}'"), text.to_string())
        }
    };
    LevelReason {
        rule: r.rule.clone(),
        criterion: r.criterion.clone(),
        level: r.level,
        text_zh: format!("{}:{zh} ({})", r.level.name_zh(), r.rule),
        text_en: format!("{}: {en} ({})", r.level, r.rule),
    }
}

/// A manual lowering, to be recorded with the ticket's history (SEV-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualLowering {
    /// Level before.
    pub from: FaultLevel,
    /// Level after.
    pub to: FaultLevel,
    /// Why, as given by the user (trimmed).
    pub reason: String,
}

/// Why a manual lowering was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LowerError {
    /// SEV-07 demands a reason.
    #[error("lowering a fault level requires a reason (SEV-07)")]
    ReasonRequired,
    /// The target is not below the current level (raising is automatic, SEV-07).
    #[error("{to} is not below the current level {from}")]
    NotLower {
        /// Current level.
        from: FaultLevel,
        /// Requested level.
        to: FaultLevel,
    },
}

/// SEV-07: the only way a level goes down: explicitly, to a lower level, with a non-empty reason.
pub fn lower_manually(
    current: FaultLevel,
    to: FaultLevel,
    reason: &str,
) -> Result<ManualLowering, LowerError> {
    if to >= current {
        return Err(LowerError::NotLower { from: current, to });
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(LowerError::ReasonRequired);
    }
    Ok(ManualLowering {
        from: current,
        to,
        reason: reason.to_string(),
    })
}

/// One criterion of an immediate-report rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredCriterion {
    /// Rule ID (ESC-01, INC-09).
    pub rule: String,
    /// The seed's item number within the rule, e.g. `3`.
    pub item: u8,
    /// Stable key.
    pub key: String,
    /// Chinese text with the observed value.
    pub text_zh: String,
    /// English text with the observed value.
    pub text_en: String,
}

/// ESC-01: which immediate-report (phone the room manager) criteria the ticket meets now. Item (9), "no
/// substantive progress 1 hour after reporting to the vendor", is a clock, planned by the escalation planner.
pub fn immediate_report_criteria(
    level: FaultLevel,
    facts: &IncidentFacts,
    p: &ImmediateReportPolicy,
) -> Vec<FiredCriterion> {
    let mut out = Vec::new();
    let mut fire = |item: u8, key: &str, zh: String, en: String| {
        out.push(FiredCriterion {
            rule: p.rule.clone(),
            item,
            key: key.to_string(),
            text_zh: format!("{zh} ({} ({item}))", p.rule),
            text_en: format!("{en} ({} ({item}))", p.rule),
        });
    };
    if p.levels.contains(&level) {
        fire(
            1,
            "fault_level",
            format!("已定为{}", level.name_zh()),
            format!("classified {level}"),
        );
    }
    if let Some(n) = facts
        .possibly_affected_users
        .filter(|n| *n > p.possibly_affected_users_more_than)
    {
        let lim = p.possibly_affected_users_more_than;
        fire(
            2,
            "possibly_affected_users",
            format!("可能受影响客户 {n} 人 > {lim}"),
            format!("{n} customers possibly affected > {lim}"),
        );
    }
    if facts.complaints >= p.similar_complaints_at_least {
        let (n, lim) = (facts.complaints, p.similar_complaints_at_least);
        fire(
            3,
            "similar_complaints",
            format!("已收到同类投诉 {n} 单 ≥ {lim}"),
            format!("{n} similar complaints ≥ {lim}"),
        );
    }
    if let Some(n) = facts
        .affected_users
        .filter(|n| *n >= p.confirmed_users_at_least)
    {
        let lim = p.confirmed_users_at_least;
        fire(
            4,
            "confirmed_users",
            format!("已确认受影响客户 {n} 人 ≥ {lim}"),
            format!("{n} customers confirmed affected ≥ {lim}"),
        );
    }
    if let Some(m) = facts
        .system_outage_minutes
        .filter(|m| minutes(*m) > p.system_outage_more_than)
    {
        let (d, lim) = (minutes(m), p.system_outage_more_than);
        fire(
            6,
            "system_outage",
            format!("系统级故障持续(或预计){d} > {lim}"),
            format!("system-level fault lasting (or expected) {d} > {lim}"),
        );
    }
    if let Some(m) = facts
        .function_outage_minutes
        .filter(|m| minutes(*m) > p.function_outage_more_than)
    {
        let (d, lim) = (minutes(m), p.function_outage_more_than);
        fire(
            7,
            "function_outage",
            format!("部分功能无法使用(或预计){d} > {lim}"),
            format!("functions unusable (or expected) {d} > {lim}"),
        );
    }
    if let Some(n) = facts
        .possible_complaints
        .filter(|n| *n >= p.possible_complaints_at_least)
    {
        let lim = p.possible_complaints_at_least;
        fire(
            8,
            "possible_complaints",
            format!("可能引起投诉 {n} 单 ≥ {lim}"),
            format!("{n} complaints possible ≥ {lim}"),
        );
    }
    out
}

/// INC-09: whether the emergency procedure starts (the same fault hits at least `customers_at_least` customers,
/// Proposed default 11 for "超过10个以上"); the returned criterion is reported to the room manager.
pub fn emergency_trigger(facts: &IncidentFacts, p: &EmergencyPolicy) -> Option<FiredCriterion> {
    let n = facts
        .affected_users
        .filter(|n| *n >= p.customers_at_least)?;
    Some(FiredCriterion {
        rule: p.rule.clone(),
        item: 1,
        key: "same_fault_customers".into(),
        text_zh: format!(
            "同一故障影响客户 {n} 人 ≥ {},启动应急流程,先发故障通知短信 ({})",
            p.customers_at_least, p.rule
        ),
        text_en: format!(
            "same fault hits {n} customers ≥ {}: emergency procedure starts with a fault-notice SMS ({})",
            p.customers_at_least, p.rule
        ),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn esc_02_impact_widens_when_a_count_grows_not_when_it_shrinks_or_durations_change() {
        let before = IncidentFacts {
            affected_users: Some(40),
            complaints: 5,
            ..Default::default()
        };
        let mut after = before.clone();
        after.hot_outage_minutes = Some(90);
        assert!(!impact_widened(&before, &after));
        after.complaints = 4;
        assert!(!impact_widened(&before, &after));
        after.affected_users = Some(41);
        assert!(impact_widened(&before, &after));
        let mut red = before.clone();
        red.centre.red_list_customers = 1;
        assert!(impact_widened(&before, &red));
    }

    use super::*;
    use crate::incident::test_support::default_pack;

    fn users(n: u64) -> IncidentFacts {
        IncidentFacts {
            affected_users: Some(n),
            ..IncidentFacts::default()
        }
    }

    fn level(f: &IncidentFacts) -> FaultLevel {
        let p = default_pack();
        reassess(None, f, &p.fault_levels).unwrap().level
    }

    #[test]
    fn fl2_reason_reads_620_affected_users_at_least_500_sev_04() {
        let p = default_pack();
        let a = reassess(None, &users(620), &p.fault_levels).unwrap();
        assert_eq!(a.level, FaultLevel::FL2);
        assert_eq!(a.change, LevelChange::Initial);
        assert_eq!(
            a.reasons[0].text_en,
            "FL2: 620 affected users ≥ 500 (SEV-04)"
        );
        assert_eq!(
            a.reasons[0].text_zh,
            "二级故障:受影响客户 620 人 ≥ 500 (SEV-04)"
        );
        let b = reassess(None, &users(120), &p.fault_levels).unwrap();
        assert_eq!(
            b.reasons[0].text_en,
            "FL1: 120 affected users ≥ 50 and < 500 (SEV-02)"
        );
    }

    #[test]
    fn sev_07_level_is_raised_automatically_but_never_lowered() {
        let p = default_pack();
        let up = reassess(Some(FaultLevel::FL1), &users(620), &p.fault_levels).unwrap();
        assert_eq!(
            up.change,
            LevelChange::Raised {
                from: FaultLevel::FL1
            }
        );
        let down = reassess(Some(FaultLevel::FL2), &users(60), &p.fault_levels).unwrap();
        assert_eq!(down.level, FaultLevel::FL2);
        assert_eq!(
            down.change,
            LevelChange::WouldLower {
                computed: FaultLevel::FL1
            }
        );
        assert!(down.reasons[0].text_en.starts_with("FL2 kept"));
        let same = reassess(Some(FaultLevel::FL1), &users(60), &p.fault_levels).unwrap();
        assert_eq!(same.change, LevelChange::Unchanged);
    }

    #[test]
    fn sev_07_lowering_only_manually_with_a_reason() {
        assert_eq!(
            lower_manually(FaultLevel::FL2, FaultLevel::FL1, "  "),
            Err(LowerError::ReasonRequired)
        );
        assert_eq!(
            lower_manually(FaultLevel::FL1, FaultLevel::FL2, "x"),
            Err(LowerError::NotLower {
                from: FaultLevel::FL1,
                to: FaultLevel::FL2
            })
        );
        let l = lower_manually(
            FaultLevel::FL2,
            FaultLevel::General,
            " 影响面核实后仅 3 户 ",
        )
        .unwrap();
        assert_eq!(l.reason, "影响面核实后仅 3 户");
    }

    #[test]
    fn sev_08_cs_level_is_an_input_cs1_fl1_cs2_fl2() {
        let cs = |n| IncidentFacts {
            cs_level: ComplaintLevel::new(n),
            ..IncidentFacts::default()
        };
        assert_eq!(level(&cs(1)), FaultLevel::FL1);
        assert_eq!(level(&cs(2)), FaultLevel::FL2);
        assert_eq!(level(&cs(4)), FaultLevel::FL2);
    }

    #[test]
    fn sev_03_05_key_interface_outage_picks_the_criterion_by_length() {
        let f = |m| IncidentFacts {
            interface_outage_minutes: Some(m),
            ..IncidentFacts::default()
        };
        assert_eq!(level(&f(30)), FaultLevel::FL1);
        assert_eq!(level(&f(31)), FaultLevel::FL2);
        assert_eq!(level(&f(0)), FaultLevel::General);
    }

    #[test]
    fn dup_04_merged_reports_add_complaints_clones_are_not_passed() {
        let master = IncidentFacts {
            complaints: 18,
            gold_diamond_complaints: 1,
            affected_users: Some(40),
            ..IncidentFacts::default()
        };
        let report = |gd| IncidentFacts {
            complaints: 0,
            gold_diamond_complaints: gd,
            affected_users: Some(45),
            ..IncidentFacts::default()
        };
        let agg = aggregate(&master, &[report(1), report(0)]);
        assert_eq!(agg.complaints, 20);
        assert_eq!(agg.gold_diamond_complaints, 2);
        assert_eq!(
            agg.affected_users,
            Some(45),
            "impact sizes take the maximum"
        );
        assert_eq!(level(&agg), FaultLevel::FL1);
        assert_eq!(level(&master), FaultLevel::General);
    }
}
