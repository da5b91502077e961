//! Back-end data operations (DATA-01..DATA-18): classification, who may do what, the approval chain and the
//! peak-hour ban. Pure: the numbers come from data_ops.toml, the time and the people are parameters.

pub mod script;

use std::fmt;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use crate::policy::DataOpsPolicy;

/// DATA-01: what an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Insert / update / delete on back-end tables.
    Modification,
    /// Query and export.
    Extraction,
}

impl OpKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Modification => "modification",
            OpKind::Extraction => "extraction",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "modification" => Some(OpKind::Modification),
            "extraction" => Some(OpKind::Extraction),
            _ => None,
        }
    }
}

/// DATA-13 (PD): `submitted → biz_approved → tech_approved → executed → reviewed`; no step may be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    Submitted,
    BizApproved,
    TechApproved,
    Executed,
    Reviewed,
    /// Withdrawn by the submitter or rejected by an approver before execution.
    Rejected,
}

impl OpState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Submitted => "submitted",
            OpState::BizApproved => "biz_approved",
            OpState::TechApproved => "tech_approved",
            OpState::Executed => "executed",
            OpState::Reviewed => "reviewed",
            OpState::Rejected => "rejected",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OpState::Submitted,
            OpState::BizApproved,
            OpState::TechApproved,
            OpState::Executed,
            OpState::Reviewed,
            OpState::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A step of the DATA-13 chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStep {
    BizApprove,
    TechApprove,
    Execute,
    Review,
    Reject,
}

impl ChainStep {
    /// The state this step requires and the state it leads to.
    pub fn edge(self) -> (&'static [OpState], OpState) {
        match self {
            ChainStep::BizApprove => (&[OpState::Submitted], OpState::BizApproved),
            ChainStep::TechApprove => (&[OpState::BizApproved], OpState::TechApproved),
            ChainStep::Execute => (&[OpState::TechApproved], OpState::Executed),
            ChainStep::Review => (&[OpState::Executed], OpState::Reviewed),
            ChainStep::Reject => (
                &[
                    OpState::Submitted,
                    OpState::BizApproved,
                    OpState::TechApproved,
                ],
                OpState::Rejected,
            ),
        }
    }

    /// Name used in messages and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStep::BizApprove => "business approval",
            ChainStep::TechApprove => "technical approval",
            ChainStep::Execute => "execution",
            ChainStep::Review => "review",
            ChainStep::Reject => "rejection",
        }
    }
}

/// A refusal citing the rule that refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Rule ID, e.g. `DATA-10`.
    pub rule: String,
    /// The input field at fault.
    pub field: String,
    /// English text (starts with the rule ID).
    pub message: String,
    /// Chinese text (starts with the rule ID).
    pub zh: String,
}

impl Refusal {
    fn new(rule: &str, field: &str, en: impl fmt::Display, zh: impl fmt::Display) -> Self {
        Refusal {
            rule: rule.to_string(),
            field: field.to_string(),
            message: format!("{rule}: {en}"),
            zh: format!("{rule}：{zh}"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// DATA-13: the state after `step`, or the refusal naming what must come first.
pub fn advance(state: OpState, step: ChainStep) -> Result<OpState, Refusal> {
    let (from, to) = step.edge();
    if from.contains(&state) {
        return Ok(to);
    }
    let needed = match step {
        ChainStep::BizApprove | ChainStep::Reject => "a request not yet executed",
        ChainStep::TechApprove => "business approval first",
        ChainStep::Execute => "business and technical approval first",
        ChainStep::Review => "execution first",
    };
    Err(Refusal::new(
        "DATA-13",
        "state",
        format!(
            "{} is not possible in state {} (needs {needed}); no step of business approval → technical approval → execution → review may be skipped",
            step.as_str(),
            state.as_str()
        ),
        format!(
            "当前状态 {} 不能进行{}：业务审批→技术审批→执行→复核，任何一步都不能跳过",
            state.as_str(),
            step.as_str()
        ),
    ))
}

/// What the classification looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpFacts {
    /// Records the request declares it touches (extraction: expected result rows).
    pub declared_rows: u64,
    /// Amount difference of a financial-report correction, yuan.
    pub amount_diff_yuan: Option<f64>,
    /// Error of an inventory (purchase-sales-stock) reconciliation correction.
    pub inventory_error: Option<f64>,
    /// Bare table names the steps touch (lower-case).
    pub tables: Vec<String>,
    /// Level-1 sensitive class keys (DATA-12).
    pub sensitive_classes: Vec<String>,
}

/// Why a request is batch (DATA-02) or important (DATA-10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// DATA-02.
    pub batch: bool,
    /// Which DATA-02 criteria hold.
    pub batch_reasons: Vec<String>,
    /// DATA-10 (PD): level-1 sensitive data or an important table.
    pub important: bool,
    pub important_reasons: Vec<String>,
    /// DATA-12.
    pub sensitive: bool,
}

/// DATA-02 / DATA-10 classification of a modification.
pub fn classify(pol: &DataOpsPolicy, f: &OpFacts) -> Classification {
    let b = &pol.batch;
    let mut batch_reasons = Vec::new();
    if f.declared_rows >= b.min_records {
        batch_reasons.push(format!(
            "{} records ≥ {} ({})",
            f.declared_rows, b.min_records, b.rule
        ));
    }
    if let Some(a) = f.amount_diff_yuan {
        if a.abs() > b.amount_over_yuan {
            batch_reasons.push(format!(
                "amount difference {a} yuan > {} ({})",
                b.amount_over_yuan, b.rule
            ));
        }
    }
    if let Some(e) = f.inventory_error {
        if e.abs() > b.inventory_error_over {
            batch_reasons.push(format!(
                "inventory error {e} > {} ({})",
                b.inventory_error_over, b.rule
            ));
        }
    }
    let mut important_reasons = Vec::new();
    if !f.sensitive_classes.is_empty() {
        important_reasons.push(format!(
            "level-1 sensitive data: {} ({})",
            f.sensitive_classes.join(", "),
            pol.sensitive.rule
        ));
    }
    for t in &f.tables {
        if pol
            .separation
            .important_tables
            .iter()
            .any(|i| i.eq_ignore_ascii_case(t))
        {
            important_reasons.push(format!("important table {t} ({})", pol.separation.rule));
        }
    }
    Classification {
        batch: !batch_reasons.is_empty(),
        batch_reasons,
        important: !important_reasons.is_empty(),
        important_reasons,
        sensitive: !f.sensitive_classes.is_empty(),
    }
}

/// DATA-10: whether the processor and the reviewer must be different people.
pub fn separation_required(kind: OpKind, c: &Classification) -> bool {
    match kind {
        OpKind::Extraction => true,
        OpKind::Modification => c.batch || c.important,
    }
}

/// DATA-10: refuses a reviewer who may not review this execution.
pub fn check_reviewer(
    pol: &DataOpsPolicy,
    kind: OpKind,
    c: &Classification,
    submitter: &str,
    executor: &str,
    reviewer: &str,
) -> Result<(), Refusal> {
    let rule = &pol.separation.rule;
    if reviewer == executor && separation_required(kind, c) {
        let why = match kind {
            OpKind::Extraction => "an extraction".to_string(),
            OpKind::Modification => {
                let mut r = c.batch_reasons.clone();
                r.extend(c.important_reasons.iter().cloned());
                format!("a batch or important modification ({})", r.join("; "))
            }
        };
        return Err(Refusal::new(
            rule,
            "reviewer",
            format!("{reviewer} executed {why}; the reviewer must be a different person"),
            format!("{reviewer} 是执行人；批量/重要数据修改及数据提取必须由不同的人复核"),
        ));
    }
    if executor == submitter && reviewer == submitter {
        return Err(Refusal::new(
            rule,
            "reviewer",
            format!("{submitter} raised and executed this request and cannot accept it too"),
            format!("{submitter} 是发起人并自行执行，不能由数据工单发起人自行验收"),
        ));
    }
    Ok(())
}

/// DATA-04 / DATA-15: the ticket type must be one the kind allows.
pub fn check_ticket_type(
    pol: &DataOpsPolicy,
    kind: OpKind,
    ticket_type: &str,
) -> Result<(), Refusal> {
    let allowed = match kind {
        OpKind::Modification => &pol.tickets.modification,
        OpKind::Extraction => &pol.tickets.extraction,
    };
    if allowed.iter().any(|t| t == ticket_type) {
        return Ok(());
    }
    let rule = match kind {
        OpKind::Modification => pol.tickets.rule.as_str(),
        OpKind::Extraction => "DATA-15",
    };
    Err(Refusal::new(
        rule,
        "ticket_type",
        format!(
            "a {} may not be recorded under ticket type '{ticket_type}' (allowed: {})",
            kind.as_str(),
            allowed.join(", ")
        ),
        format!(
            "工单类型 '{ticket_type}' 不允许（允许：{}）",
            allowed.join("、")
        ),
    ))
}

/// DATA-12: level-1 sensitive data never goes to the vendor modes the pack refuses.
pub fn check_sensitive_vendor(
    pol: &DataOpsPolicy,
    classes: &[String],
    vendor_mode: &str,
) -> Result<(), Refusal> {
    if classes.is_empty() {
        return Ok(());
    }
    if pol
        .sensitive
        .refused_vendor_modes
        .iter()
        .any(|m| m == vendor_mode)
    {
        return Err(Refusal::new(
            &pol.sensitive.rule,
            "vendor_mode",
            format!(
                "level-1 sensitive data ({}) may not be handled by a {vendor_mode}; only company staff or on-site vendor staff under company monitoring",
                classes.join(", ")
            ),
            "一级敏感数据不能给远端开发商处理",
        ));
    }
    Ok(())
}

/// DATA-17: the peak window containing `local`, if any.
pub fn peak_window(pol: &DataOpsPolicy, local: NaiveTime) -> Option<(NaiveTime, NaiveTime)> {
    pol.peak_windows()
        .into_iter()
        .find(|(s, e)| *s <= local && local < *e)
}

/// DATA-17: refuses a large extraction or a long statement inside a peak window unless an exception is approved.
pub fn check_peak(
    pol: &DataOpsPolicy,
    local: NaiveTime,
    rows: u64,
    estimated_runtime_secs: Option<i64>,
    exception_approved: bool,
) -> Result<(), Refusal> {
    let Some((s, e)) = peak_window(pol, local) else {
        return Ok(());
    };
    if exception_approved {
        return Ok(());
    }
    let p = &pol.peak;
    let too_many = rows > p.max_rows;
    let too_long = estimated_runtime_secs.is_some_and(|r| r > p.max_runtime.seconds());
    if !too_many && !too_long {
        return Ok(());
    }
    let what = if too_many {
        format!("{rows} records > {}", p.max_rows)
    } else {
        format!("estimated run time > {}", p.max_runtime)
    };
    Err(Refusal::new(
        &p.rule,
        if too_many { "declared_rows" } else { "estimated_minutes" },
        format!(
            "{what} is not allowed during peak hours {}–{} unless a peak-hour exception is approved",
            s.format("%H:%M"),
            e.format("%H:%M")
        ),
        format!(
            "忙时（{}–{}）禁止大数据量提取或长时间语句（{what}），除非已批准例外",
            s.format("%H:%M"),
            e.format("%H:%M")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_cannot_be_skipped() {
        assert_eq!(
            advance(OpState::Submitted, ChainStep::BizApprove).unwrap(),
            OpState::BizApproved
        );
        let e = advance(OpState::BizApproved, ChainStep::Execute).unwrap_err();
        assert_eq!(e.rule, "DATA-13");
        assert!(advance(OpState::Submitted, ChainStep::TechApprove).is_err());
        assert!(advance(OpState::TechApproved, ChainStep::Review).is_err());
        assert!(advance(OpState::Executed, ChainStep::Reject).is_err());
    }
}
