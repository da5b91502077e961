//! Console pages for group customers (issue 8 item 2): `/customers` (tiers, SLA-03 default assurance level and
//! the SLA-02 quota report) and `/customers/{key}` (SLA-03 levels per service type, provisioning orders with
//! their deadlines and overdue marks, forms to place an order, file an SLA-07 delay request and record
//! completion; per `provisioning` order its SLA-09 acceptances and KPI-06 data configuration with their forms;
//! refusals are shown next to the field they name). Complaints (KPI-08) are a block of their own
//! (`complaints.rs`, `_complaints.html`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone};
use tianshu_core::sla::Tier;
use tianshu_core::Permission;
use tianshu_services::customers;
use tianshu_services::delivery::{self, AcceptanceInput, DataConfigInput};
use tianshu_services::kpi::PROVISIONING_STAGE;
use tianshu_services::provisioning::{
    self as prov, DelayDecisionInput, DelayInput, NewOrderInput, OrderView,
};
use tianshu_services::ServiceError;

use super::pages::{field, form_pairs, local, service_error_page, tz};
use super::refusal::{place, triage, Answer, FormFields, Refusal};
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

fn tier_label(u: &ConsoleUser, tier: &str) -> String {
    let key = format!("chg-tier-{tier}");
    let t = u.t.t(&key);
    if t == key {
        tier.to_string()
    } else {
        t
    }
}

struct CustomerRow {
    key: String,
    name: String,
    tier: String,
    tier_key: String,
    level: String,
    /// `count / max` of the tier's SLA-02 quota, or empty when the tier has none.
    quota: String,
    quota_full: bool,
}

struct QuotaRow {
    tier: String,
    count: u64,
    max: String,
    percent: String,
    full: bool,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage {
    l: Layout,
    rows: Vec<CustomerRow>,
    quotas: Vec<QuotaRow>,
    total: u64,
}

/// Every group customer with its tier, default assurance level and the SLA-02 quota report.
pub async fn list(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if let Some(r) = u.require(&st, Permission::OrgRead) {
        return r;
    }
    let l = match customers::list(&st.platform, &u.p).await {
        Ok(l) => l,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let pack = st.platform.policy.current().pack.clone();
    let quota_of = |tier: &str| l.quotas.lines.iter().find(|q| q.tier.as_str() == tier);
    let rows = l
        .customers
        .iter()
        .map(|c| {
            let q = quota_of(&c.tier);
            let level = c
                .tier
                .parse::<Tier>()
                .ok()
                .and_then(|t| pack.sla.assurance.default.get(&t).copied())
                .map(|l| l.as_str().to_string())
                .unwrap_or_default();
            CustomerRow {
                key: c.key.clone(),
                name: c.name.clone(),
                tier: tier_label(&u, &c.tier),
                tier_key: c.tier.clone(),
                level,
                quota: q
                    .and_then(|q| q.max.map(|m| format!("{} / {m}", q.count)))
                    .unwrap_or_default(),
                quota_full: q.is_some_and(|q| q.max.is_some_and(|m| q.count >= m)),
            }
        })
        .collect();
    let quotas = l
        .quotas
        .lines
        .iter()
        .map(|q| QuotaRow {
            tier: tier_label(&u, q.tier.as_str()),
            count: q.count,
            max: q.max.map(|m| m.to_string()).unwrap_or_else(|| "—".into()),
            percent: q
                .max_percent
                .map(|p| format!("{p} %"))
                .unwrap_or_else(|| "—".into()),
            full: q.max.is_some_and(|m| q.count >= m),
        })
        .collect();
    let page = ListPage {
        l: u.layout(&st, "customers", "cust-title-list"),
        rows,
        quotas,
        total: l.quotas.total,
    };
    render(StatusCode::OK, &page)
}

struct DelayRow {
    id: i64,
    /// Awaiting a decision.
    requested: bool,
    /// Who filed it (user name), and who decided it with the reason given.
    requested_by: String,
    decided: String,
    decision_note: String,
    from: String,
    until: String,
    outcome: String,
    outcome_key: String,
    deadline_after: String,
    filed: String,
    note: String,
}

struct AcceptanceItem {
    id: i64,
    phase: String,
    phase_key: String,
    outcome: String,
    outcome_key: String,
    held: String,
    recorded_by: String,
    note: String,
}

/// SLA-09 acceptances and the KPI-06 data configuration of a `provisioning` order.
struct DeliveryRow {
    acceptances: Vec<AcceptanceItem>,
    state: String,
    state_key: String,
    /// No acceptance can follow (the final acceptance passed).
    accepted: bool,
    /// KPI-05: the first initial acceptance, passed or not; empty before it is held.
    first_initial: String,
    /// The notice is recorded / the start is recorded.
    notified: bool,
    started: bool,
    notified_at: String,
    started_at: String,
    /// `50 分钟` from notice to start, the KPI-06 limit and the overrun beyond it.
    wait: String,
    limit: String,
    overrun: String,
    late: bool,
    cfg_note: String,
}

struct OrderRow {
    id: i64,
    version: i64,
    stage: String,
    access_points: i64,
    city: String,
    limit: String,
    rules: String,
    started: String,
    deadline: String,
    state: String,
    open: bool,
    completed: String,
    late_requests: i64,
    overdue_count: u32,
    overdue: bool,
    delays: Vec<DelayRow>,
    /// The durable deadline clock has fallen due unmet (recorded and announced once).
    breached: bool,
    err: Fields,
    kept: Fields,
    /// Only orders of the `provisioning` stage are accepted and configured.
    delivery: Option<DeliveryRow>,
    acc_err: Fields,
    acc_kept: Fields,
    cfg_err: Fields,
    cfg_kept: Fields,
}

/// Per-field texts of one form: refusals next to their field, or the values a refused form held.
#[derive(Default)]
struct Fields {
    stage: String,
    access_points: String,
    city: String,
    note: String,
    reason: String,
    from: String,
    until: String,
    phase: String,
    outcome: String,
    held_at: String,
    notified_at: String,
    started_at: String,
    /// Refusals of the decision forms (approve / reject), shown next to them.
    decision: String,
    /// Refusals that name no field of the form (a late request, a stale version), shown by the button.
    submit: String,
}

impl FormFields for Fields {
    fn set(&mut self, name: &str, v: String) -> bool {
        let slot = match name {
            "stage" => &mut self.stage,
            "access_points" => &mut self.access_points,
            "city" => &mut self.city,
            "note" => &mut self.note,
            "reason" => &mut self.reason,
            "from" => &mut self.from,
            "until" => &mut self.until,
            "phase" => &mut self.phase,
            "outcome" => &mut self.outcome,
            "held_at" => &mut self.held_at,
            "notified_at" => &mut self.notified_at,
            "started_at" => &mut self.started_at,
            _ => return false,
        };
        *slot = v;
        true
    }

    fn set_submit(&mut self, msg: String) {
        self.submit = msg;
    }
}

#[derive(Template)]
#[template(path = "customer.html")]
pub(super) struct DetailPage {
    l: Layout,
    key: String,
    name: String,
    tier: String,
    level: String,
    assurance: Vec<(String, String)>,
    orders: Vec<OrderRow>,
    stages: Vec<(String, String)>,
    /// SLA-09 phases in order: (code, label).
    phases: Vec<(String, String)>,
    manage: bool,
    /// May decide delay requests (`provisioning.approve`).
    approve: bool,
    /// Refusals and kept values of the new-order form.
    new_err: Fields,
    new_kept: Fields,
    /// Complaints (KPI-08) with their forms.
    pub(super) complaints: super::complaints::Panel,
    /// KPI-09: the customer's leased lines this year.
    lines: LinesPanel,
}

/// The customer's leased lines over the year to date (KPI-09).
pub(super) struct LinesPanel {
    year: String,
    /// Why they are counted but not judged, if so.
    unjudged: Option<String>,
    rows: Vec<LineRow>,
}

struct LineRow {
    line: String,
    level: String,
    faults: u32,
    repeats: u32,
    /// Interruption in hours, one decimal.
    hours: String,
    /// "≤ 2 次 / ≤ 8.0 小时" or empty without a standard.
    standard: String,
    exceeded: bool,
    /// (number, href) of the tickets the reader may see.
    tickets: Vec<(String, String)>,
}

fn lines_panel(v: tianshu_services::kpi::CustomerLines, zh: bool) -> LinesPanel {
    let hours = |s: i64| format!("{:.1}", s as f64 / 3600.0);
    LinesPanel {
        year: v.year,
        unjudged: v.unjudged.map(|why| {
            if zh {
                "sla.toml 未配置网络质量标准（种子规则缺表，SLA-03/SLA-04），以下只统计、不判定"
                    .into()
            } else {
                why
            }
        }),
        rows: v
            .lines
            .into_iter()
            .map(|l| LineRow {
                standard: match (l.max_repeat_faults, l.max_interruption_seconds) {
                    (Some(r), Some(i)) if zh => format!("重复 ≤ {r} 次 / 中断 ≤ {} 小时", hours(i)),
                    (Some(r), Some(i)) => format!("repeats ≤ {r} / interruption ≤ {} h", hours(i)),
                    _ => String::new(),
                },
                exceeded: l.repeat_exceeded || l.interruption_exceeded,
                line: l.line,
                level: l.level.as_str().to_string(),
                faults: l.faults,
                repeats: l.repeats,
                hours: hours(l.interruption_seconds),
                tickets: l
                    .records
                    .into_iter()
                    .flatten()
                    .map(|r| (r.id, r.href))
                    .collect(),
            })
            .collect(),
    }
}

/// Which form of an order a post came from: the hidden `form` field (`decision`, `acceptance`, `data_config`);
/// the delay form has none.
fn posted_form(form: &[(String, String)]) -> &str {
    form.iter()
        .find(|(k, _)| k == "form")
        .map_or("delay", |(_, v)| v.as_str())
}

/// The refusal of form `kind` of order `order` (0: the new-order form, kind `order`) placed at its field, and the
/// values it held.
fn refusal_fields(
    err: Option<&Refusal>,
    form: &[(String, String)],
    order: i64,
    kind: &str,
) -> (Fields, Fields) {
    let Some((o, field, msg)) = err else {
        return Default::default();
    };
    if *o != order {
        return Default::default();
    }
    let posted = if order == 0 {
        "order"
    } else {
        posted_form(form)
    };
    // A refused decision (approve / reject) is shown next to the decision forms, whatever field it names.
    if kind == "delay" && posted == "decision" {
        let errs = Fields {
            decision: msg.clone(),
            ..Fields::default()
        };
        return (errs, Fields::default());
    }
    if posted != kind {
        return Default::default();
    }
    let fields: &[&str] = match kind {
        "order" => &["stage", "access_points", "city", "note"],
        "acceptance" => &["phase", "outcome", "held_at", "note"],
        "data_config" => &["notified_at", "started_at", "note"],
        _ => &["reason", "from", "until", "note"],
    };
    place(fields, field, msg, form)
}

fn label(u: &ConsoleUser, prefix: &str, s: &str) -> String {
    let key = format!("{prefix}{s}");
    let t = u.t.t(&key);
    if t == key {
        s.to_string()
    } else {
        t
    }
}

fn order_row(
    st: &AppState,
    u: &ConsoleUser,
    v: &OrderView,
    refusal: Option<&Refusal>,
    form: &[(String, String)],
) -> OrderRow {
    let o = &v.order;
    let (err, kept) = refusal_fields(refusal, form, o.id, "delay");
    let (acc_err, acc_kept) = refusal_fields(refusal, form, o.id, "acceptance");
    let (cfg_err, cfg_kept) = refusal_fields(refusal, form, o.id, "data_config");
    OrderRow {
        err,
        kept,
        acc_err,
        acc_kept,
        cfg_err,
        cfg_kept,
        delivery: (o.stage == PROVISIONING_STAGE).then(|| delivery_row(st, u, v)),
        id: o.id,
        version: o.version,
        stage: v.stage_name_zh.clone(),
        access_points: o.access_points,
        city: o.city.clone(),
        limit: o.limit_text.clone(),
        rules: v.rules.join(" "),
        started: local(st, o.started_at),
        deadline: local(st, o.deadline_at),
        state: label(u, "cust-order-state-", &o.state),
        open: o.state == "open",
        completed: o.completed_at.map(|t| local(st, t)).unwrap_or_default(),
        late_requests: o.late_requests,
        overdue_count: v.overdue_count,
        overdue: v.overdue_count > 0,
        breached: v.clock.as_ref().is_some_and(|c| c.breached_at.is_some()),
        delays: v
            .delays
            .iter()
            .map(|d| DelayRow {
                id: d.id,
                requested: d.outcome == "requested",
                requested_by: d.requested_by.clone(),
                decided: match (&d.decided_by, d.decided_at) {
                    (Some(by), Some(at)) => format!("{} {by}", local(st, at)),
                    _ => String::new(),
                },
                decision_note: d.decision_note.clone(),
                from: local(st, d.from_at),
                until: local(st, d.until_at),
                outcome: label(u, "cust-delay-", &d.outcome),
                outcome_key: d.outcome.clone(),
                deadline_after: local(st, d.deadline_after),
                filed: local(st, d.filed_at),
                note: d.note.clone(),
            })
            .collect(),
    }
}

/// Whole minutes of a number of seconds (`50 分钟`).
fn minutes(u: &ConsoleUser, seconds: i64) -> String {
    format!("{} {}", seconds.div_euclid(60), u.t.t("cust-minutes"))
}

fn delivery_row(st: &AppState, u: &ConsoleUser, v: &OrderView) -> DeliveryRow {
    let d = &v.delivery;
    let cfg = d.data_configuration.as_ref();
    DeliveryRow {
        acceptances: d
            .acceptances
            .iter()
            .map(|a| AcceptanceItem {
                id: a.id,
                phase: label(u, "cust-phase-", &a.phase),
                phase_key: a.phase.clone(),
                outcome: label(u, "cust-outcome-", &a.outcome),
                outcome_key: a.outcome.clone(),
                held: local(st, a.held_at),
                recorded_by: a.recorded_by.clone(),
                note: a.note.clone(),
            })
            .collect(),
        state: label(u, "cust-acc-state-", d.acceptance_state.as_str()),
        state_key: d.acceptance_state.as_str().into(),
        accepted: d.acceptance_state == tianshu_core::sla::AcceptanceState::Accepted,
        first_initial: match d.first_initial_passed {
            Some(true) => label(u, "cust-outcome-", "passed"),
            Some(false) => label(u, "cust-outcome-", "failed"),
            None => String::new(),
        },
        notified: cfg.is_some(),
        started: cfg.is_some_and(|c| c.row.started_at.is_some()),
        notified_at: cfg
            .map(|c| local(st, c.row.notified_at))
            .unwrap_or_default(),
        started_at: cfg
            .and_then(|c| c.row.started_at)
            .map(|t| local(st, t))
            .unwrap_or_default(),
        wait: cfg
            .and_then(|c| c.wait_seconds)
            .map(|w| minutes(u, w))
            .unwrap_or_default(),
        limit: cfg
            .and_then(|c| c.limit_seconds)
            .map(|l| minutes(u, l))
            .unwrap_or_default(),
        overrun: cfg
            .and_then(|c| c.overrun_seconds)
            .filter(|o| *o > 0)
            .map(|o| minutes(u, o))
            .unwrap_or_default(),
        late: cfg.and_then(|c| c.overrun_seconds).is_some_and(|o| o > 0),
        cfg_note: cfg.map(|c| c.row.note.clone()).unwrap_or_default(),
    }
}

pub(super) async fn detail_page(
    st: &AppState,
    u: &ConsoleUser,
    key: &str,
    refusal: Option<Refusal>,
    form: Vec<(String, String)>,
) -> Result<DetailPage, Response> {
    let d = prov::customer(&st.platform, &u.p, key)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let pack = st.platform.policy.current().pack.clone();
    let (new_err, new_kept) = refusal_fields(refusal.as_ref(), &form, 0, "order");
    let complaints = super::complaints::panel(st, u, key, None, &[])
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    let lines = tianshu_services::kpi::customer_lines(&st.platform, &u.p, key)
        .await
        .map_err(|e| service_error_page(u, st, e))?;
    Ok(DetailPage {
        complaints,
        lines: lines_panel(lines, u.t.lang() == "zh-CN"),
        l: u.layout(st, "customers", "cust-title-detail"),
        key: d.customer.key.clone(),
        name: d.customer.name.clone(),
        tier: tier_label(u, &d.customer.tier),
        level: d
            .default_level
            .map(|l| l.as_str().to_string())
            .unwrap_or_default(),
        assurance: d
            .assurance
            .iter()
            .map(|a| (a.name_zh.clone(), a.level.as_str().to_string()))
            .collect(),
        orders: d
            .orders
            .iter()
            .map(|v| order_row(st, u, v, refusal.as_ref(), &form))
            .collect(),
        // Stages timed in wall-clock hours (service recovery) are not ordered; the service refuses them too.
        stages: pack
            .sla
            .stages
            .iter()
            .filter(|s| {
                !s.limits
                    .values()
                    .any(|l| matches!(l, tianshu_core::sla::StageLimit::WallClock(_)))
            })
            .map(|s| (s.key.clone(), s.name_zh.clone()))
            .collect(),
        phases: tianshu_core::sla::AcceptancePhase::ALL
            .iter()
            .map(|ph| {
                (
                    ph.as_str().to_string(),
                    label(u, "cust-phase-", ph.as_str()),
                )
            })
            .collect(),
        manage: u.p.can(Permission::OrgManage),
        approve: u.p.can(Permission::ProvisioningApprove),
        new_err,
        new_kept,
    })
}

/// One customer with its orders.
pub async fn detail(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(key): Path<String>,
) -> Response {
    match detail_page(&st, &u, &key, None, Vec::new()).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}

/// `2026-12-01T08:40` from a datetime-local input, in the centre's time zone, as RFC 3339 (kept as typed when
/// it does not parse, so the service names the field).
pub(super) fn local_input(st: &AppState, s: &str) -> String {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .ok()
        .and_then(|n| tz(st).from_local_datetime(&n).earliest())
        .map_or_else(|| s.to_string(), |t| t.to_rfc3339())
}

async fn refused(
    st: &AppState,
    u: &ConsoleUser,
    key: &str,
    order: i64,
    e: ServiceError,
    pairs: Vec<(String, String)>,
) -> Response {
    let (status, refusal) = match triage(u, st, order, e) {
        Answer::Form(status, refusal) => (status, refusal),
        Answer::Page(page) => return page,
    };
    match detail_page(st, u, key, Some(refusal), pairs).await {
        Ok(p) => render(status, &p),
        Err(r) => r,
    }
}

/// Places an order from the form.
pub async fn create_order(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let points = field(&pairs, "access_points");
    let input = NewOrderInput {
        stage: field(&pairs, "stage"),
        // Not a number → 0, which the service refuses naming the field.
        access_points: points.trim().parse().unwrap_or(0),
        city: field(&pairs, "city"),
        note: Some(field(&pairs, "note")),
    };
    match prov::create(&st.platform, &u.p, &key, input).await {
        Ok(v) => Redirect::to(&format!("/customers/{key}#order-{}", v.order.id)).into_response(),
        Err(e) => refused(&st, &u, &key, 0, e, pairs).await,
    }
}

/// A 404 page unless order `id` is one of customer `key`'s (the forms post under the customer's path).
async fn foreign_order(st: &AppState, u: &ConsoleUser, key: &str, id: i64) -> Option<Response> {
    match prov::get(&st.platform, &u.p, id).await {
        Ok(v) if v.order.customer_key == key => None,
        Ok(_) => Some(service_error_page(
            u,
            st,
            ServiceError::NotFound(format!("provisioning order {id} of {key}")),
        )),
        Err(e) => Some(service_error_page(u, st, e)),
    }
}

/// Files an SLA-07 delay request from an order's form.
pub async fn file_delay(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((key, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = foreign_order(&st, &u, &key, id).await {
        return r;
    }
    let from = field(&pairs, "from");
    let input = DelayInput {
        version: field(&pairs, "version").parse().unwrap_or(-1),
        reason: field(&pairs, "reason"),
        from: (!from.trim().is_empty()).then(|| local_input(&st, &from)),
        until: local_input(&st, &field(&pairs, "until")),
        note: Some(field(&pairs, "note")),
    };
    match prov::file_delay(&st.platform, &u.p, id, input).await {
        Ok(_) => Redirect::to(&format!("/customers/{key}#order-{id}")).into_response(),
        Err(e) => refused(&st, &u, &key, id, e, pairs).await,
    }
}

/// Records completion feedback of an order.
pub async fn complete(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((key, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = foreign_order(&st, &u, &key, id).await {
        return r;
    }
    let version = field(&pairs, "version").parse().unwrap_or(-1);
    match prov::complete(&st.platform, &u.p, id, version).await {
        Ok(_) => Redirect::to(&format!("/customers/{key}#order-{id}")).into_response(),
        Err(e) => refused(&st, &u, &key, id, e, pairs).await,
    }
}

/// Approves or rejects (with the reason) a delay request from the buttons next to it.
pub async fn decide_delay(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((key, id, delay_id, decision)): Path<(String, i64, i64, String)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = foreign_order(&st, &u, &key, id).await {
        return r;
    }
    let d = match decision.as_str() {
        "approve" => DelayDecisionInput::Approve,
        "reject" => DelayDecisionInput::Reject {
            reason: field(&pairs, "reason"),
        },
        other => {
            return service_error_page(&u, &st, ServiceError::NotFound(format!("decision {other}")))
        }
    };
    let version = field(&pairs, "version").parse().unwrap_or(-1);
    match prov::decide_delay(&st.platform, &u.p, id, delay_id, version, d).await {
        Ok(_) => Redirect::to(&format!("/customers/{key}#order-{id}")).into_response(),
        Err(e) => refused(&st, &u, &key, id, e, pairs).await,
    }
}

/// Records an SLA-09 acceptance from an order's form.
pub async fn record_acceptance(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((key, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = foreign_order(&st, &u, &key, id).await {
        return r;
    }
    let held = field(&pairs, "held_at");
    let input = AcceptanceInput {
        version: field(&pairs, "version").parse().unwrap_or(-1),
        phase: field(&pairs, "phase"),
        outcome: field(&pairs, "outcome"),
        held_at: (!held.trim().is_empty()).then(|| local_input(&st, &held)),
        note: Some(field(&pairs, "note")),
    };
    match delivery::record_acceptance(&st.platform, &u.p, id, input).await {
        Ok(_) => Redirect::to(&format!("/customers/{key}#delivery-{id}")).into_response(),
        Err(e) => refused(&st, &u, &key, id, e, pairs).await,
    }
}

/// Records the KPI-06 data-configuration notice and / or start from an order's form.
pub async fn record_data_configuration(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path((key, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    if let Some(r) = foreign_order(&st, &u, &key, id).await {
        return r;
    }
    let instant = |name: &str| {
        let v = field(&pairs, name);
        (!v.trim().is_empty()).then(|| local_input(&st, &v))
    };
    let input = DataConfigInput {
        version: field(&pairs, "version").parse().unwrap_or(-1),
        notified_at: instant("notified_at"),
        started_at: instant("started_at"),
        note: Some(field(&pairs, "note")),
    };
    match delivery::record_data_configuration(&st.platform, &u.p, id, input).await {
        Ok(_) => Redirect::to(&format!("/customers/{key}#delivery-{id}")).into_response(),
        Err(e) => refused(&st, &u, &key, id, e, pairs).await,
    }
}
