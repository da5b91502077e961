//! The incident vocabulary (INC-01..INC-05): states, channels, cause classes, hand-off kinds and workflow actions.
//! Every enum is a closed set with a stable snake_case code shared by the pack, the API and the database.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{input}' (expected one of: {expected})")]
pub struct UnknownCode {
    /// Which vocabulary was being parsed.
    pub kind: &'static str,
    /// The rejected text.
    pub input: String,
    /// The accepted codes, comma-separated.
    pub expected: String,
}

/// Declares a closed vocabulary with stable codes, `ALL`, `as_str`, Chinese labels, Display and FromStr.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $code:literal, $zh:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable snake_case code.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The Chinese label shown to users.
            pub fn label_zh(self) -> &'static str {
                match self {
                    $($name::$variant => $zh,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownCode {
                        kind: $kind,
                        input: s.to_string(),
                        expected: $name::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

vocabulary! {
    /// Where an incident is in its lifecycle (INC-01..INC-05); the allowed moves are data (incident_workflow.toml).
    IncidentState, "incident state" {
        /// Received, nobody has taken it yet.
        New => "new", "新建";
        /// A pre-processor works it: classifies the cause (INC-02) and decides the route (INC-03).
        PreProcessing => "pre_processing", "预处理中";
        /// At least one hand-off (vendor, billing centre, data fix, branch, other department) awaits its reply (INC-03).
        HandedOff => "handed_off", "已转派";
        /// Waiting for the customer or front line; clocks that say so are paused.
        AwaitingCustomer => "awaiting_customer", "等待客户/前台";
        /// Submitted with the handling opinion; a reviewer other than the handler checks it (INC-05).
        InReview => "in_review", "审核中";
        /// The reviewer approved the result; the reply to the front line is next (INC-05).
        Approved => "approved", "审核通过";
        /// The front line has been answered (INC-05).
        Replied => "replied", "已回复前台";
        /// Archived with its ticket category (INC-05).
        Closed => "closed", "已关闭";
        /// Withdrawn with a reason.
        Cancelled => "cancelled", "已取消";
    }
}

impl IncidentState {
    /// Whether the fault is still being worked (not yet answered, closed or cancelled); escalation clocks run here.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            IncidentState::Replied | IncidentState::Closed | IncidentState::Cancelled
        )
    }
}

vocabulary! {
    /// How the report reached the desk (INC-10: monitoring system, e-mail, phone, observation).
    SourceChannel, "source channel" {
        /// Phone hotline.
        Hotline => "hotline", "热线电话";
        /// IM / chat group.
        ImGroup => "im_group", "即时通讯群";
        /// An alert from the monitoring system.
        MonitoringAlert => "monitoring_alert", "监控告警";
        /// E-mail.
        Email => "email", "电子邮件";
        /// Another system through the API.
        Api => "api", "接口";
        /// Found by our own staff; must be declared immediately (INC-10).
        FoundByStaff => "found_by_staff", "自行发现";
    }
}

vocabulary! {
    /// The pre-processor's cause classification on receipt (INC-02).
    CauseClass, "cause class" {
        /// System fault: transferred to the responsible vendor.
        SystemFault => "system_fault", "系统故障";
        /// Front-desk error: returned to the front line to fix.
        FrontLineError => "front_line_error", "前台操作错误";
        /// Business rule: the front line is told the rule.
        BusinessRule => "business_rule", "业务规则";
    }
}

vocabulary! {
    /// Where a ticket is handed while pre-processing or review continues (INC-03, INC-05).
    HandoffKind, "hand-off kind" {
        /// The responsible (AMS) vendor; tracked in real time, its reply reviewed (INC-03).
        Vendor => "vendor", "开发商";
        /// The day's billing-declaration duty, towards the provincial billing centre (INC-03).
        BillingCentre => "billing_centre", "计费申告";
        /// The day's data-modification duty, with the pre-processor's script attached (INC-03).
        DataFix => "data_fix", "数据修改";
        /// The branch of the ticket's home city (DUP-01).
        Branch => "branch", "分部";
        /// Another department, coordinated by the reviewer (INC-03, INC-05).
        OtherDepartment => "other_department", "其他部门";
    }
}

vocabulary! {
    /// A workflow move a user asks for; which ones apply depends on state and permission (incident_workflow.toml).
    Action, "action" {
        /// Take a new ticket into pre-processing; the taker becomes the handler (INC-01).
        Accept => "accept", "受理";
        /// Record the cause class (INC-02) or other triage facts without changing state.
        Classify => "classify", "定性";
        /// Hand the ticket to a vendor, duty, branch or department (INC-03).
        HandOff => "hand_off", "转派";
        /// Record a hand-off's reply; back to pre-processing when no other hand-off is open (INC-03).
        ReceiveReply => "receive_reply", "接收回复";
        /// Wait for the customer or front line.
        AwaitCustomer => "await_customer", "等待客户";
        /// The customer or front line answered.
        Resume => "resume", "恢复处理";
        /// Submit with the handling opinion for review (INC-05).
        SubmitForAudit => "submit_for_audit", "提交审核";
        /// Review passed; four-eyes (INC-05).
        Approve => "approve", "审核通过";
        /// Review failed; back to pre-processing; four-eyes (INC-05).
        ReturnForRework => "return_for_rework", "退回重办";
        /// Answer the front line (INC-05).
        Reply => "reply", "回复前台";
        /// Archive the ticket (INC-05); refused while dispatch children are open (DUP-04).
        Close => "close", "关闭";
        /// Reopen an answered or closed ticket, with a reason.
        Reopen => "reopen", "重新打开";
        /// Withdraw the ticket, with a reason.
        Cancel => "cancel", "取消";
        /// Lower the fault level by hand, with a reason (SEV-07); the state does not change.
        LowerSeverity => "lower_severity", "手工降级";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_display_fromstr_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr + PartialEq + fmt::Debug + Serialize,
            T::Err: fmt::Debug,
        {
            for v in all {
                let code = v.to_string();
                assert_eq!(code.parse::<T>().unwrap(), *v);
                assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{code}\""));
            }
        }
        check(IncidentState::ALL);
        check(SourceChannel::ALL);
        check(CauseClass::ALL);
        check(HandoffKind::ALL);
        check(Action::ALL);
    }

    #[test]
    fn inc_02_has_exactly_three_cause_classes_and_inc_03_five_handoff_kinds() {
        assert_eq!(CauseClass::ALL.len(), 3);
        assert_eq!(HandoffKind::ALL.len(), 5);
        assert_eq!(SourceChannel::ALL.len(), 6);
        assert_eq!(
            "billing_centre".parse::<HandoffKind>(),
            Ok(HandoffKind::BillingCentre)
        );
        let e = "vendorr".parse::<HandoffKind>().unwrap_err();
        assert!(e.to_string().contains("vendor, billing_centre"), "{e}");
    }
}
