//! Delivery steps of provisioning orders (issue 8, KPI engine): SLA-09 acceptances and the KPI-06 data
//! configuration, the records KPI-05 and KPI-06 are scored from (`crate::kpi`). Both belong to orders of the
//! `provisioning` stage (a survey is neither accepted nor configured). Writes need `org.manage` like every other
//! write on an order, check the order's version, move it, and are audited.
//!
//! Acceptances follow the SLA-09 phase order (`core::sla::check_acceptance`); a failed initial acceptance is kept
//! — it sends the order back to engineering for rectification and, being the first, decides KPI-05 even when a
//! later one passes. A data configuration records the notice and the start once each; the start may not
//! precede the notice (KPI-06).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::sla::{
    acceptance_state, check_acceptance, configuration_wait, AcceptanceOutcome, AcceptancePhase,
    AcceptanceRefusal, AcceptanceState, AcceptanceStep, Tier,
};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::delivery::{
    acceptances_in_tx, data_config_in_tx, insert_acceptance, insert_data_config, start_data_config,
    AcceptanceRow, DataConfigRow, NewAcceptance,
};
use tianshu_store::provisioning::{order_for_update, touch_order, ProvisioningOrderRow};
use tianshu_store::time::from_micros;
use tianshu_store::StoreError;

use crate::authz::Principal;
use crate::kpi::{data_configuration_limit, PROVISIONING_STAGE};
use crate::provisioning::{self as prov, OrderView};
use crate::{Platform, ServiceError, ServiceResult};

/// An acceptance to record (SLA-09).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceInput {
    /// The order's version.
    pub version: i64,
    /// `accompanying_inspection`, `initial_acceptance`, `trial_run` or `final_acceptance`.
    pub phase: String,
    /// `passed` or `failed`.
    pub outcome: String,
    /// When it was held, RFC 3339 (default: now).
    pub held_at: Option<String>,
    pub note: Option<String>,
}

/// The notice and / or start of an order's data configuration (KPI-06).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfigInput {
    /// The order's version.
    pub version: i64,
    /// When the configuration notice was given, RFC 3339 (required the first time; once recorded it stays).
    pub notified_at: Option<String>,
    /// When configuration started, RFC 3339 (not before the notice; once recorded it stays).
    pub started_at: Option<String>,
    pub note: Option<String>,
}

/// An order's data configuration with what KPI-06 reads from it.
#[derive(Debug, Clone, Serialize)]
pub struct DataConfigView {
    pub row: DataConfigRow,
    /// The KPI-06 limit for the order's tier in seconds (kpi.toml), if the pack gives a wall-clock one.
    pub limit_seconds: Option<i64>,
    /// Seconds from notice to start, once started.
    pub wait_seconds: Option<i64>,
    /// Seconds beyond the limit (≤ 0: in time), once started.
    pub overrun_seconds: Option<i64>,
}

/// The delivery records of an order, as shown with it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Acceptances in recorded order.
    pub acceptances: Vec<AcceptanceRow>,
    /// Where the order stands in SLA-09.
    pub acceptance_state: AcceptanceState,
    /// Whether the order's first initial acceptance passed (KPI-05); `None` before it is held.
    pub first_initial_passed: Option<bool>,
    pub data_configuration: Option<DataConfigView>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            acceptances: Vec::new(),
            acceptance_state: AcceptanceState::NotStarted,
            first_initial_passed: None,
            data_configuration: None,
        }
    }
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

fn optional_instant(field: &str, s: Option<&str>) -> ServiceResult<Option<DateTime<Utc>>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_instant(field, s).map(Some),
        None => Ok(None),
    }
}

fn check_note(note: Option<String>) -> ServiceResult<String> {
    let note = note.unwrap_or_default().trim().to_string();
    if note.chars().count() > 2000 {
        return Err(invalid(
            "note",
            "at most 2000 characters".into(),
            "备注最多 2000 个字符".into(),
        ));
    }
    Ok(note)
}

fn not_future(field: &str, t: DateTime<Utc>, now: DateTime<Utc>) -> ServiceResult<()> {
    if t > now {
        return Err(invalid(
            field,
            "cannot be in the future".into(),
            "不能晚于当前时间".into(),
        ));
    }
    Ok(())
}

fn steps(rows: &[AcceptanceRow]) -> Result<Vec<AcceptanceStep>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(AcceptanceStep {
                phase: r
                    .phase
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("acceptance {}: {e}", r.id)))?,
                outcome: r
                    .outcome
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("acceptance {}: {e}", r.id)))?,
                held_at: from_micros(r.held_at),
            })
        })
        .collect()
}

fn refusal(r: &AcceptanceRefusal, tz: chrono_tz::Tz) -> ServiceError {
    let zh = match r {
        AcceptanceRefusal::OutOfOrder { phase, needs } => format!(
            "SLA-09：尚不能进行{}，须先通过{}",
            phase.name_zh(),
            needs.name_zh()
        ),
        AcceptanceRefusal::PhaseOver { phase, after } => format!(
            "SLA-09：{}已通过，不能再进行{}",
            after.name_zh(),
            phase.name_zh()
        ),
        AcceptanceRefusal::BeforePrevious { previous, .. } => format!(
            "SLA-09：验收须按顺序登记，举行时间不能早于上一次验收（{}）",
            previous.with_timezone(&tz).format("%Y-%m-%d %H:%M")
        ),
    };
    invalid(r.field(), r.to_string(), zh)
}

/// A refusal found inside the write, before anything was written.
enum Written {
    Done,
    Refused(ServiceError),
}

/// The order `id` checked for a delivery write: exists, still at `version`, of the provisioning stage.
fn deliverable(
    o: Option<ProvisioningOrderRow>,
    id: i64,
    version: i64,
) -> Result<Result<ProvisioningOrderRow, ServiceError>, StoreError> {
    let o = o.ok_or_else(|| StoreError::NotFound(format!("provisioning order {id}")))?;
    if o.version != version {
        return Err(StoreError::Stale(format!("provisioning order {id}")));
    }
    if o.stage != PROVISIONING_STAGE {
        return Ok(Err(ServiceError::Conflict {
            field: "stage".into(),
            message: format!(
                "SLA-09/KPI-06: acceptances and data configuration belong to orders of the '{PROVISIONING_STAGE}' stage, not '{}'",
                o.stage
            ),
        }));
    }
    Ok(Ok(o))
}

/// The KPI-06 reading of a data configuration for an order of `tier`.
fn config_view(p: &Platform, row: DataConfigRow) -> DataConfigView {
    let pack = p.policy.current().pack.clone();
    let limit_seconds = row
        .tier
        .parse::<Tier>()
        .ok()
        .and_then(|t| data_configuration_limit(&pack, t));
    let wait_seconds = row
        .started_at
        .map(|s| (s - row.notified_at).div_euclid(1_000_000));
    DataConfigView {
        overrun_seconds: wait_seconds.zip(limit_seconds).map(|(w, l)| w - l),
        limit_seconds,
        wait_seconds,
        row,
    }
}

/// The current tier of the customer of order `id`.
async fn customer_tier(p: &Platform, id: i64) -> ServiceResult<String> {
    let o = p
        .store
        .provisioning_order(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("provisioning order {id}")))?;
    let c = p
        .store
        .group_customer(&o.customer_key)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("group customer {}", o.customer_key)))?;
    Ok(c.tier)
}

/// Loads the delivery records of an order into its view.
pub async fn attach(p: &Platform, v: &mut OrderView) -> ServiceResult<()> {
    let acceptances = p.store.acceptances(v.order.id).await?;
    let history = steps(&acceptances)?;
    let first = tianshu_core::sla::first_initial_acceptance(&history);
    v.delivery = Delivery {
        acceptance_state: acceptance_state(&history),
        first_initial_passed: first.map(|s| s.outcome == AcceptanceOutcome::Passed),
        acceptances,
        data_configuration: p
            .store
            .data_config(v.order.id)
            .await?
            .map(|r| config_view(p, r)),
    };
    Ok(())
}

/// Records an acceptance of order `id` (SLA-09): phase order enforced (422 on `phase` naming SLA-09), held in
/// time order, not before the order nor in the future (422 on `held_at`). A failed initial acceptance returns the
/// order to engineering for rectification; the initial acceptance is then held again. Version-checked.
pub async fn record_acceptance(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: AcceptanceInput,
) -> ServiceResult<OrderView> {
    actor.require(Permission::OrgManage)?;
    let phase: AcceptancePhase = input.phase.trim().parse().map_err(|e| {
        invalid(
            "phase",
            format!("SLA-09: {e}"),
            format!("SLA-09：“{}”不是验收阶段", input.phase.trim()),
        )
    })?;
    let outcome: AcceptanceOutcome = input.outcome.trim().parse().map_err(|e| {
        invalid(
            "outcome",
            format!("{e}"),
            format!("“{}”不是验收结论（通过 / 不通过）", input.outcome.trim()),
        )
    })?;
    let now = p.clock.now();
    let held_at = optional_instant("held_at", input.held_at.as_deref())?.unwrap_or(now);
    not_future("held_at", held_at, now)?;
    let note = check_note(input.note)?;
    let tz = p.time_zone();
    let who = actor.actor();
    let now_us = now.timestamp_micros();
    let version = input.version;
    let out = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let o = match deliverable(order_for_update(c, id).await?, id, version)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Written::Refused(e)),
                };
                if held_at.timestamp_micros() < o.started_at {
                    return Ok(Written::Refused(invalid(
                        "held_at",
                        "SLA-09: an acceptance cannot be held before the order was placed".into(),
                        "SLA-09：验收时间不能早于下单时间".into(),
                    )));
                }
                let rows = acceptances_in_tx(c, id).await?;
                let history = steps(&rows)?;
                if let Err(r) = check_acceptance(&history, phase, held_at) {
                    return Ok(Written::Refused(refusal(&r, tz)));
                }
                let before = acceptance_state(&history);
                let a = insert_acceptance(
                    c,
                    &NewAcceptance {
                        order_id: id,
                        phase: phase.as_str().into(),
                        outcome: outcome.as_str().into(),
                        held_at: held_at.timestamp_micros(),
                        note,
                        recorded_by: who.clone(),
                        recorded_at: now_us,
                    },
                )
                .await?;
                touch_order(c, id, version, now_us).await?;
                let mut after = history;
                after.push(AcceptanceStep {
                    phase,
                    outcome,
                    held_at,
                });
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "provisioning.acceptance".into(),
                        object_type: "provisioning_order".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"acceptance_state": before.as_str()})),
                        after: Some(json!({"acceptance": a.id, "phase": a.phase, "outcome": a.outcome,
                            "held_at": a.held_at, "acceptance_state": acceptance_state(&after).as_str()})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(Written::Done)
            })
        })
        .await?;
    match out {
        Written::Done => prov::get(p, actor, id).await,
        Written::Refused(e) => Err(e),
    }
}

/// Records the data-configuration notice and / or start of order `id` (KPI-06). The first record needs
/// `notified_at`; each instant is recorded once (another notice, or a second start → 409 on that field); the start may not
/// precede the notice (422 on `started_at` naming KPI-06); neither lies in the future nor the notice before the
/// order. The customer's tier at the first record selects the KPI-06 unit. Version-checked.
pub async fn record_data_configuration(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: DataConfigInput,
) -> ServiceResult<OrderView> {
    actor.require(Permission::OrgManage)?;
    let now = p.clock.now();
    let notified = optional_instant("notified_at", input.notified_at.as_deref())?;
    let started = optional_instant("started_at", input.started_at.as_deref())?;
    if let Some(t) = notified {
        not_future("notified_at", t, now)?;
    }
    if let Some(t) = started {
        not_future("started_at", t, now)?;
    }
    let note = check_note(input.note)?;
    // KPI-06 deducts in units of the customer's tier; it is taken as it stands when the notice is recorded.
    let tier = customer_tier(p, id).await?;
    let who = actor.actor();
    let now_us = now.timestamp_micros();
    let version = input.version;
    let out = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let o = match deliverable(order_for_update(c, id).await?, id, version)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Written::Refused(e)),
                };
                let existing = data_config_in_tx(c, id).await?;
                let notice = match (&existing, notified) {
                    (Some(d), Some(n)) if d.notified_at != n.timestamp_micros() => {
                        return Ok(Written::Refused(ServiceError::Conflict {
                            field: "notified_at".into(),
                            message:
                                "KPI-06: the configuration notice of this order is already recorded"
                                    .into(),
                        }))
                    }
                    (Some(d), _) => from_micros(d.notified_at),
                    (None, Some(n)) => n,
                    (None, None) => {
                        return Ok(Written::Refused(invalid(
                            "notified_at",
                            "KPI-06: record when the configuration notice was given".into(),
                            "KPI-06：请填写数据配置通知时间".into(),
                        )))
                    }
                };
                if existing.is_none() && notice.timestamp_micros() < o.started_at {
                    return Ok(Written::Refused(invalid(
                        "notified_at",
                        "KPI-06: the configuration notice cannot precede the order".into(),
                        "KPI-06：数据配置通知时间不能早于下单时间".into(),
                    )));
                }
                if let Some(s) = started {
                    if let Err(e) = configuration_wait(notice, s) {
                        return Ok(Written::Refused(invalid(
                            "started_at",
                            e.to_string(),
                            "KPI-06：数据配置开始时间不能早于通知时间".into(),
                        )));
                    }
                }
                let row = match (&existing, started) {
                    (None, s) => {
                        insert_data_config(
                            c,
                            &DataConfigRow {
                                order_id: id,
                                notified_at: notice.timestamp_micros(),
                                started_at: s.map(|t| t.timestamp_micros()),
                                tier,
                                note,
                                notified_by: who.clone(),
                                started_by: s.map(|_| who.clone()),
                                created_at: now_us,
                                updated_at: now_us,
                            },
                        )
                        .await?
                    }
                    (Some(d), Some(_)) if d.started_at.is_some() => {
                        return Ok(Written::Refused(ServiceError::Conflict {
                            field: "started_at".into(),
                            message:
                                "KPI-06: the start of this data configuration is already recorded"
                                    .into(),
                        }))
                    }
                    (Some(d), Some(s)) => {
                        let note = if note.is_empty() {
                            d.note.clone()
                        } else {
                            note
                        };
                        start_data_config(c, id, s.timestamp_micros(), &who, &note, now_us).await?
                    }
                    (Some(_), _) => return Ok(Written::Refused(invalid(
                        "started_at",
                        "KPI-06: the notice is already recorded; give when configuration started"
                            .into(),
                        "KPI-06：通知时间已登记，请填写数据配置开始时间".into(),
                    ))),
                };
                touch_order(c, id, version, now_us).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "provisioning.data_configuration".into(),
                        object_type: "provisioning_order".into(),
                        object_id: id.to_string(),
                        before: existing.as_ref().map(
                            |d| json!({"notified_at": d.notified_at, "started_at": d.started_at}),
                        ),
                        after: Some(
                            json!({"notified_at": row.notified_at, "started_at": row.started_at}),
                        ),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(Written::Done)
            })
        })
        .await?;
    match out {
        Written::Done => prov::get(p, actor, id).await,
        Written::Refused(e) => Err(e),
    }
}
