//! Provisioning orders of group customers (issue 8 item 2; SLA-04..SLA-07): an order names a stage of sla.toml,
//! its access points and city; the limit comes from the customer's tier and SLA-05 scaling, the deadline from
//! the SLA calendar (`core::sla::ProvisioningClock`). Delay requests follow SLA-07: only customer-caused ones,
//! only before the deadline in force. A granted delay is a pause of the clock (SLA-06), so the deadline moves; a
//! late one is refused naming the rule but recorded, because it counts as one overdue, cumulatively.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::sla::{
    overdue_count, AssuranceLevel, DelayReason, DelayRefusal, PauseReason, ProvisioningClock,
    ProvisioningPause, SlaError, StageLimit, Tier,
};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::kpi::GroupCustomerRow;
use tianshu_store::provisioning::{
    decide_delay as decide, delay_in_tx, granted_delays_in_tx, insert_delay, insert_order,
    order_for_update, requested_delay_in_tx, save_order_clock, NewProvisioningDelay,
    NewProvisioningOrder, ProvisioningDelayRow, ProvisioningOrderRow,
};
use tianshu_store::time::from_micros;
use tianshu_store::timers::ClockRow;
use tianshu_store::StoreError;
use tianshu_workcal::{DeadlineBasis, WorkCalendar};

use crate::authz::Principal;
use crate::clocks::{self, ClockSpec, Notify, Recipients};
use crate::delivery::{self, Delivery};
use crate::{Platform, ServiceError, ServiceResult};

/// Subject kind of an order's durable deadline clock, its timers, timeline events and messages.
pub const KIND: &str = "provisioning_order";
/// Key of the order's deadline clock.
pub const CLOCK_KEY: &str = "deadline";

/// An order to place for a customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderInput {
    /// Stage key of sla.toml.
    pub stage: String,
    pub access_points: i64,
    pub city: String,
    pub note: Option<String>,
}

/// A delay request (SLA-07).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayInput {
    pub version: i64,
    /// `customer_caused` or `not_customer_caused`.
    pub reason: String,
    /// Start of the delay, RFC 3339 (default: now).
    pub from: Option<String>,
    /// End of the delay, RFC 3339.
    pub until: String,
    pub note: Option<String>,
}

/// An order with what its clock says now.
#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    pub order: ProvisioningOrderRow,
    pub customer_name: String,
    pub stage_name_zh: String,
    /// The rules behind the limit: SLA-04, plus SLA-05 when access points scaled it.
    pub rules: Vec<String>,
    /// Open and past its deadline.
    pub overdue_now: bool,
    /// Completed after its deadline.
    pub completed_late: bool,
    /// SLA-07 overdue count: late delay requests, cumulatively; lateness counts once and not on top of them.
    pub overdue_count: u32,
    pub delays: Vec<ProvisioningDelayRow>,
    /// The durable deadline clock (none for orders placed before it existed).
    pub clock: Option<ClockRow>,
    /// SLA-09 acceptances and the KPI-06 data configuration (`crate::delivery`).
    pub delivery: Delivery,
}

/// SLA-03: the level of each service type for a customer's tier.
#[derive(Debug, Clone, Serialize)]
pub struct AssuranceCell {
    pub service_type: String,
    pub name_zh: String,
    pub level: AssuranceLevel,
}

/// A customer with its SLA-03 levels and its orders.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerDetail {
    pub customer: GroupCustomerRow,
    /// The tier's default level (SLA-03).
    pub default_level: Option<AssuranceLevel>,
    pub assurance: Vec<AssuranceCell>,
    pub orders: Vec<OrderView>,
}

fn invalid(field: &str, en: String, zh: String) -> ServiceError {
    ServiceError::invalid_zh(field, en, zh)
}

fn parse_instant(field: &str, s: &str) -> ServiceResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(
                field,
                format!("'{s}' is not an RFC 3339 time such as 2026-11-24T09:00:00+08:00"),
                format!("“{s}”不是有效的时间（例如 2026-11-24T09:00:00+08:00）"),
            )
        })
}

fn sla_error(e: &SlaError) -> ServiceError {
    match e {
        SlaError::NoAccessPoints => invalid(
            "access_points",
            e.to_string(),
            "SLA-05：接入点数至少为 1".into(),
        ),
        SlaError::TableIncomplete { stage, tier } => invalid(
            "stage",
            e.to_string(),
            format!(
                "SLA-04：时限表不完整：sla.toml 中没有{}客户的“{stage}”时限",
                tier.name_zh()
            ),
        ),
        other => invalid("stage", other.to_string(), other.to_string()),
    }
}

fn refusal_error(r: &DelayRefusal, tz: chrono_tz::Tz) -> ServiceError {
    match r {
        DelayRefusal::NotCustomerCaused { rule } => invalid(
            "reason",
            r.to_string(),
            format!("{rule}：只能为客户原因造成的延误申请延期；非客户原因一律按超时考核"),
        ),
        DelayRefusal::AfterDeadline { rule, deadline, .. } => invalid(
            "filed_at",
            r.to_string(),
            format!(
                "{rule}：延期申请须在开通时限 {} 前提出；本次申请已逾时限，记为一次超时",
                deadline.with_timezone(&tz).format("%Y-%m-%d %H:%M")
            ),
        ),
    }
}

fn clock_of(
    o: &ProvisioningOrderRow,
    day_seconds: i64,
    delays: &[ProvisioningDelayRow],
) -> ServiceResult<ProvisioningClock> {
    let limit: StageLimit = o.limit_text.parse().map_err(|e| {
        ServiceError::Internal(format!("provisioning order {}: stored limit: {e}", o.id))
    })?;
    Ok(ProvisioningClock {
        started_at: from_micros(o.started_at),
        limit,
        day_seconds,
        pauses: delays
            .iter()
            .filter(|d| d.outcome == "granted")
            .map(|d| ProvisioningPause {
                reason: PauseReason::CustomerCaused,
                from: from_micros(d.from_at),
                to: Some(from_micros(d.until_at)),
            })
            .collect(),
    })
}

/// What the order's clock says at `now`.
pub fn view_of(
    p: &Platform,
    o: ProvisioningOrderRow,
    customer_name: String,
    delays: Vec<ProvisioningDelayRow>,
    clock: Option<ClockRow>,
    now: i64,
) -> OrderView {
    let pack = p.policy.current().pack.clone();
    let stage = pack.sla.stage(&o.stage);
    let mut rules = vec![stage.map_or_else(|| "SLA-04".to_string(), |s| s.rule.clone())];
    if o.access_points > i64::from(pack.sla.access_points.included)
        && stage.is_some_and(|s| s.scales_with_access_points)
    {
        rules.push(pack.sla.access_points.rule.clone());
    }
    let completed_late = o.completed_at.is_some_and(|c| c > o.deadline_at);
    let overdue_now = o.completed_at.is_none() && now > o.deadline_at;
    let late_requests = u32::try_from(o.late_requests).unwrap_or(u32::MAX);
    OrderView {
        stage_name_zh: stage.map_or_else(|| o.stage.clone(), |s| s.name_zh.clone()),
        rules,
        overdue_now,
        completed_late,
        overdue_count: overdue_count(late_requests, completed_late || overdue_now),
        customer_name,
        order: o,
        delays,
        clock,
        delivery: Delivery::default(),
    }
}

async fn clock_row(p: &Platform, id: i64) -> ServiceResult<Option<ClockRow>> {
    Ok(p.store
        .clocks_of(KIND, &id.to_string())
        .await?
        .into_iter()
        .rfind(|c| c.clock_key == CLOCK_KEY))
}

async fn customer_by_key(p: &Platform, key: &str) -> ServiceResult<GroupCustomerRow> {
    p.store
        .group_customer(key)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("group customer {key}")))
}

/// A customer with its SLA-03 levels and its orders (newest first).
pub async fn customer(p: &Platform, actor: &Principal, key: &str) -> ServiceResult<CustomerDetail> {
    actor.require(Permission::OrgRead)?;
    let c = customer_by_key(p, key).await?;
    let pack = p.policy.current().pack.clone();
    let tier = c.tier.parse::<Tier>().ok();
    let assurance = match tier {
        Some(t) => pack
            .sla
            .service_types
            .iter()
            .filter_map(|s| {
                Some(AssuranceCell {
                    service_type: s.key.clone(),
                    name_zh: s.name_zh.clone(),
                    level: pack.sla.assurance_level(t, &s.key).ok()?,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let orders = orders_of(p, &c).await?;
    Ok(CustomerDetail {
        default_level: tier.and_then(|t| pack.sla.assurance.default.get(&t).copied()),
        customer: c,
        assurance,
        orders,
    })
}

async fn orders_of(p: &Platform, c: &GroupCustomerRow) -> ServiceResult<Vec<OrderView>> {
    let now = p.now_us();
    let mut out = Vec::new();
    for o in p.store.provisioning_orders_of(c.id).await? {
        let delays = p.store.provisioning_delays(o.id).await?;
        let clock = clock_row(p, o.id).await?;
        let mut v = view_of(p, o, c.name.clone(), delays, clock, now);
        delivery::attach(p, &mut v).await?;
        out.push(v);
    }
    Ok(out)
}

/// The orders of a customer, newest first.
pub async fn list(p: &Platform, actor: &Principal, key: &str) -> ServiceResult<Vec<OrderView>> {
    actor.require(Permission::OrgRead)?;
    let c = customer_by_key(p, key).await?;
    orders_of(p, &c).await
}

/// One order with its delay requests.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<OrderView> {
    actor.require(Permission::OrgRead)?;
    let o = p
        .store
        .provisioning_order(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("provisioning order {id}")))?;
    let c = customer_by_key(p, &o.customer_key).await?;
    let delays = p.store.provisioning_delays(id).await?;
    let clock = clock_row(p, id).await?;
    let mut v = view_of(p, o, c.name, delays, clock, p.now_us());
    delivery::attach(p, &mut v).await?;
    Ok(v)
}

fn sla_calendar(p: &Platform) -> ServiceResult<(WorkCalendar, i64)> {
    let pol = p.policy.current();
    let cal = pol.calendars.get(&pol.pack.sla.calendar)?.clone();
    Ok((cal, pol.pack.sla.day_seconds))
}

/// Places an order for customer `key`: the limit of its stage for the customer's tier, scaled by SLA-05, and
/// the deadline on the SLA calendar from now. A stage whose cell the seed does not give is refused (SLA-04).
pub async fn create(
    p: &Platform,
    actor: &Principal,
    key: &str,
    input: NewOrderInput,
) -> ServiceResult<OrderView> {
    actor.require(Permission::OrgManage)?;
    let c = customer_by_key(p, key).await?;
    let pack = p.policy.current().pack.clone();
    let stage_key = input.stage.trim().to_string();
    let Some(stage) = pack.sla.stage(&stage_key) else {
        let known: Vec<&str> = pack.sla.stages.iter().map(|s| s.key.as_str()).collect();
        return Err(invalid(
            "stage",
            format!(
                "'{stage_key}' is not a stage of sla.toml ({})",
                known.join(", ")
            ),
            format!("“{stage_key}”不是 sla.toml 中的环节"),
        ));
    };
    // Wall-clock stages (service recovery) are timed on the fault ticket (SLA-11), not by an order.
    if stage
        .limits
        .values()
        .any(|l| matches!(l, StageLimit::WallClock(_)))
    {
        return Err(invalid(
            "stage",
            format!(
                "{}: '{stage_key}' is timed on fault tickets in wall-clock time, not by an order",
                stage.rule
            ),
            format!(
                "{}：“{}”按故障工单计时，不能下单",
                stage.rule, stage.name_zh
            ),
        ));
    }
    if !(1..=100_000).contains(&input.access_points) {
        return Err(invalid(
            "access_points",
            format!(
                "{}: access points must be 1..=100000",
                pack.sla.access_points.rule
            ),
            format!("{}：接入点数须为 1 至 100000", pack.sla.access_points.rule),
        ));
    }
    let city = input.city.trim().to_string();
    if city.is_empty() || city.chars().count() > 64 {
        return Err(invalid(
            "city",
            "1–64 characters".into(),
            "城市须为 1 至 64 个字符".into(),
        ));
    }
    let note = input.note.unwrap_or_default().trim().to_string();
    if note.chars().count() > 2000 {
        return Err(invalid(
            "note",
            "at most 2000 characters".into(),
            "备注最多 2000 个字符".into(),
        ));
    }
    let tier = c
        .tier
        .parse::<Tier>()
        .map_err(|e| ServiceError::Internal(format!("customer {key}: {e}")))?;
    let points = u32::try_from(input.access_points).unwrap_or(u32::MAX);
    let limit = pack
        .sla
        .limit(&stage_key, Some(tier), points)
        .map_err(|e| sla_error(&e))?;
    let (cal, day_seconds) = sla_calendar(p)?;
    let now = p.clock.now();
    let clock = ProvisioningClock {
        started_at: now,
        limit,
        day_seconds,
        pauses: Vec::new(),
    };
    let deadline = clock
        .deadline(&cal, now)
        .map_err(|e| ServiceError::Internal(format!("SLA calendar: {e}")))?;
    let now_us = now.timestamp_micros();
    let who = actor.actor();
    let new = NewProvisioningOrder {
        customer_id: c.id,
        stage: stage_key,
        tier: tier.as_str().into(),
        access_points: input.access_points,
        city,
        note,
        limit_text: limit.to_string(),
        started_at: now_us,
        deadline_at: deadline.timestamp_micros(),
        created_by: who.clone(),
        now: now_us,
    };
    let pol = p.policy.current();
    let rule = pack
        .sla
        .stage(&new.stage)
        .map_or_else(|| "SLA-04".to_string(), |s| s.rule.clone());
    let stage_zh = pack
        .sla
        .stage(&new.stage)
        .map_or_else(|| new.stage.clone(), |s| s.name_zh.clone());
    let basis = match limit {
        StageLimit::WorkingDays(_) => DeadlineBasis::WorkingTime {
            seconds: limit.seconds(day_seconds),
            calendar: pack.sla.calendar.clone(),
        },
        StageLimit::WallClock(_) => DeadlineBasis::WallClock {
            seconds: limit.seconds(day_seconds),
        },
    };
    let breach = pack.sla.breach.clone();
    let (customer_key, customer_name) = (c.key.clone(), c.name.clone());
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let row = insert_order(c, &new).await?;
                // The deadline as a durable clock: same start, working time and calendar as `deadline_at`.
                let clock = clocks::start(
                    c,
                    &pol,
                    ClockSpec {
                        subject_kind: KIND.into(),
                        subject_id: row.id.to_string(),
                        clock_key: CLOCK_KEY.into(),
                        rule,
                        basis,
                        calendar: Some(pol.pack.sla.calendar.clone()),
                        start_at: row.started_at,
                        repeat: None,
                        notify: Notify {
                            template: breach.template,
                            recipients: Recipients {
                                roles: breach.roles,
                                ..Default::default()
                            },
                            context: json!({
                                "order_id": row.id.to_string(),
                                "customer": customer_name,
                                "stage": stage_zh,
                                "tier": row.tier,
                                "limit": row.limit_text,
                                "link": format!("/customers/{customer_key}#order-{}", row.id),
                            }),
                            review: false,
                        },
                    },
                )
                .await?;
                if clock.due_at != row.deadline_at {
                    return Err(StoreError::Corrupt(format!(
                        "provisioning order {}: clock due {} ≠ deadline {}",
                        row.id, clock.due_at, row.deadline_at
                    )));
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "provisioning.create".into(),
                        object_type: "provisioning_order".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"customer": row.customer_key, "stage": row.stage,
                            "tier": row.tier, "access_points": row.access_points, "city": row.city,
                            "limit": row.limit_text, "deadline_at": row.deadline_at})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    let clock = clock_row(p, row.id).await?;
    Ok(view_of(p, row, c.name, Vec::new(), clock, now_us))
}

/// Outcome of a delay request inside the write.
enum Filed {
    Requested,
    Refused(DelayRefusal),
}

fn check_note(field: &str, note: &str) -> ServiceResult<()> {
    if note.chars().count() > 2000 {
        return Err(invalid(
            field,
            "at most 2000 characters".into(),
            "最多 2000 个字符".into(),
        ));
    }
    Ok(())
}

fn locked_open_order(
    o: Option<ProvisioningOrderRow>,
    id: i64,
    version: i64,
) -> Result<ProvisioningOrderRow, StoreError> {
    let o = o.ok_or_else(|| StoreError::NotFound(format!("provisioning order {id}")))?;
    if o.version != version {
        return Err(StoreError::Stale(format!("provisioning order {id}")));
    }
    if o.state != "open" {
        return Err(StoreError::Conflict {
            field: "state".into(),
            message: "the order is completed; its clock has stopped".into(),
        });
    }
    Ok(o)
}

/// Files a delay request (SLA-07), checked at once against the deadline in force now — the filing time, not the
/// decision, decides lateness: a customer-caused one filed before the deadline waits as `requested` for a second
/// person's decision ([`decide_delay`]); one filed at or after the deadline is refused naming SLA-07 and recorded
/// as one overdue; any other cause is refused and nothing is stored. One request of an order waits at a time.
/// Version-checked; a filed request changes the order's version.
pub async fn file_delay(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: DelayInput,
) -> ServiceResult<OrderView> {
    actor.require(Permission::OrgManage)?;
    let reason = match input.reason.trim() {
        "customer_caused" => DelayReason::CustomerCaused,
        "not_customer_caused" => DelayReason::NotCustomerCaused,
        other => {
            return Err(invalid(
                "reason",
                format!("'{other}' is not customer_caused or not_customer_caused"),
                format!("“{other}”不是有效的延期原因"),
            ))
        }
    };
    let now = p.clock.now();
    let from = match input
        .from
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => parse_instant("from", s)?,
        None => now,
    };
    let until = parse_instant("until", &input.until)?;
    if until <= from {
        return Err(invalid(
            "until",
            "the delay must end after it starts".into(),
            "延期结束时间须晚于开始时间".into(),
        ));
    }
    let note = input.note.unwrap_or_default().trim().to_string();
    check_note("note", &note)?;
    let (cal, day_seconds) = sla_calendar(p)?;
    let tz = cal.time_zone();
    let who = actor.actor();
    let requester = actor.username.clone();
    let now_us = now.timestamp_micros();
    let version = input.version;
    let out = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let o = locked_open_order(order_for_update(c, id).await?, id, version)?;
                if from.timestamp_micros() < o.started_at {
                    return Err(StoreError::Conflict {
                        field: "from".into(),
                        message: "SLA-06: a delay cannot start before the order".into(),
                    });
                }
                let granted = granted_delays_in_tx(c, id).await?;
                let clock = clock_of(&o, day_seconds, &granted)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let decision = clock
                    .decide_delay(&cal, now, reason)
                    .map_err(|e| StoreError::Conflict { field: "until".into(), message: e.to_string() })?;
                let (outcome, deadline_after, late) = match &decision {
                    Err(r @ DelayRefusal::NotCustomerCaused { .. }) => {
                        return Ok(Filed::Refused(r.clone()))
                    }
                    Err(DelayRefusal::AfterDeadline { .. }) => ("refused_late", o.deadline_at, 1),
                    Ok(()) => {
                        if let Some(w) = requested_delay_in_tx(c, id).await? {
                            return Err(StoreError::Conflict {
                                field: "state".into(),
                                message: format!(
                                    "SLA-07: delay request #{} of this order is awaiting a decision",
                                    w.id
                                ),
                            });
                        }
                        // The deadline it would move to once approved, shown to the approver.
                        let d = with_pause(&clock, &cal, from, until, now)?;
                        ("requested", d, 0)
                    }
                };
                insert_delay(
                    c,
                    &NewProvisioningDelay {
                        order_id: id,
                        from_at: from.timestamp_micros(),
                        until_at: until.timestamp_micros(),
                        note,
                        outcome: outcome.into(),
                        deadline_before: o.deadline_at,
                        deadline_after,
                        filed_by: who.clone(),
                        filed_at: now_us,
                        requested_by: requester,
                    },
                )
                .await?;
                let row = save_order_clock(
                    c,
                    id,
                    version,
                    o.deadline_at,
                    &o.state,
                    o.completed_at,
                    o.late_requests + late,
                    now_us,
                )
                .await?;
                let action = if late == 1 { "provisioning.delay_refused_late" } else { "provisioning.delay_requested" };
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: action.into(),
                        object_type: "provisioning_order".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"deadline_at": o.deadline_at, "late_requests": o.late_requests})),
                        after: Some(json!({"deadline_at": row.deadline_at, "late_requests": row.late_requests,
                            "from": from.timestamp_micros(), "until": until.timestamp_micros(),
                            "deadline_if_granted": deadline_after})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(match decision {
                    Ok(()) => Filed::Requested,
                    Err(r) => Filed::Refused(r),
                })
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict { field, message } if field != "state" => {
                ServiceError::invalid(field, message)
            }
            other => other.into(),
        })?;
    match out {
        Filed::Requested => get(p, actor, id).await,
        Filed::Refused(r) => Err(refusal_error(&r, tz)),
    }
}

/// The deadline of `clock` with one more customer-caused pause `[from, until)`.
fn with_pause(
    clock: &ProvisioningClock,
    cal: &WorkCalendar,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let mut moved = clock.clone();
    moved.pauses.push(ProvisioningPause {
        reason: PauseReason::CustomerCaused,
        from,
        to: Some(until),
    });
    moved
        .deadline(cal, now)
        .map(|d| d.timestamp_micros())
        .map_err(|e| StoreError::Conflict {
            field: "until".into(),
            message: e.to_string(),
        })
}

/// The decision on a delay request awaiting one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DelayDecisionInput {
    /// Grant it: the delay becomes a pause of the clock (SLA-06) and the deadline moves.
    Approve,
    /// Refuse it, with the reason (required).
    Reject { reason: String },
}

/// Decides delay request `delay_id` of order `id` (needs `provisioning.approve`; the decider is never the
/// requester — four-eyes, refused on `approver`). Approved: the delay is a pause of the clock (SLA-06), the
/// deadline and the order's durable clock move, whenever the decision falls (the filing time already decided
/// SLA-07 lateness). Rejected: recorded with the reason; the deadline stays. Version-checked on the order; a
/// decided request or a completed order → 409 on `state`.
pub async fn decide_delay(
    p: &Platform,
    actor: &Principal,
    id: i64,
    delay_id: i64,
    version: i64,
    decision: DelayDecisionInput,
) -> ServiceResult<OrderView> {
    actor.require(Permission::ProvisioningApprove)?;
    let note = match &decision {
        DelayDecisionInput::Approve => String::new(),
        DelayDecisionInput::Reject { reason } => {
            let r = reason.trim().to_string();
            if r.is_empty() {
                return Err(invalid(
                    "reason",
                    "SLA-07: give the reason the delay request is rejected".into(),
                    "SLA-07：驳回延期申请须说明理由".into(),
                ));
            }
            check_note("reason", &r)?;
            r
        }
    };
    let approve = decision == DelayDecisionInput::Approve;
    let (cal, day_seconds) = sla_calendar(p)?;
    let now = p.clock.now();
    let now_us = now.timestamp_micros();
    let who = actor.actor();
    let decider = actor.username.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let o = order_for_update(c, id).await?;
                let d = delay_in_tx(c, id, delay_id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("delay request {delay_id} of provisioning order {id}")))?;
                let o = locked_open_order(o, id, version)?;
                if d.outcome != "requested" {
                    return Err(StoreError::Conflict {
                        field: "state".into(),
                        message: format!("delay request {delay_id} is already {}", d.outcome),
                    });
                }
                if d.requested_by == decider {
                    return Err(StoreError::Conflict {
                        field: "approver".into(),
                        message: format!(
                            "SLA-07: a delay request is decided by someone other than its requester ({decider})"
                        ),
                    });
                }
                let deadline_after = if approve {
                    let granted = granted_delays_in_tx(c, id).await?;
                    let clock = clock_of(&o, day_seconds, &granted)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    with_pause(&clock, &cal, from_micros(d.from_at), from_micros(d.until_at), now)?
                } else {
                    o.deadline_at
                };
                let outcome = if approve { "granted" } else { "rejected" };
                decide(c, delay_id, outcome, deadline_after, &who, now_us, &note).await?;
                let row = save_order_clock(
                    c,
                    id,
                    version,
                    deadline_after,
                    &o.state,
                    o.completed_at,
                    o.late_requests,
                    now_us,
                )
                .await?;
                if approve {
                    clocks::move_due(c, KIND, &id.to_string(), CLOCK_KEY, deadline_after, now_us, "delay granted (SLA-07)")
                        .await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: format!("provisioning.delay_{outcome}"),
                        object_type: "provisioning_order".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"delay": delay_id, "outcome": d.outcome, "deadline_at": o.deadline_at})),
                        after: Some(json!({"delay": delay_id, "outcome": outcome, "deadline_at": row.deadline_at,
                            "requested_by": d.requested_by, "reason": note})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    get(p, actor, id).await
}

/// Records completion feedback now (SLA-06: the clock stops). Version-checked; a completed order → 409.
pub async fn complete(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<OrderView> {
    actor.require(Permission::OrgManage)?;
    let now_us = p.now_us();
    let who = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let o = order_for_update(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("provisioning order {id}")))?;
                if o.version != version {
                    return Err(StoreError::Stale(format!("provisioning order {id}")));
                }
                if o.state != "open" {
                    return Err(StoreError::Conflict {
                        field: "state".into(),
                        message: "the order is already completed".into(),
                    });
                }
                let row = save_order_clock(
                    c,
                    id,
                    version,
                    o.deadline_at,
                    "completed",
                    Some(now_us),
                    o.late_requests,
                    now_us,
                )
                .await?;
                // SLA-06: the completion feedback stops the deadline clock (met if in time, else breached).
                clocks::stop(c, KIND, &id.to_string(), CLOCK_KEY, now_us, "completed").await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "provisioning.complete".into(),
                        object_type: "provisioning_order".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": o.state})),
                        after: Some(json!({"state": row.state, "completed_at": now_us,
                            "on_time": now_us <= row.deadline_at})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    get(p, actor, id).await
}
