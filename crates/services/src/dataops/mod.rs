//! Back-end data operations (issue 7 items 4–5; DATA-01..DATA-18): requests with declared steps, the DATA-13
//! chain business approval → technical approval → execution → review, DATA-10 maker-checker, DATA-12 sensitive
//! approvals, the DATA-17 peak-hour ban, guarded execution ([`guard`]) and the periodic audit report.

pub mod guard;

use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::dataop::script::{parse_extraction, parse_step, SqlDialect};
use tianshu_core::dataop::{
    advance, check_peak, check_reviewer, check_sensitive_vendor, check_ticket_type, classify,
    separation_required, ChainStep, Classification, OpFacts, OpKind, OpState, Refusal,
};
use tianshu_core::policy::{DataOpsPolicy, VENDOR_MODES};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::credentials::CredentialColumn;
use tianshu_store::dataops::{
    self as st, EventRow, ExecutionEnd, ExecutionRow, NewRequest, NewTarget, RequestFilter,
    RequestRow, TargetRow,
};
use tianshu_store::StoreError;

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

use guard::{Limits, Password, PlannedStep, TargetConn};

fn refuse(r: Refusal) -> ServiceError {
    ServiceError::invalid_zh(r.field, r.message, r.zh)
}

fn require_any(p: &Principal, perms: &[Permission]) -> ServiceResult<()> {
    if perms.iter().any(|x| p.can(*x)) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(perms[0]))
    }
}

const READ_PERMS: &[Permission] = &[
    Permission::DataopRequest,
    Permission::DataopApprove,
    Permission::DataopExecute,
    Permission::ReportRead,
];

fn dialect(kind: &str) -> Option<SqlDialect> {
    match kind {
        "postgres" => Some(SqlDialect::Postgres),
        "mysql" => Some(SqlDialect::MySql),
        _ => None,
    }
}

fn text(field: &str, v: &str, max: usize, required: bool) -> ServiceResult<String> {
    let t = v.trim();
    if required && t.is_empty() {
        return Err(ServiceError::invalid(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(t.to_string())
}

// ------------------------------------------------------------------------------------------------ targets

/// A target to register; the password is stored for the executor and never returned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    pub name: String,
    /// `postgres` or `mysql` (MySQL and MariaDB).
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub system: String,
}

/// Registers a target database (needs `dataop.approve` and `dataop.execute`; audited without the password).
pub async fn register_target(
    p: &Platform,
    actor: &Principal,
    input: TargetInput,
) -> ServiceResult<TargetRow> {
    actor.require(Permission::DataopApprove)?;
    actor.require(Permission::DataopExecute)?;
    let name = text("name", &input.name, 100, true)?;
    if dialect(&input.kind).is_none() {
        return Err(ServiceError::invalid("kind", "must be postgres or mysql"));
    }
    let host = text("host", &input.host, 255, true)?;
    if input.port == 0 {
        return Err(ServiceError::invalid("port", "must be 1–65535"));
    }
    let database = text("database", &input.database, 128, true)?;
    let username = text("username", &input.username, 128, true)?;
    if input.password.len() > 1024 {
        return Err(ServiceError::invalid("password", "at most 1024 bytes"));
    }
    let system = text("system", &input.system, 100, false)?;
    let now = p.now_us();
    let who = actor.actor();
    let t = NewTarget {
        name,
        kind: input.kind.clone(),
        host,
        port: i64::from(input.port),
        database_name: database,
        username,
        secret: p
            .credentials
            .seal(CredentialColumn::DataopTarget, &input.password)?,
        system,
        created_by: actor.username.clone(),
        now,
    };
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let row = st::insert_target(c, &t).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "dataop.target.create".into(),
                        object_type: "dataop_target".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"name": row.name, "kind": row.kind, "host": row.host,
                            "port": row.port, "database": row.database_name, "username": row.username})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?)
}

/// Registered targets (never their passwords).
pub async fn targets(p: &Platform, actor: &Principal) -> ServiceResult<Vec<TargetRow>> {
    require_any(actor, READ_PERMS)?;
    Ok(p.store.dataop_targets().await?)
}

// ------------------------------------------------------------------------------------------------ requests

/// One declared step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// One UPDATE, DELETE or INSERT … VALUES.
    pub sql: String,
    /// Rows the step must affect; any other count rolls everything back.
    pub expected_rows: u64,
}

/// A request as submitted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// `modification` or `extraction` (DATA-01).
    pub kind: String,
    pub target_id: i64,
    pub title: String,
    /// DATA-04 ticket type.
    pub ticket_type: String,
    #[serde(default)]
    pub ticket_ref: String,
    /// DATA-07 impact and side-effects (modification: required).
    #[serde(default)]
    pub impact: String,
    /// DATA-16 purpose (extraction: required).
    #[serde(default)]
    pub purpose: String,
    /// DATA-16 fields needed (extraction: required).
    #[serde(default)]
    pub fields: String,
    /// Extraction: expected result rows (DATA-17). Modification: the sum of the steps (computed if omitted).
    pub declared_rows: Option<u64>,
    /// DATA-02: amount difference of a report correction, yuan.
    pub amount_diff_yuan: Option<f64>,
    /// DATA-02: inventory reconciliation error.
    pub inventory_error: Option<f64>,
    /// DATA-17: estimated run time in minutes.
    pub estimated_minutes: Option<i64>,
    /// DATA-12 level-1 sensitive classes.
    #[serde(default)]
    pub sensitive_classes: Vec<String>,
    /// company, onsite_vendor, remote_vendor (DATA-12).
    #[serde(default = "company")]
    pub vendor_mode: String,
    /// Username of the processor who will execute.
    pub processor: String,
    /// Username of the reviewer (DATA-10).
    pub reviewer: String,
    /// Modification steps.
    #[serde(default)]
    pub steps: Vec<StepInput>,
    /// Extraction query (one SELECT).
    pub query: Option<String>,
}

fn company() -> String {
    "company".into()
}

/// A request with its chain and executions.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: RequestOut,
    pub target: Option<TargetRow>,
    pub events: Vec<EventOut>,
    pub executions: Vec<ExecutionOut>,
    /// The chain steps the caller may take now.
    pub allowed: Vec<String>,
}

/// A request as returned.
#[derive(Debug, Clone, Serialize)]
pub struct RequestOut {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub target_id: i64,
    pub title: String,
    pub ticket_type: String,
    pub ticket_ref: String,
    pub impact: String,
    pub purpose: String,
    pub fields: String,
    pub declared_rows: i64,
    pub amount_diff_yuan: Option<f64>,
    pub inventory_error: Option<f64>,
    pub estimated_minutes: Option<i64>,
    pub sensitive_classes: Vec<String>,
    pub vendor_mode: String,
    pub batch: bool,
    pub important: bool,
    pub separation_required: bool,
    pub classification: Value,
    pub steps: Value,
    pub submitter: String,
    pub processor: String,
    pub reviewer: String,
    pub executed_by: Option<String>,
    pub executed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// A chain entry.
#[derive(Debug, Clone, Serialize)]
pub struct EventOut {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub note: String,
    pub data: Value,
}

/// An execution with its before-image.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionOut {
    pub id: i64,
    pub actor: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
    pub message: String,
    pub before_image: Value,
    pub affected: Value,
    pub result: Option<Value>,
    pub result_rows: Option<i64>,
}

fn parse_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

fn request_out(r: &RequestRow) -> RequestOut {
    let kind = OpKind::parse(&r.kind).unwrap_or(OpKind::Modification);
    RequestOut {
        id: r.id,
        kind: r.kind.clone(),
        state: r.state.clone(),
        target_id: r.target_id,
        title: r.title.clone(),
        ticket_type: r.ticket_type.clone(),
        ticket_ref: r.ticket_ref.clone(),
        impact: r.impact.clone(),
        purpose: r.purpose.clone(),
        fields: r.fields.clone(),
        declared_rows: r.declared_rows,
        amount_diff_yuan: r.amount_diff_yuan,
        inventory_error: r.inventory_error,
        estimated_minutes: r.estimated_minutes,
        sensitive_classes: serde_json::from_str(&r.sensitive_classes).unwrap_or_default(),
        vendor_mode: r.vendor_mode.clone(),
        batch: r.batch != 0,
        important: r.important != 0,
        separation_required: kind == OpKind::Extraction || r.batch != 0 || r.important != 0,
        classification: parse_json(&r.classification),
        steps: parse_json(&r.steps),
        submitter: r.submitter.clone(),
        processor: r.processor.clone(),
        reviewer: r.reviewer.clone(),
        executed_by: r.executed_by.clone(),
        executed_at: r.executed_at,
        reviewed_by: r.reviewed_by.clone(),
        reviewed_at: r.reviewed_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version: r.version,
    }
}

fn event_out(e: EventRow) -> EventOut {
    EventOut {
        id: e.id,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        note: e.note,
        data: parse_json(&e.data),
    }
}

fn execution_out(e: ExecutionRow) -> ExecutionOut {
    ExecutionOut {
        id: e.id,
        actor: e.actor,
        started_at: e.started_at,
        finished_at: e.finished_at,
        outcome: e.outcome,
        message: e.message,
        before_image: parse_json(&e.before_image),
        affected: parse_json(&e.affected),
        result: e.result.as_deref().map(parse_json),
        result_rows: e.result_rows,
    }
}

fn classification_of(r: &RequestRow) -> Classification {
    serde_json::from_str::<Value>(&r.classification)
        .ok()
        .map(|v| Classification {
            batch: r.batch != 0,
            batch_reasons: strings(&v["batch_reasons"]),
            important: r.important != 0,
            important_reasons: strings(&v["important_reasons"]),
            sensitive: v["sensitive"].as_bool().unwrap_or(false),
        })
        .unwrap_or(Classification {
            batch: r.batch != 0,
            batch_reasons: Vec::new(),
            important: r.important != 0,
            important_reasons: Vec::new(),
            sensitive: false,
        })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Validated steps of a modification for a dialect; the error names `steps[i].sql` and cites DATA-05.
fn plan_steps(
    pol: &DataOpsPolicy,
    d: SqlDialect,
    steps: &[StepInput],
) -> ServiceResult<Vec<PlannedStep>> {
    if steps.is_empty() {
        return Err(ServiceError::invalid_zh(
            "steps",
            "DATA-05: a modification declares at least one step",
            "DATA-05：数据修改必须至少声明一个步骤",
        ));
    }
    if steps.len() > pol.guard.max_steps {
        return Err(ServiceError::invalid(
            "steps",
            format!("{}: at most {} steps", pol.guard.rule, pol.guard.max_steps),
        ));
    }
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let field = format!("steps[{i}].sql");
        if s.sql.len() > 100_000 {
            return Err(ServiceError::invalid(field, "at most 100000 bytes"));
        }
        let parsed = parse_step(d, &s.sql).map_err(|e| {
            ServiceError::invalid_zh(
                field.clone(),
                format!("DATA-05: {e}"),
                format!("DATA-05：脚本不符合要求：{e}"),
            )
        })?;
        if let Some(n) = parsed.insert_rows {
            if n != s.expected_rows {
                return Err(ServiceError::invalid(
                    format!("steps[{i}].expected_rows"),
                    format!(
                        "DATA-05: the INSERT adds {n} rows, {} declared",
                        s.expected_rows
                    ),
                ));
            }
        }
        if s.expected_rows > pol.guard.max_rows_per_step {
            return Err(ServiceError::invalid(
                format!("steps[{i}].expected_rows"),
                format!(
                    "{}: at most {} rows per step",
                    pol.guard.rule, pol.guard.max_rows_per_step
                ),
            ));
        }
        out.push(PlannedStep {
            sql: s.sql.trim().trim_end_matches(';').trim_end().to_string(),
            expected_rows: s.expected_rows,
            parsed,
        });
    }
    Ok(out)
}

/// Submits a request (needs `dataop.request`): validated against DATA-02/04/05/07/10/12/16, audited.
pub async fn submit(
    p: &Platform,
    actor: &Principal,
    input: RequestInput,
) -> ServiceResult<RequestView> {
    actor.require(Permission::DataopRequest)?;
    let pol = p.policy.current();
    let dp = &pol.pack.data_ops;
    let kind = OpKind::parse(&input.kind)
        .ok_or_else(|| ServiceError::invalid("kind", "must be modification or extraction"))?;
    let title = text("title", &input.title, 200, true)?;
    check_ticket_type(dp, kind, &input.ticket_type).map_err(refuse)?;
    let ticket_ref = text("ticket_ref", &input.ticket_ref, 100, false)?;
    let target = p
        .store
        .dataop_target(input.target_id)
        .await?
        .ok_or_else(|| {
            ServiceError::unknown_ref(
                "target_id",
                format!("no target database {}", input.target_id),
                format!("目标数据库 {} 不存在", input.target_id),
            )
        })?;
    let d = dialect(&target.kind).ok_or_else(|| {
        ServiceError::Internal(format!("target {} has kind {}", target.id, target.kind))
    })?;
    let impact = text("impact", &input.impact, 4000, false)?;
    let purpose = text("purpose", &input.purpose, 4000, false)?;
    let fields = text("fields", &input.fields, 4000, false)?;
    for (i, c) in input.sensitive_classes.iter().enumerate() {
        if dp.sensitive_class(c).is_none() {
            return Err(ServiceError::invalid(
                format!("sensitive_classes[{i}]"),
                format!(
                    "'{c}' is not a sensitive class of the policy ({})",
                    dp.sensitive.rule
                ),
            ));
        }
    }
    if !VENDOR_MODES.contains(&input.vendor_mode.as_str()) {
        return Err(ServiceError::invalid(
            "vendor_mode",
            format!("must be one of {}", VENDOR_MODES.join(", ")),
        ));
    }
    check_sensitive_vendor(dp, &input.sensitive_classes, &input.vendor_mode).map_err(refuse)?;
    if input
        .estimated_minutes
        .is_some_and(|m| !(0..=100_000).contains(&m))
    {
        return Err(ServiceError::invalid("estimated_minutes", "0–100000"));
    }
    for (f, v) in [
        ("amount_diff_yuan", input.amount_diff_yuan),
        ("inventory_error", input.inventory_error),
    ] {
        if v.is_some_and(|x| !x.is_finite()) {
            return Err(ServiceError::invalid(f, "must be a finite number"));
        }
    }
    let (steps_json, declared, tables) = match kind {
        OpKind::Modification => {
            if impact.is_empty() {
                return Err(ServiceError::invalid_zh(
                    "impact",
                    "DATA-07: state the impact and side-effects (business, accounting, reports)",
                    "DATA-07：必须说明影响及副作用（业务、账务、报表）",
                ));
            }
            if input.query.is_some() {
                return Err(ServiceError::invalid(
                    "query",
                    "a modification has steps, not a query",
                ));
            }
            let planned = plan_steps(dp, d, &input.steps)?;
            let sum: u64 = planned.iter().map(|s| s.expected_rows).sum();
            if let Some(dr) = input.declared_rows {
                if dr != sum {
                    return Err(ServiceError::invalid(
                        "declared_rows",
                        format!("DATA-05: the steps declare {sum} rows in total, not {dr}"),
                    ));
                }
            }
            let tables: Vec<String> = planned
                .iter()
                .map(|s| s.parsed.table_name.clone())
                .collect();
            (
                serde_json::to_value(&input.steps).unwrap_or(Value::Null),
                sum,
                tables,
            )
        }
        OpKind::Extraction => {
            if purpose.is_empty() || fields.is_empty() {
                let f = if purpose.is_empty() {
                    "purpose"
                } else {
                    "fields"
                };
                return Err(ServiceError::invalid_zh(
                    f,
                    "DATA-16: an extraction states its purpose, content and the fields needed",
                    "DATA-16：数据提取须写明需求用途、内容描述及需要的字段",
                ));
            }
            if !input.steps.is_empty() {
                return Err(ServiceError::invalid(
                    "steps",
                    "an extraction has a query, not steps",
                ));
            }
            let q = input.query.as_deref().unwrap_or("");
            if q.len() > 100_000 {
                return Err(ServiceError::invalid("query", "at most 100000 bytes"));
            }
            parse_extraction(d, q).map_err(|e| {
                ServiceError::invalid_zh("query", format!("DATA-06: {e}"), format!("DATA-06：{e}"))
            })?;
            let Some(dr) = input.declared_rows else {
                return Err(ServiceError::invalid(
                    "declared_rows",
                    "DATA-17: declare the expected number of result rows",
                ));
            };
            (json!([{"sql": q.trim()}]), dr, Vec::new())
        }
    };
    let processor = text("processor", &input.processor, 100, true)?;
    let reviewer = text("reviewer", &input.reviewer, 100, true)?;
    for (f, u) in [("processor", &processor), ("reviewer", &reviewer)] {
        if p.store.user_by_username(u).await?.is_none() {
            return Err(ServiceError::unknown_ref(
                f,
                format!("no user '{u}'"),
                format!("用户 '{u}' 不存在"),
            ));
        }
    }
    let facts = OpFacts {
        declared_rows: declared,
        amount_diff_yuan: input.amount_diff_yuan,
        inventory_error: input.inventory_error,
        tables,
        sensitive_classes: input.sensitive_classes.clone(),
    };
    let class = classify(dp, &facts);
    if separation_required(kind, &class) && processor == reviewer {
        return Err(check_reviewer(dp, kind, &class, "", &processor, &reviewer)
            .err()
            .map(refuse)
            .unwrap_or_else(|| ServiceError::invalid("reviewer", "DATA-10")));
    }
    let now = p.now_us();
    let who = actor.actor();
    let new = NewRequest {
        kind: kind.as_str().into(),
        target_id: target.id,
        title,
        ticket_type: input.ticket_type.clone(),
        ticket_ref,
        impact,
        purpose,
        fields,
        declared_rows: i64::try_from(declared).unwrap_or(i64::MAX),
        amount_diff_yuan: input.amount_diff_yuan,
        inventory_error: input.inventory_error,
        estimated_minutes: input.estimated_minutes,
        sensitive_classes: input.sensitive_classes.clone(),
        vendor_mode: input.vendor_mode.clone(),
        batch: class.batch,
        important: class.important,
        classification: serde_json::to_value(&class).unwrap_or(Value::Null),
        steps: steps_json,
        submitter: actor.username.clone(),
        processor,
        reviewer,
        now,
    };
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let row = st::insert_request(c, &new).await?;
                st::insert_event(c, row.id, now, &new.submitter, "submitted", "", &json!({}))
                    .await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "dataop.submit".into(),
                        object_type: "dataop".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(
                            json!({"kind": row.kind, "title": row.title, "target_id": row.target_id,
                            "declared_rows": row.declared_rows, "batch": row.batch != 0,
                            "important": row.important != 0, "steps": parse_json(&row.steps)}),
                        ),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    view(p, actor, row).await
}

async fn view(p: &Platform, actor: &Principal, r: RequestRow) -> ServiceResult<RequestView> {
    let target = p.store.dataop_target(r.target_id).await?;
    let events = p.store.dataop_events(r.id).await?;
    let executions = p.store.dataop_executions(r.id).await?;
    let allowed = allowed_actions(p, actor, &r, &events);
    Ok(RequestView {
        request: request_out(&r),
        target,
        events: events.into_iter().map(event_out).collect(),
        executions: executions.into_iter().map(execution_out).collect(),
        allowed,
    })
}

fn allowed_actions(
    p: &Platform,
    actor: &Principal,
    r: &RequestRow,
    events: &[EventRow],
) -> Vec<String> {
    let pol = p.policy.current();
    let dp = &pol.pack.data_ops;
    let Some(state) = OpState::parse(&r.state) else {
        return Vec::new();
    };
    let has = |k: &str| events.iter().any(|e| e.kind == k);
    let mut out = Vec::new();
    let open = matches!(
        state,
        OpState::Submitted | OpState::BizApproved | OpState::TechApproved
    );
    if actor.can(Permission::DataopApprove) {
        if state == OpState::Submitted {
            out.push("approve_business");
        }
        if state == OpState::BizApproved {
            out.push("approve_technical");
        }
    }
    let in_roles = |roles: &[String]| actor.roles.iter().any(|r| roles.contains(r));
    if open
        && r.sensitive_classes != "[]"
        && !has("sensitive_approved")
        && in_roles(&dp.sensitive.approver_roles)
    {
        out.push("approve_sensitive");
    }
    if open
        && r.sensitive_classes != "[]"
        && r.batch != 0
        && !has("sensitive_batch_approved")
        && in_roles(&dp.sensitive.batch_approver_roles)
    {
        out.push("approve_sensitive_batch");
    }
    if open && !has("peak_exception") && in_roles(&dp.peak.exception_roles) {
        out.push("approve_peak_exception");
    }
    if state == OpState::TechApproved && actor.can(Permission::DataopExecute) {
        out.push("execute");
    }
    if state == OpState::Executed
        && (actor.can(Permission::DataopExecute) || actor.can(Permission::DataopApprove))
    {
        out.push("review");
    }
    if open && (actor.can(Permission::DataopApprove) || actor.username == r.submitter) {
        out.push("reject");
    }
    out.into_iter().map(str::to_string).collect()
}

/// One request with its chain, executions and before-images.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<RequestView> {
    require_any(actor, READ_PERMS)?;
    let r = p
        .store
        .dataop_request(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("data operation {id}")))?;
    view(p, actor, r).await
}

/// Requests, newest first.
pub async fn list(
    p: &Platform,
    actor: &Principal,
    filter: RequestFilter,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<RequestOut>> {
    require_any(actor, READ_PERMS)?;
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "between 1 and 500"));
    }
    if let Some(s) = &filter.state {
        if OpState::parse(s).is_none() {
            return Err(ServiceError::invalid("state", "not a data-operation state"));
        }
    }
    if let Some(k) = &filter.kind {
        if OpKind::parse(k).is_none() {
            return Err(ServiceError::invalid("kind", "modification or extraction"));
        }
    }
    Ok(p.store
        .dataop_requests(&filter, before.unwrap_or(i64::MAX), limit)
        .await?
        .iter()
        .map(request_out)
        .collect())
}

/// A chain action: approve_business, approve_technical, approve_sensitive, approve_sensitive_batch,
/// approve_peak_exception, review, reject. (Execution is [`execute`].)
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    action: &str,
    version: i64,
    note: Option<String>,
) -> ServiceResult<RequestView> {
    let pol = p.policy.current();
    let dp = pol.pack.data_ops.clone();
    let note = text("note", note.as_deref().unwrap_or(""), 2000, false)?;
    let in_roles = |roles: &[String]| actor.roles.iter().any(|r| roles.contains(r));
    match action {
        "approve_business" | "approve_technical" => actor.require(Permission::DataopApprove)?,
        "approve_sensitive" if !in_roles(&dp.sensitive.approver_roles) => {
            return Err(ServiceError::Transition {
                code: "not_an_approver",
                message: format!(
                    "{}: the sensitive-data access form is approved by a superior ({})",
                    dp.sensitive.rule,
                    dp.sensitive.approver_roles.join(", ")
                ),
                allowed: Vec::new(),
            })
        }
        "approve_sensitive_batch" if !in_roles(&dp.sensitive.batch_approver_roles) => {
            return Err(ServiceError::Transition {
                code: "not_an_approver",
                message: format!(
                    "{}: the batch sensitive-data modification form is approved by the room manager ({})",
                    dp.sensitive.rule,
                    dp.sensitive.batch_approver_roles.join(", ")
                ),
                allowed: Vec::new(),
            })
        }
        "approve_peak_exception" if !in_roles(&dp.peak.exception_roles) => {
            return Err(ServiceError::Transition {
                code: "not_an_approver",
                message: format!(
                    "{}: a peak-hour exception is approved by {}",
                    dp.peak.rule,
                    dp.peak.exception_roles.join(", ")
                ),
                allowed: Vec::new(),
            })
        }
        "approve_sensitive" | "approve_sensitive_batch" | "approve_peak_exception" => {}
        "review" => require_any(actor, &[Permission::DataopExecute, Permission::DataopApprove])?,
        "reject" => {}
        "execute" => {
            return Err(ServiceError::invalid(
                "action",
                "execution runs through POST /api/v1/data-ops/{id}/execute",
            ))
        }
        _ => {
            return Err(ServiceError::NotFound(format!("action {action}")));
        }
    }
    let now = p.now_us();
    let who = actor.actor();
    let username = actor.username.clone();
    let can_approve = actor.can(Permission::DataopApprove);
    let action = action.to_string();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::request_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("data operation {id}")))?;
                if r.version != version {
                    return Err(StoreError::Stale(format!("data operation {id}")));
                }
                let state = OpState::parse(&r.state)
                    .ok_or_else(|| StoreError::Corrupt(format!("state {}", r.state)))?;
                let events = st::events_in_tx(c, id).await?;
                let has = |k: &str| events.iter().any(|e| e.kind == k);
                let kind = OpKind::parse(&r.kind).unwrap_or(OpKind::Modification);
                let open = matches!(
                    state,
                    OpState::Submitted | OpState::BizApproved | OpState::TechApproved
                );
                let refusal = |rf: Refusal| StoreError::Conflict {
                    field: rf.field,
                    message: rf.message,
                };
                let (event, new_state) = match action.as_str() {
                    "approve_business" => ("biz_approved", Some(advance(state, ChainStep::BizApprove).map_err(refusal)?)),
                    "approve_technical" => {
                        let next = advance(state, ChainStep::TechApprove).map_err(refusal)?;
                        // DATA-12: the sensitive-data forms come before the technical go-ahead.
                        if r.sensitive_classes != "[]" {
                            if !has("sensitive_approved") {
                                return Err(StoreError::Conflict {
                                    field: "sensitive_classes".into(),
                                    message: format!("{}: level-1 sensitive data needs the sensitive-data access approval first", dp.sensitive.rule),
                                });
                            }
                            if r.batch != 0 && !has("sensitive_batch_approved") {
                                return Err(StoreError::Conflict {
                                    field: "sensitive_classes".into(),
                                    message: format!("{}: a batch change of level-1 sensitive data needs the room manager's batch approval first", dp.sensitive.rule),
                                });
                            }
                        }
                        ("tech_approved", Some(next))
                    }
                    "approve_sensitive" | "approve_sensitive_batch" | "approve_peak_exception" => {
                        if !open {
                            return Err(StoreError::Conflict {
                                field: "state".into(),
                                message: format!("DATA-13: approvals are given before execution (state {})", r.state),
                            });
                        }
                        let ev = match action.as_str() {
                            "approve_sensitive" => "sensitive_approved",
                            "approve_sensitive_batch" => "sensitive_batch_approved",
                            _ => "peak_exception",
                        };
                        if ev != "peak_exception" && r.sensitive_classes == "[]" {
                            return Err(StoreError::Conflict {
                                field: "sensitive_classes".into(),
                                message: format!("{}: the request names no level-1 sensitive class", dp.sensitive.rule),
                            });
                        }
                        if ev == "sensitive_batch_approved" && r.batch == 0 {
                            return Err(StoreError::Conflict {
                                field: "batch".into(),
                                message: format!("{}: the request is not a batch change", dp.sensitive.rule),
                            });
                        }
                        if has(ev) {
                            return Err(StoreError::Conflict {
                                field: "action".into(),
                                message: format!("{ev} is already recorded"),
                            });
                        }
                        (ev, None)
                    }
                    "review" => {
                        let next = advance(state, ChainStep::Review).map_err(refusal)?;
                        let class = classification_of(&r);
                        let executor = r.executed_by.clone().unwrap_or_default();
                        check_reviewer(&dp, kind, &class, &r.submitter, &executor, &username)
                            .map_err(refusal)?;
                        ("reviewed", Some(next))
                    }
                    _ => {
                        if !(can_approve || username == r.submitter) {
                            return Err(StoreError::Conflict {
                                field: "actor".into(),
                                message: "only an approver or the submitter may reject or withdraw".into(),
                            });
                        }
                        ("rejected", Some(advance(state, ChainStep::Reject).map_err(refusal)?))
                    }
                };
                let row = match new_state {
                    Some(s) => st::set_request_state(c, id, version, s.as_str(), Some(&username), now).await?,
                    None => r.clone(),
                };
                st::insert_event(c, id, now, &username, event, &note, &json!({})).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: format!("dataop.{event}"),
                        object_type: "dataop".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": r.state})),
                        after: Some(json!({"state": row.state, "note": note})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(conflict_as_refusal)?;
    view(p, actor, row).await
}

/// Rule refusals travel through the store closure as `Conflict`; give them back as 422 naming the field.
fn conflict_as_refusal(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { field, message }
            if message.contains(": ") && message.starts_with("DATA-") =>
        {
            ServiceError::invalid(field, message)
        }
        other => other.into(),
    }
}

fn limits(dp: &DataOpsPolicy, extraction: bool) -> Limits {
    let secs = if extraction {
        dp.extraction.time_cap.seconds()
    } else {
        dp.guard.statement_timeout.seconds()
    };
    Limits {
        statement_timeout: Duration::from_secs(u64::try_from(secs).unwrap_or(1)),
        lock_timeout: Duration::from_secs(
            u64::try_from(dp.guard.lock_timeout.seconds()).unwrap_or(1),
        ),
        max_rows_per_step: dp.guard.max_rows_per_step,
    }
}

/// What an execution reports.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionReport {
    pub request: RequestView,
    /// The execution just made.
    pub execution: ExecutionOut,
}

/// Runs an approved request (needs `dataop.execute`), guarded: see [`guard`]. A mismatch or error rolls
/// everything back on the target, is recorded as a `rolled_back` execution and refused with the rule.
pub async fn execute(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<ExecutionReport> {
    actor.require(Permission::DataopExecute)?;
    let pol = p.policy.current();
    let dp = pol.pack.data_ops.clone();
    let r = p
        .store
        .dataop_request(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("data operation {id}")))?;
    if r.version != version {
        return Err(ServiceError::Stale(format!("data operation {id}")));
    }
    let state = OpState::parse(&r.state)
        .ok_or_else(|| ServiceError::Internal(format!("state {}", r.state)))?;
    advance(state, ChainStep::Execute).map_err(refuse)?;
    let kind = OpKind::parse(&r.kind).unwrap_or(OpKind::Modification);
    let events = p.store.dataop_events(id).await?;
    // DATA-17: the ban is checked at the moment of execution, in the pack's zone.
    let tz: chrono_tz::Tz = dp.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let local = p.clock.now().with_timezone(&tz).time();
    let rows_for_peak = if kind == OpKind::Extraction {
        u64::try_from(r.declared_rows).unwrap_or(0)
    } else {
        0
    };
    check_peak(
        &dp,
        local,
        rows_for_peak,
        r.estimated_minutes.map(|m| m * 60),
        events.iter().any(|e| e.kind == "peak_exception"),
    )
    .map_err(refuse)?;
    let target = p
        .store
        .dataop_target(r.target_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("target {}", r.target_id)))?;
    let stored = p
        .store
        .dataop_target_secret(r.target_id)
        .await?
        .unwrap_or_default();
    let secret = p.credentials.open(
        CredentialColumn::DataopTarget,
        &stored,
        &format!("the password of data-operation target {}", r.target_id),
    )?;
    let d = dialect(&target.kind)
        .ok_or_else(|| ServiceError::Internal(format!("target kind {}", target.kind)))?;
    let conn = TargetConn {
        dialect: d,
        host: target.host.clone(),
        port: u16::try_from(target.port).unwrap_or(0),
        database: target.database_name.clone(),
        username: target.username.clone(),
        password: Password(secret),
    };
    let started = p.now_us();
    let who = actor.actor();
    let username = actor.username.clone();
    match kind {
        OpKind::Extraction => {
            let stored = parse_json(&r.steps)[0]["sql"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let q = parse_extraction(d, &stored)
                .map_err(|e| ServiceError::invalid("query", format!("DATA-06: {e}")))?;
            let cap = dp.extraction.row_cap;
            let res = guard::extract(&conn, &q, cap, limits(&dp, true)).await;
            let now = p.now_us();
            let (end, failure) = match res {
                Ok(x) => {
                    let n = x.rows.len() as i64;
                    let msg = if x.truncated {
                        format!(
                            "{}: row cap {cap} reached; the result is cut there",
                            dp.extraction.rule
                        )
                    } else {
                        String::new()
                    };
                    (
                        ExecutionEnd {
                            outcome: "committed".into(),
                            message: msg,
                            before_image: json!([]),
                            affected: json!([{"declared": r.declared_rows, "rows": n, "truncated": x.truncated}]),
                            result: Some(Value::Array(
                                x.rows.into_iter().map(Value::Object).collect(),
                            )),
                            result_rows: Some(n),
                            now,
                        },
                        None,
                    )
                }
                Err(e) => (
                    ExecutionEnd {
                        outcome: "failed".into(),
                        message: e.to_string(),
                        before_image: json!([]),
                        affected: json!([]),
                        result: None,
                        result_rows: None,
                        now,
                    },
                    Some(e.to_string()),
                ),
            };
            let exec_id = record_execution(
                p,
                id,
                version,
                &who,
                &username,
                started,
                end,
                failure.is_none(),
            )
            .await?;
            if let Some(f) = failure {
                return Err(ServiceError::Transition {
                    code: "execution_failed",
                    message: format!("{}: the extraction failed: {f}", dp.extraction.rule),
                    allowed: vec!["execute".into()],
                });
            }
            report(p, actor, id, exec_id).await
        }
        OpKind::Modification => {
            let steps: Vec<StepInput> = serde_json::from_str(&r.steps)
                .map_err(|e| ServiceError::Internal(format!("stored steps: {e}")))?;
            let planned = plan_steps(&dp, d, &steps)?;
            match guard::prepare(&conn, &planned, limits(&dp, false)).await {
                Err((outcomes, e)) => {
                    let now = p.now_us();
                    let end = ExecutionEnd {
                        outcome: "rolled_back".into(),
                        message: e.to_string(),
                        before_image: before_json(&outcomes),
                        affected: affected_json(&outcomes),
                        result: None,
                        result_rows: None,
                        now,
                    };
                    record_execution(p, id, version, &who, &username, started, end, false).await?;
                    let (field, en, zh) = match &e {
                        guard::GuardError::Mismatch { step, message } => (
                            format!("steps[{}].expected_rows", step - 1),
                            format!("DATA-05: step {step}: {message}; everything was rolled back, nothing changed"),
                            format!("DATA-05：第 {step} 步行数与声明不符（{message}），已全部回滚，未做任何修改"),
                        ),
                        other => (
                            "steps".to_string(),
                            format!("DATA-05: {other}; everything was rolled back, nothing changed"),
                            format!("DATA-05：{other}；已全部回滚，未做任何修改"),
                        ),
                    };
                    Err(ServiceError::invalid_zh(field, en, zh))
                }
                Ok(prepared) => {
                    // The before-images are durable in Tianshu before the target commits.
                    let before = before_json(&prepared.outcomes);
                    let affected = affected_json(&prepared.outcomes);
                    let opened = {
                        let (before, affected, username) =
                            (before.clone(), affected.clone(), username.clone());
                        p.store
                            .write(move |c| {
                                Box::pin(async move {
                                    let r = st::request_in_tx(c, id).await?.ok_or_else(|| {
                                        StoreError::NotFound(format!("data operation {id}"))
                                    })?;
                                    if r.version != version || r.state != "tech_approved" {
                                        return Err(StoreError::Stale(format!(
                                            "data operation {id}"
                                        )));
                                    }
                                    let running: Option<i64> = open_execution(c, id).await?;
                                    if running.is_some() {
                                        return Err(StoreError::Conflict {
                                            field: "state".into(),
                                            message: "another execution of this request is running, or was interrupted and must be settled by hand first"
                                                .into(),
                                        });
                                    }
                                    st::insert_execution(
                                        c, id, &username, started, &before, &affected,
                                    )
                                    .await
                                })
                            })
                            .await
                    };
                    let exec_id = match opened {
                        Ok(x) => x,
                        Err(e) => {
                            prepared.abort().await;
                            return Err(e.into());
                        }
                    };
                    let committed = prepared.commit().await;
                    let now = p.now_us();
                    let (outcome, message, ok) = match &committed {
                        Ok(_) => ("committed", String::new(), true),
                        Err(e) => (
                            "failed",
                            format!("COMMIT failed on the target ({e}); verify the target by hand against the before-image"),
                            false,
                        ),
                    };
                    let end = ExecutionEnd {
                        outcome: outcome.into(),
                        message: message.clone(),
                        before_image: before,
                        affected,
                        result: None,
                        result_rows: None,
                        now,
                    };
                    finish_recorded(p, id, version, exec_id, &who, &username, end, ok).await?;
                    if !ok {
                        return Err(ServiceError::Transition {
                            code: "execution_failed",
                            message,
                            allowed: Vec::new(),
                        });
                    }
                    report(p, actor, id, exec_id).await
                }
            }
        }
    }
}

async fn open_execution(
    c: &mut tianshu_store::Conn<'_>,
    id: i64,
) -> Result<Option<i64>, StoreError> {
    let rows = tianshu_store::on_conn!(c, x => sqlx::query_scalar::<_, i64>(
        "SELECT id FROM dataop_executions WHERE request_id = $1 AND outcome IN ('running', 'unknown')")
        .bind(id).fetch_optional(&mut **x).await)?;
    Ok(rows)
}

fn before_json(o: &[guard::StepOutcome]) -> Value {
    Value::Array(
        o.iter()
            .map(|s| json!({"step": s.step, "table": s.table, "verb": s.verb, "rows": s.before}))
            .collect(),
    )
}

fn affected_json(o: &[guard::StepOutcome]) -> Value {
    Value::Array(
        o.iter()
            .map(|s| json!({"step": s.step, "table": s.table, "declared": s.declared, "locked": s.locked, "affected": s.affected}))
            .collect(),
    )
}

/// Writes a whole execution (extraction, or a rolled-back modification) and, on success, moves the request on.
#[allow(clippy::too_many_arguments)]
async fn record_execution(
    p: &Platform,
    id: i64,
    version: i64,
    who: &str,
    username: &str,
    started: i64,
    end: ExecutionEnd,
    ok: bool,
) -> ServiceResult<i64> {
    let (who, username) = (who.to_string(), username.to_string());
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let exec_id =
                    st::insert_execution(c, id, &username, started, &json!([]), &json!([])).await?;
                st::finish_execution(c, exec_id, &end).await?;
                after_execution(c, id, version, exec_id, &who, &username, &end, ok).await?;
                Ok(exec_id)
            })
        })
        .await?)
}

#[allow(clippy::too_many_arguments)]
async fn finish_recorded(
    p: &Platform,
    id: i64,
    version: i64,
    exec_id: i64,
    who: &str,
    username: &str,
    end: ExecutionEnd,
    ok: bool,
) -> ServiceResult<()> {
    let (who, username) = (who.to_string(), username.to_string());
    p.store
        .write(move |c| {
            Box::pin(async move {
                st::finish_execution(c, exec_id, &end).await?;
                after_execution(c, id, version, exec_id, &who, &username, &end, ok).await
            })
        })
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn after_execution(
    c: &mut tianshu_store::Conn<'_>,
    id: i64,
    version: i64,
    exec_id: i64,
    who: &str,
    username: &str,
    end: &ExecutionEnd,
    ok: bool,
) -> Result<(), StoreError> {
    let kind = if ok { "executed" } else { "execution_failed" };
    if ok {
        st::set_request_state(
            c,
            id,
            version,
            OpState::Executed.as_str(),
            Some(username),
            end.now,
        )
        .await?;
    }
    st::insert_event(
        c,
        id,
        end.now,
        username,
        kind,
        &end.message,
        &json!({"execution_id": exec_id, "outcome": end.outcome}),
    )
    .await?;
    append(
        c,
        NewAuditEntry {
            actor: who.to_string(),
            action: format!("dataop.{kind}"),
            object_type: "dataop".into(),
            object_id: id.to_string(),
            before: None,
            after: Some(
                json!({"execution_id": exec_id, "outcome": end.outcome, "message": end.message,
                "affected": end.affected, "result_rows": end.result_rows}),
            ),
            request_id: None,
            at: end.now,
        },
    )
    .await?;
    Ok(())
}

async fn report(
    p: &Platform,
    actor: &Principal,
    id: i64,
    exec_id: i64,
) -> ServiceResult<ExecutionReport> {
    let v = get(p, actor, id).await?;
    let execution = v
        .executions
        .iter()
        .find(|e| e.id == exec_id)
        .cloned()
        .ok_or_else(|| ServiceError::Internal(format!("execution {exec_id} vanished")))?;
    Ok(ExecutionReport {
        request: v,
        execution,
    })
}

// ------------------------------------------------------------------------------------------------ audit report

/// The DATA-13 periodic audit of one month.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// `YYYY-MM`.
    pub month: String,
    pub total: usize,
    pub modifications: usize,
    pub extractions: usize,
    pub batch: usize,
    pub important: usize,
    pub sensitive: usize,
    pub by_state: std::collections::BTreeMap<String, usize>,
    /// Executed but not yet reviewed (DATA-11/13).
    pub unreviewed: Vec<i64>,
    /// Executions whose outcome is unknown (`running`) or failed on COMMIT: verify by hand.
    pub unresolved_executions: Vec<i64>,
    /// Executions rolled back.
    pub rolled_back: usize,
    pub items: Vec<RequestOut>,
}

/// The audit report of all data operations created in `month` (`YYYY-MM`, in the pack's zone).
pub async fn audit_report(
    p: &Platform,
    actor: &Principal,
    month: &str,
) -> ServiceResult<AuditReport> {
    require_any(actor, &[Permission::ReportRead, Permission::DataopApprove])?;
    let pol = p.policy.current();
    let tz: chrono_tz::Tz = pol
        .pack
        .data_ops
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| ServiceError::invalid("month", "write the month as YYYY-MM"))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(|| ServiceError::invalid("month", "out of range"))?;
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
            .unwrap_or(0)
    };
    let filter = RequestFilter {
        from: Some(at(first)),
        to: Some(at(next)),
        ..Default::default()
    };
    let mut rows = Vec::new();
    let mut before = i64::MAX;
    loop {
        let page = p.store.dataop_requests(&filter, before, 500).await?;
        let n = page.len();
        if let Some(last) = page.last() {
            before = last.id;
        }
        rows.extend(page);
        if n < 500 {
            break;
        }
    }
    let mut by_state = std::collections::BTreeMap::new();
    let mut unresolved = Vec::new();
    let mut rolled_back = 0;
    for r in &rows {
        *by_state.entry(r.state.clone()).or_insert(0) += 1;
        for e in p.store.dataop_executions(r.id).await? {
            match e.outcome.as_str() {
                "running" | "failed" | "unknown" if r.kind == "modification" => {
                    unresolved.push(e.id)
                }
                "rolled_back" => rolled_back += 1,
                _ => {}
            }
        }
    }
    Ok(AuditReport {
        month: month.to_string(),
        total: rows.len(),
        modifications: rows.iter().filter(|r| r.kind == "modification").count(),
        extractions: rows.iter().filter(|r| r.kind == "extraction").count(),
        batch: rows.iter().filter(|r| r.batch != 0).count(),
        important: rows.iter().filter(|r| r.important != 0).count(),
        sensitive: rows.iter().filter(|r| r.sensitive_classes != "[]").count(),
        by_state,
        unreviewed: rows
            .iter()
            .filter(|r| r.state == "executed")
            .map(|r| r.id)
            .collect(),
        unresolved_executions: unresolved,
        rolled_back,
        items: rows.iter().map(request_out).collect(),
    })
}

/// Compile-time check: the HTTP layer needs `execute` to be `Send` (sqlx's generic executors can break that).
#[allow(dead_code)]
fn execute_is_send(p: &Platform, a: &Principal) {
    fn s<T: Send>(_: T) {}
    s(execute(p, a, 1, 1));
}

/// Text recorded on an execution found interrupted.
pub const INTERRUPTED_MESSAGE: &str = "interrupted: Tianshu stopped while this execution was running. The target database rolls back a transaction whose connection is gone, so nothing is applied unless the COMMIT had already been sent; verify the target against the before-image and settle the execution by hand. It is never re-run automatically.";

/// The longest an execution of `steps` steps may legitimately stay `running`: for each step the lock wait and the
/// statement timeout, twice (the before-image select and the statement), plus a minute for the commit.
pub fn execution_bound_us(dp: &DataOpsPolicy, steps: usize) -> i64 {
    let per = dp.guard.statement_timeout.seconds() + dp.guard.lock_timeout.seconds();
    let steps = i64::try_from(steps.max(1)).unwrap_or(i64::MAX / 4);
    (per.saturating_mul(2)
        .saturating_mul(steps)
        .saturating_add(60))
    .saturating_mul(1_000_000)
}

/// Finds executions left `running` by a crash (kill -9, power loss) and marks them `unknown` with an audit entry
/// and a chain event; the request is blocked from further executions until someone settles the outcome by hand
/// ([`settle`]). `all` treats every running execution as interrupted (start-up of the only instance, SQLite);
/// otherwise only those older than [`execution_bound_us`]. Returns the executions marked.
pub async fn recover_interrupted(
    p: &Platform,
    all: bool,
    found_by: &str,
) -> ServiceResult<Vec<i64>> {
    let dp = p.policy.current().pack.data_ops.clone();
    let now = p.now_us();
    let mut marked = Vec::new();
    for e in p.store.running_executions().await? {
        let steps = serde_json::from_str::<Value>(&e.steps)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(1);
        if !all && now < e.started_at.saturating_add(execution_bound_us(&dp, steps)) {
            continue;
        }
        let found_by = found_by.to_string();
        let (exec_id, request_id) = (e.id, e.request_id);
        let done = p
            .store
            .write(move |c| {
                Box::pin(async move {
                    if !st::mark_execution_unknown(c, e.id, INTERRUPTED_MESSAGE, now).await? {
                        return Ok(false);
                    }
                    st::insert_event(
                        c,
                        e.request_id,
                        now,
                        "system",
                        "execution_unknown",
                        INTERRUPTED_MESSAGE,
                        &json!({"execution_id": e.id, "outcome": "unknown", "found_by": found_by}),
                    )
                    .await?;
                    append(
                        c,
                        NewAuditEntry {
                            actor: "system:dataops-recovery".into(),
                            action: "dataop.execution_unknown".into(),
                            object_type: "dataop".into(),
                            object_id: e.request_id.to_string(),
                            before: Some(json!({"execution_id": e.id, "outcome": "running", "started_at": e.started_at})),
                            after: Some(json!({"execution_id": e.id, "outcome": "unknown", "found_by": found_by,
                                "message": INTERRUPTED_MESSAGE})),
                            request_id: None,
                            at: now,
                        },
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await?;
        if done {
            tracing::warn!(
                execution = exec_id,
                request = request_id,
                "data-operation execution found interrupted; marked unknown"
            );
            marked.push(exec_id);
        }
    }
    Ok(marked)
}

/// Settles an interrupted (`unknown`) execution after checking the target by hand (needs `dataop.approve` and
/// `dataop.execute`): `applied` = the change is on the target (the request becomes `executed`, to be reviewed);
/// otherwise nothing was applied and the request may be executed again. The note says how it was checked.
pub async fn settle(
    p: &Platform,
    actor: &Principal,
    id: i64,
    execution_id: i64,
    applied: bool,
    note: &str,
) -> ServiceResult<RequestView> {
    actor.require(Permission::DataopApprove)?;
    actor.require(Permission::DataopExecute)?;
    let note = text("note", note, 2000, true)?;
    let now = p.now_us();
    let who = actor.actor();
    let username = actor.username.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::request_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("data operation {id}")))?;
                let outcome = if applied { "committed" } else { "rolled_back" };
                let message = format!("settled by hand by {username}: {note}");
                if !st::settle_execution(c, id, execution_id, outcome, &message).await? {
                    return Err(StoreError::Conflict {
                        field: "execution_id".into(),
                        message: format!("DATA-05: execution {execution_id} of data operation {id} is not an interrupted one"),
                    });
                }
                if applied {
                    st::set_request_state(c, id, r.version, OpState::Executed.as_str(), Some(username.as_str()), now).await?;
                }
                st::insert_event(c, id, now, &username, "execution_settled", &message,
                    &json!({"execution_id": execution_id, "outcome": outcome})).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "dataop.execution_settled".into(),
                        object_type: "dataop".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"execution_id": execution_id, "outcome": "unknown"})),
                        after: Some(json!({"execution_id": execution_id, "outcome": outcome, "note": note})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict { field, message } if message.starts_with("DATA-") => ServiceError::invalid(field, message),
            other => other.into(),
        })?;
    get(p, actor, id).await
}

/// The start-up sweep, before the server accepts requests: on SQLite every `running` execution is interrupted
/// (one process owns the file); on PostgreSQL, where several instances may run, only those past
/// [`execution_bound_us`].
pub async fn recover_at_start(p: &Platform) {
    let sqlite = p.store.kind() == tianshu_store::BackendKind::Sqlite;
    if let Err(e) = recover_interrupted(p, sqlite, "start-up").await {
        tracing::error!(error = %e, "data-operation recovery at start-up failed");
    }
}

/// The recovery job: every minute the bounded sweep, until `stop`.
pub async fn run_recovery(p: Platform, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = recover_interrupted(&p, false, "recovery job").await {
            tracing::error!(error = %e, "data-operation recovery sweep failed");
        }
    }
}
