//! ESC-07: when the room manager must phone the centre manager. The facts these criteria read are kept apart
//! from the SEV facts because only this rule uses them; every number comes from escalation.toml.

use serde::{Deserialize, Serialize};

use super::severity::{FiredCriterion, IncidentFacts};
use crate::policy::{CentreManagerPolicy, PolicyDuration};

/// A fault kind whose recurrences within one calendar month are counted (ESC-07 (12), (13); DUP-06: several
/// recurrences on one day count as several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrenceKind {
    /// System-login instability (ESC-07 (12)).
    SystemLoginInstability,
    /// Self-service-channel login failure (ESC-07 (13)).
    SelfServiceLoginFailure,
}

impl RecurrenceKind {
    /// Every kind.
    pub const ALL: &'static [RecurrenceKind] = &[
        RecurrenceKind::SystemLoginInstability,
        RecurrenceKind::SelfServiceLoginFailure,
    ];

    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            RecurrenceKind::SystemLoginInstability => "system_login_instability",
            RecurrenceKind::SelfServiceLoginFailure => "self_service_login_failure",
        }
    }
}

impl std::str::FromStr for RecurrenceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecurrenceKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown recurrence kind '{s}' (expected one of: system_login_instability, self_service_login_failure)"
                )
            })
    }
}

/// Facts only the centre-manager criteria read (ESC-07); counts start at zero, unknowns are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CentreFacts {
    /// (1) customers complaining they cannot communicate, HLR re-provisioning did not restore them.
    pub comm_failure_complaints: u64,
    /// (2) customers possibly unable to communicate.
    pub possibly_comm_failure_users: Option<u64>,
    /// (3) customers complaining of wrongful suspension.
    pub wrong_suspension_complaints: u64,
    /// (4) customers possibly wrongly suspended.
    pub possibly_wrong_suspension_users: Option<u64>,
    /// (5) complaints of abnormal balance, charging, bank deduction, or no re-activation after payment.
    pub billing_anomaly_complaints: u64,
    /// (6) customers possibly hit by such anomalies.
    pub possibly_billing_anomaly_users: Option<u64>,
    /// (7) minutes self-service channels cannot query/print call details.
    pub self_service_detail_outage_minutes: Option<u64>,
    /// (8) minutes BOSS, CC or IBOSS login is impossible.
    pub core_login_outage_minutes: Option<u64>,
    /// (9) minutes since important data was lost with no confirmed fix.
    pub data_loss_unfixed_minutes: Option<u64>,
    /// (10) red-list customers wrongly suspended or disturbed.
    pub red_list_customers: u64,
    /// (12), (13) the recurring fault kind this ticket is one occurrence of.
    pub recurrence: Option<RecurrenceKind>,
    /// (14) minutes the BOSS/IBOSS interfaces with CC, HLR, bank active payment or SMP are fully down.
    pub core_interface_outage_minutes: Option<u64>,
}

impl CentreFacts {
    /// Folds a merged duplicate report in: complaint counts add up (each report is a complaint of its own),
    /// sizes and durations of the one fault take the maximum.
    pub fn fold(&mut self, r: &CentreFacts) {
        self.comm_failure_complaints = self
            .comm_failure_complaints
            .saturating_add(r.comm_failure_complaints);
        self.wrong_suspension_complaints = self
            .wrong_suspension_complaints
            .saturating_add(r.wrong_suspension_complaints);
        self.billing_anomaly_complaints = self
            .billing_anomaly_complaints
            .saturating_add(r.billing_anomaly_complaints);
        self.red_list_customers = self.red_list_customers.saturating_add(r.red_list_customers);
        let max = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, None) => a,
            (None, b) => b,
        };
        self.possibly_comm_failure_users = max(
            self.possibly_comm_failure_users,
            r.possibly_comm_failure_users,
        );
        self.possibly_wrong_suspension_users = max(
            self.possibly_wrong_suspension_users,
            r.possibly_wrong_suspension_users,
        );
        self.possibly_billing_anomaly_users = max(
            self.possibly_billing_anomaly_users,
            r.possibly_billing_anomaly_users,
        );
        self.self_service_detail_outage_minutes = max(
            self.self_service_detail_outage_minutes,
            r.self_service_detail_outage_minutes,
        );
        self.core_login_outage_minutes =
            max(self.core_login_outage_minutes, r.core_login_outage_minutes);
        self.data_loss_unfixed_minutes =
            max(self.data_loss_unfixed_minutes, r.data_loss_unfixed_minutes);
        self.core_interface_outage_minutes = max(
            self.core_interface_outage_minutes,
            r.core_interface_outage_minutes,
        );
        self.recurrence = self.recurrence.or(r.recurrence);
    }
}

fn minutes(m: u64) -> PolicyDuration {
    PolicyDuration::from_seconds(i64::try_from(m.saturating_mul(60)).unwrap_or(i64::MAX))
}

/// ESC-07: the centre-manager criteria the ticket meets now. `recurrences_this_month` counts the tickets of the
/// same recurring fault kind (this one included) in the ticket's calendar month, for items (12) and (13).
pub fn centre_manager_criteria(
    facts: &IncidentFacts,
    recurrences_this_month: u64,
    p: &CentreManagerPolicy,
) -> Vec<FiredCriterion> {
    let c = &facts.centre;
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
    let mut count_more = |item: u8, key: &str, n: u64, lim: u64, zh: &str, en: &str| {
        if n > lim {
            fire(
                item,
                key,
                format!("{zh} {n} > {lim}"),
                format!("{en} {n} > {lim}"),
            );
        }
    };
    count_more(
        1,
        "comm_failure_complaints",
        c.comm_failure_complaints,
        p.comm_failure_complaints_more_than,
        "投诉不能正常通信(补HLR无效)的客户",
        "customers complaining they cannot communicate (HLR re-provisioning did not help)",
    );
    count_more(
        2,
        "possibly_comm_failure_users",
        c.possibly_comm_failure_users.unwrap_or(0),
        p.possibly_comm_failure_users_more_than,
        "可能不能正常通信的客户",
        "customers possibly unable to communicate",
    );
    count_more(
        3,
        "wrong_suspension_complaints",
        c.wrong_suspension_complaints,
        p.wrong_suspension_complaints_more_than,
        "投诉被误停机的客户",
        "customers complaining of wrongful suspension",
    );
    count_more(
        4,
        "possibly_wrong_suspension_users",
        c.possibly_wrong_suspension_users.unwrap_or(0),
        p.possibly_wrong_suspension_users_more_than,
        "可能被误停机的客户",
        "customers possibly wrongly suspended",
    );
    count_more(
        5,
        "billing_anomaly_complaints",
        c.billing_anomaly_complaints,
        p.billing_anomaly_complaints_more_than,
        "投诉余额/计费/银行扣款异常或缴费未开机的客户",
        "customers complaining of abnormal balance, charging, bank deduction or no re-activation",
    );
    count_more(
        6,
        "possibly_billing_anomaly_users",
        c.possibly_billing_anomaly_users.unwrap_or(0),
        p.possibly_billing_anomaly_users_more_than,
        "可能受计费异常影响的客户",
        "customers possibly hit by billing anomalies",
    );
    let mut longer =
        |item: u8, key: &str, m: Option<u64>, lim: PolicyDuration, zh: &str, en: &str| {
            if let Some(m) = m.filter(|m| minutes(*m) > lim) {
                let d = minutes(m);
                fire(
                    item,
                    key,
                    format!("{zh} {d} > {lim}"),
                    format!("{en} {d} > {lim}"),
                );
            }
        };
    longer(
        7,
        "self_service_detail_outage",
        c.self_service_detail_outage_minutes,
        p.self_service_detail_outage_more_than,
        "自助渠道无法查询/打印清单",
        "self-service channels cannot query/print call details for",
    );
    longer(
        8,
        "core_login_outage",
        c.core_login_outage_minutes,
        p.core_login_outage_more_than,
        "BOSS/CC/IBOSS 无法登录",
        "BOSS/CC/IBOSS login impossible for",
    );
    longer(
        9,
        "data_loss_unfixed",
        c.data_loss_unfixed_minutes,
        p.data_loss_unfixed_more_than,
        "重要数据丢失且未确认恢复已",
        "important data lost, no confirmed fix for",
    );
    longer(
        14,
        "core_interface_outage",
        c.core_interface_outage_minutes,
        p.core_interface_outage_more_than,
        "BOSS/IBOSS 与 CC/HLR/银行主动缴费/SMP 接口全面中断",
        "BOSS/IBOSS interfaces with CC/HLR/bank/SMP fully down for",
    );
    if c.red_list_customers >= p.red_list_customers_at_least {
        let (n, lim) = (c.red_list_customers, p.red_list_customers_at_least);
        fire(
            10,
            "red_list_customers",
            format!("红名单客户被误停机或骚扰 {n} 名 ≥ {lim}"),
            format!("{n} red-list customers wrongly suspended or disturbed ≥ {lim}"),
        );
    }
    if facts.complaints >= p.other_complaints_at_least {
        let (n, lim) = (facts.complaints, p.other_complaints_at_least);
        fire(
            11,
            "other_complaints",
            format!("投诉 {n} 单 ≥ {lim}"),
            format!("{n} complaints ≥ {lim}"),
        );
    } else if let Some(n) = facts
        .possibly_affected_users
        .filter(|n| *n > p.possibly_affected_users_more_than)
    {
        let lim = p.possibly_affected_users_more_than;
        fire(
            11,
            "other_complaints",
            format!("可能影响客户 {n} 人 > {lim}"),
            format!("{n} customers possibly affected > {lim}"),
        );
    }
    match c.recurrence {
        Some(RecurrenceKind::SystemLoginInstability)
            if recurrences_this_month > p.login_instability_per_month_more_than =>
        {
            let lim = p.login_instability_per_month_more_than;
            fire(
                12,
                "login_instability_recurring",
                format!("本月系统登录不稳定已反复 {recurrences_this_month} 次 > {lim}"),
                format!(
                    "system-login instability {recurrences_this_month} times this month > {lim}"
                ),
            );
        }
        Some(RecurrenceKind::SelfServiceLoginFailure)
            if recurrences_this_month > p.self_service_login_failures_per_month_more_than =>
        {
            let lim = p.self_service_login_failures_per_month_more_than;
            fire(
                13,
                "self_service_login_recurring",
                format!("本月自助渠道不能登录已反复 {recurrences_this_month} 次 > {lim}"),
                format!(
                    "self-service login failure {recurrences_this_month} times this month > {lim}"
                ),
            );
        }
        _ => {}
    }
    if let Some(cs) = facts.cs_level.filter(|cs| *cs >= p.cs_progress_at_least) {
        let lim = p.cs_progress_at_least;
        fire(
            15,
            "cs_progress",
            format!("客服{cs}投诉(≥{lim})处理进展"),
            format!("progress of a {cs} complaint (≥ {lim})"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::test_support::default_pack;
    use crate::ComplaintLevel;

    fn items(f: &IncidentFacts, rec: u64) -> Vec<u8> {
        let pack = default_pack();
        centre_manager_criteria(f, rec, &pack.escalation.centre_manager_report)
            .iter()
            .map(|c| c.item)
            .collect()
    }

    fn with(c: CentreFacts) -> IncidentFacts {
        IncidentFacts {
            centre: c,
            ..Default::default()
        }
    }

    #[test]
    fn esc_07_counts_use_more_than_thirty_and_more_than_a_hundred() {
        // C-1: 超过30名 excludes 30.
        let at = |n| {
            with(CentreFacts {
                comm_failure_complaints: n,
                wrong_suspension_complaints: n,
                billing_anomaly_complaints: n,
                ..Default::default()
            })
        };
        assert!(items(&at(30), 0).is_empty());
        assert_eq!(items(&at(31), 0), vec![1, 3, 5]);
        let possibly = |n| {
            with(CentreFacts {
                possibly_comm_failure_users: Some(n),
                possibly_wrong_suspension_users: Some(n),
                possibly_billing_anomaly_users: Some(n),
                ..Default::default()
            })
        };
        assert!(items(&possibly(100), 0).is_empty());
        assert_eq!(items(&possibly(101), 0), vec![2, 4, 6]);
    }

    #[test]
    fn esc_07_durations_two_hours_and_thirty_minutes_are_exclusive() {
        let f = |detail, login, loss, iface| {
            with(CentreFacts {
                self_service_detail_outage_minutes: Some(detail),
                core_login_outage_minutes: Some(login),
                data_loss_unfixed_minutes: Some(loss),
                core_interface_outage_minutes: Some(iface),
                ..Default::default()
            })
        };
        assert!(items(&f(120, 30, 30, 30), 0).is_empty());
        assert_eq!(items(&f(121, 31, 31, 31), 0), vec![7, 8, 9, 14]);
    }

    #[test]
    fn esc_07_one_red_list_customer_is_enough() {
        let f = with(CentreFacts {
            red_list_customers: 1,
            ..Default::default()
        });
        assert_eq!(items(&f, 0), vec![10]);
        assert!(items(&with(CentreFacts::default()), 0).is_empty());
    }

    #[test]
    fn esc_07_item_11_250_complaints_or_more_than_500_possibly_affected() {
        let complaints = |n| IncidentFacts {
            complaints: n,
            ..Default::default()
        };
        assert!(items(&complaints(249), 0).is_empty());
        assert_eq!(items(&complaints(250), 0), vec![11]);
        let possibly = |n| IncidentFacts {
            possibly_affected_users: Some(n),
            ..Default::default()
        };
        assert!(items(&possibly(500), 0).is_empty());
        assert_eq!(items(&possibly(501), 0), vec![11]);
    }

    #[test]
    fn esc_07_recurrences_in_a_month_more_than_three_and_more_than_five() {
        let f = |k| {
            with(CentreFacts {
                recurrence: Some(k),
                ..Default::default()
            })
        };
        let login = f(RecurrenceKind::SystemLoginInstability);
        assert!(items(&login, 3).is_empty());
        assert_eq!(items(&login, 4), vec![12]);
        let self_service = f(RecurrenceKind::SelfServiceLoginFailure);
        assert!(items(&self_service, 5).is_empty());
        assert_eq!(items(&self_service, 6), vec![13]);
    }

    #[test]
    fn esc_07_item_15_cs4_complaint_progress() {
        let f = |n| IncidentFacts {
            cs_level: ComplaintLevel::new(n),
            ..Default::default()
        };
        assert!(items(&f(3), 0).is_empty());
        assert_eq!(items(&f(4), 0), vec![15]);
    }

    #[test]
    fn merged_reports_add_complaints_and_keep_the_longest_outage() {
        let mut a = CentreFacts {
            wrong_suspension_complaints: 20,
            core_login_outage_minutes: Some(20),
            ..Default::default()
        };
        a.fold(&CentreFacts {
            wrong_suspension_complaints: 11,
            core_login_outage_minutes: Some(35),
            ..Default::default()
        });
        assert_eq!(a.wrong_suspension_complaints, 31);
        assert_eq!(a.core_login_outage_minutes, Some(35));
        assert_eq!(items(&with(a), 0), vec![3, 8]);
    }
}
