//! Alert intake and handling (issue 5; MON-04, MON-06): Prometheus Alertmanager webhooks (version 4, unchanged)
//! and a generic events API with PagerDuty Events v2 semantics (trigger / acknowledge / resolve by dedup key).
//!
//! Every accepted batch is one write: the alerts, their history, the routing decision and the outbox messages
//! it queues commit together before the caller gets an answer, so an acknowledged event is never lost and a
//! repeated one is never a second alert (unique dedup key). Users acknowledge and resolve alerts (audited) and
//! manage silences and maintenance windows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::alert::{self as rules, AlertSituation, Labels, Matcher, Mute, Suppression};
use tianshu_core::policy::{AlertRoute, MonitoringPolicy, TicketAction};
use tianshu_core::Permission;
use tianshu_store::alerts::{
    self as st, AlertDecision, AlertEventRow, AlertFilter, AlertRow, MuteKind, MuteRow, NewAlert,
    NewAlertEvent, NewMute,
};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_store::{Conn, StoreResult};

use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

// ------------------------------------------------------------------------------------------------ input

/// An Alertmanager webhook payload (version 4). Unknown fields are ignored: Alertmanager adds fields over time.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    pub version: String,
    #[serde(default)]
    pub group_key: Option<String>,
    pub status: String,
    #[serde(default)]
    pub receiver: Option<String>,
    pub alerts: Vec<AlertmanagerAlert>,
}

/// One alert of an Alertmanager payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// A generic event (PagerDuty Events v2 shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// `trigger`, `acknowledge` or `resolve`.
    pub event_action: String,
    /// Required for acknowledge / resolve; a trigger without one gets a new key (returned).
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// Accepted for compatibility; routing follows monitoring.toml, not the key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// Required for trigger.
    #[serde(default)]
    pub payload: Option<EventPayload>,
}

/// What a trigger carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPayload {
    pub summary: String,
    /// Where it happened (host, probe); label `instance`.
    pub source: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The system (label `system`).
    #[serde(default)]
    pub component: Option<String>,
    /// The region (label `region`).
    #[serde(default)]
    pub group: Option<String>,
    /// The kind of problem (label `alertname`).
    #[serde(default)]
    pub class: Option<String>,
    /// Extra labels (string values).
    #[serde(default)]
    pub custom_details: Option<BTreeMap<String, Value>>,
}

/// A checked event, whichever the source.
#[derive(Debug, Clone)]
struct Incoming {
    dedup_key: String,
    source: &'static str,
    action: Action,
    labels: Labels,
    annotations: BTreeMap<String, String>,
    starts_at: i64,
    ends_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fire,
    Acknowledge,
    Resolve,
}

/// What happened to one event.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub alert_id: Option<i64>,
    pub dedup_key: String,
    /// `created`, `refired`, `repeated`, `acknowledged`, `resolved` or `ignored` (unknown key / no change).
    pub result: String,
    pub state: Option<String>,
    /// Route keys notified.
    pub routes: Vec<String>,
    /// Why it was not notified, if so.
    pub suppressed: Option<String>,
    /// The ticket the alert was attached to or opened, if any.
    pub incident_id: Option<i64>,
}

// ------------------------------------------------------------------------------------------------ checks

fn parse_time(field: &str, s: &str) -> ServiceResult<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
        .map_err(|e| ServiceError::invalid(field, format!("'{s}' is not an RFC 3339 time: {e}")))
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid(field, message)
}

fn check_labels(pol: &MonitoringPolicy, at: &str, labels: &Labels) -> ServiceResult<()> {
    let i = &pol.intake;
    if labels.len() > i.max_labels as usize {
        return Err(malformed(
            format!("{at}labels"),
            format!("at most {} labels", i.max_labels),
        ));
    }
    for (k, v) in labels {
        let ok_name = !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !k.starts_with(|c: char| c.is_ascii_digit());
        if !ok_name {
            return Err(malformed(
                format!("{at}labels.{k}"),
                "a label name is letters, digits and _, not starting with a digit",
            ));
        }
        if k.len() > i.max_label_length as usize || v.len() > i.max_label_length as usize {
            return Err(malformed(
                format!("{at}labels.{k}"),
                format!("at most {} bytes", i.max_label_length),
            ));
        }
    }
    Ok(())
}

fn check_annotations(
    pol: &MonitoringPolicy,
    at: &str,
    a: &BTreeMap<String, String>,
) -> ServiceResult<()> {
    for (k, v) in a {
        if k.len() > pol.intake.max_label_length as usize
            || v.len() > pol.intake.max_annotation_length as usize
        {
            return Err(malformed(
                format!("{at}annotations.{k}"),
                format!("at most {} bytes", pol.intake.max_annotation_length),
            ));
        }
    }
    Ok(())
}

fn alertmanager_events(
    pol: &MonitoringPolicy,
    payload: &AlertmanagerPayload,
    now: i64,
) -> ServiceResult<Vec<Incoming>> {
    if payload.version != "4" {
        return Err(malformed(
            "version",
            format!(
                "'{}': only version 4 payloads are accepted",
                payload.version
            ),
        ));
    }
    if !matches!(payload.status.as_str(), "firing" | "resolved") {
        return Err(malformed("status", "expected firing or resolved"));
    }
    if payload.alerts.len() > pol.intake.max_batch as usize {
        return Err(malformed(
            "alerts",
            format!("at most {} alerts per payload", pol.intake.max_batch),
        ));
    }
    let mut out = Vec::with_capacity(payload.alerts.len());
    for (i, a) in payload.alerts.iter().enumerate() {
        let at = format!("alerts[{i}].");
        let action = match a.status.as_str() {
            "firing" => Action::Fire,
            "resolved" => Action::Resolve,
            _ => {
                return Err(malformed(
                    format!("{at}status"),
                    "expected firing or resolved",
                ))
            }
        };
        check_labels(pol, &at, &a.labels)?;
        check_annotations(pol, &at, &a.annotations)?;
        let starts_at = parse_time(&format!("{at}startsAt"), &a.starts_at)?;
        let ends_at = match (&a.ends_at, action) {
            (Some(s), Action::Resolve) => Some(parse_time(&format!("{at}endsAt"), s)?),
            (None, Action::Resolve) => Some(now),
            (Some(s), _) => {
                parse_time(&format!("{at}endsAt"), s)?;
                None
            }
            (None, _) => None,
        };
        out.push(Incoming {
            dedup_key: rules::alertmanager_dedup_key(&a.labels),
            source: "alertmanager",
            action,
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at,
            ends_at,
        });
    }
    Ok(out)
}

fn generic_event(pol: &MonitoringPolicy, e: &EventInput, now: i64) -> ServiceResult<Incoming> {
    let action = match e.event_action.as_str() {
        "trigger" => Action::Fire,
        "acknowledge" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        _ => {
            return Err(malformed(
                "event_action",
                "expected trigger, acknowledge or resolve",
            ))
        }
    };
    let key = match &e.dedup_key {
        Some(k) if k.trim().is_empty() || k.len() > 255 => {
            return Err(malformed("dedup_key", "1 to 255 characters"))
        }
        Some(k) => k.clone(),
        None if action == Action::Fire => crate::secrets::random_token(16),
        None => return Err(malformed("dedup_key", "required to acknowledge or resolve")),
    };
    let mut labels = Labels::new();
    let mut annotations = BTreeMap::new();
    let mut starts_at = now;
    if let Some(p) = &e.payload {
        if p.summary.trim().is_empty() || p.summary.len() > 1024 {
            return Err(malformed("payload.summary", "1 to 1024 characters"));
        }
        if !matches!(
            p.severity.as_str(),
            "critical" | "error" | "warning" | "info"
        ) {
            return Err(malformed(
                "payload.severity",
                "expected critical, error, warning or info",
            ));
        }
        if p.source.trim().is_empty() {
            return Err(malformed("payload.source", "must not be empty"));
        }
        if let Some(t) = &p.timestamp {
            starts_at = parse_time("payload.timestamp", t)?;
        }
        for (k, v) in p.custom_details.iter().flatten() {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(malformed(
                        format!("payload.custom_details.{k}"),
                        "expected a string, number or boolean",
                    ))
                }
            };
            labels.insert(k.clone(), v);
        }
        labels.insert("severity".into(), p.severity.clone());
        labels.insert("instance".into(), p.source.clone());
        for (k, v) in [
            ("system", &p.component),
            ("region", &p.group),
            ("alertname", &p.class),
        ] {
            if let Some(v) = v {
                labels.insert(k.into(), v.clone());
            }
        }
        annotations.insert("summary".to_string(), p.summary.clone());
        check_labels(pol, "payload.", &labels)?;
    } else if action == Action::Fire {
        return Err(malformed("payload", "required to trigger"));
    }
    Ok(Incoming {
        dedup_key: rules::event_dedup_key(&key),
        source: "events",
        action,
        labels,
        annotations,
        starts_at,
        ends_at: (action == Action::Resolve).then_some(now),
    })
}

// ------------------------------------------------------------------------------------------------ intake

/// Accepts an Alertmanager webhook payload; every alert in it is stored before this returns.
pub async fn ingest_alertmanager(
    p: &Platform,
    actor: &Principal,
    payload: AlertmanagerPayload,
) -> ServiceResult<Vec<Outcome>> {
    actor.require(Permission::AlertManage)?;
    let now = p.now_us();
    let pol = p.policy.current();
    let events = alertmanager_events(&pol.pack.monitoring, &payload, now)?;
    metrics::counter!("tianshu_alerts_received_total", "source" => "alertmanager")
        .increment(events.len() as u64);
    ingest(p, actor.actor(), events).await
}

/// Accepts one generic event (trigger / acknowledge / resolve); stored before this returns.
pub async fn ingest_event(
    p: &Platform,
    actor: &Principal,
    event: EventInput,
) -> ServiceResult<Outcome> {
    actor.require(Permission::AlertManage)?;
    let now = p.now_us();
    let pol = p.policy.current();
    let e = generic_event(&pol.pack.monitoring, &event, now)?;
    metrics::counter!("tianshu_alerts_received_total", "source" => "events").increment(1);
    let mut out = ingest(p, actor.actor(), vec![e]).await?;
    out.pop()
        .ok_or_else(|| ServiceError::Internal("no outcome".into()))
}

/// Raises (`fire`) or resolves an alert that Tianshu itself detected (a dial-test probe, a monitoring point)
/// through the same pipeline as external events: dedup by `dedup_key`, grouping, silences, routing, tickets.
/// A resolve keeps the labels the trigger carried.
pub(crate) async fn ingest_internal(
    p: &Platform,
    source: &'static str,
    dedup_key: String,
    fire: bool,
    labels: Labels,
    summary: String,
) -> ServiceResult<Outcome> {
    let now = p.now_us();
    let pol = p.policy.current();
    check_labels(&pol.pack.monitoring, "", &labels)?;
    let mut annotations = BTreeMap::new();
    if fire {
        annotations.insert("summary".to_string(), summary);
    }
    let e = Incoming {
        dedup_key,
        source,
        action: if fire { Action::Fire } else { Action::Resolve },
        labels: if fire { labels } else { Labels::new() },
        annotations,
        starts_at: now,
        ends_at: (!fire).then_some(now),
    };
    metrics::counter!("tianshu_alerts_received_total", "source" => source).increment(1);
    let mut out = ingest(p, format!("system:{source}"), vec![e]).await?;
    out.pop()
        .ok_or_else(|| ServiceError::Internal("no outcome".into()))
}

async fn ingest(p: &Platform, actor: String, events: Vec<Incoming>) -> ServiceResult<Vec<Outcome>> {
    let pol = p.policy.current();
    let now = p.now_us();
    let tz: chrono_tz::Tz = pol
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let pack = pol.pack.clone();
    let outcomes = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let m = &pack.monitoring;
                let silences = mutes(c, MuteKind::Silence, now).await?;
                let maintenance = mutes(c, MuteKind::Maintenance, now).await?;
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    out.push(one(c, m, &actor, e, now, tz, &silences, &maintenance).await?);
                }
                Ok(out)
            })
        })
        .await?;
    let mut outcomes = outcomes;
    for o in &mut outcomes {
        tickets(p, o).await;
    }
    for o in &outcomes {
        match o.result.as_str() {
            "repeated" => metrics::counter!("tianshu_alerts_deduplicated_total").increment(1),
            "resolved" => metrics::counter!("tianshu_alerts_resolved_total").increment(1),
            _ => {}
        }
        if let Some(s) = &o.suppressed {
            metrics::counter!("tianshu_alerts_suppressed_total", "reason" => s.clone())
                .increment(1);
        } else if !o.routes.is_empty() {
            metrics::counter!("tianshu_alerts_notified_total").increment(1);
        }
    }
    Ok(outcomes)
}

async fn mutes(c: &mut Conn<'_>, kind: MuteKind, now: i64) -> StoreResult<Vec<Mute>> {
    Ok(st::mutes_in_force(c, kind, now)
        .await?
        .into_iter()
        .map(|r| to_mute(&r))
        .collect())
}

fn to_mute(r: &MuteRow) -> Mute {
    let list: Vec<String> = serde_json::from_str(&r.matchers).unwrap_or_default();
    Mute {
        id: r.id,
        matchers: list.iter().filter_map(|m| m.parse().ok()).collect(),
        starts_at: r.starts_at,
        ends_at: r.ends_at,
    }
}

fn label(l: &Labels, k: &str) -> String {
    l.get(k).cloned().unwrap_or_default()
}

fn fmt_time(us: i64, tz: chrono_tz::Tz) -> String {
    tianshu_store::time::from_micros(us)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[allow(clippy::too_many_arguments)]
async fn one(
    c: &mut Conn<'_>,
    m: &MonitoringPolicy,
    actor: &str,
    e: Incoming,
    now: i64,
    tz: chrono_tz::Tz,
    silences: &[Mute],
    maintenance: &[Mute],
) -> StoreResult<Outcome> {
    let mut outcome = Outcome {
        alert_id: None,
        dedup_key: e.dedup_key.clone(),
        result: "ignored".into(),
        state: None,
        routes: Vec::new(),
        suppressed: None,
        incident_id: None,
    };
    if e.action == Action::Acknowledge {
        let Some(mut a) = st::alert_by_key_in_tx(c, &e.dedup_key).await? else {
            return Ok(outcome);
        };
        outcome.alert_id = Some(a.id);
        if a.state == "firing" {
            a.state = "acknowledged".into();
            a.acknowledged_by = Some(actor.to_string());
            a.acknowledged_at = Some(now);
            a.event_count += 1;
            a.last_seen = now;
            history(c, a.id, now, "acknowledged", actor, false, json!({})).await?;
            let a = st::save_alert(c, &a, now).await?;
            outcome.result = "acknowledged".into();
            outcome.state = Some(a.state);
        } else {
            outcome.state = Some(a.state);
        }
        return Ok(outcome);
    }
    // Canonical JSON text straight from the sorted maps, without a `Value` (tested against `canonical_json`).
    let labels_text = canonical_map(&e.labels);
    let annotations_text = canonical_map(&e.annotations);
    let summary = e
        .annotations
        .get("summary")
        .or_else(|| e.annotations.get("description"))
        .cloned()
        .unwrap_or_else(|| label(&e.labels, "alertname"));
    let new = NewAlert {
        dedup_key: e.dedup_key.clone(),
        source: e.source.into(),
        state: if e.action == Action::Resolve {
            "resolved"
        } else {
            "firing"
        }
        .into(),
        system: label(&e.labels, "system"),
        region: label(&e.labels, "region"),
        severity: label(&e.labels, "severity"),
        alertname: label(&e.labels, "alertname"),
        summary: summary.clone(),
        labels: labels_text.clone(),
        annotations: annotations_text.clone(),
        group_key: rules::group_key(&m.grouping, &e.labels),
        starts_at: e.starts_at,
        ends_at: e.ends_at,
        now,
        decision: AlertDecision::default(),
    };
    // A new alert's decision needs nothing of its row (its only state change is this one, and it cannot be in its
    // group's notified set yet), so it is decided first and the row is inserted once with it instead of inserted
    // and then updated. The lookup first also spares a repeat the failed insert.
    let mut decided = None;
    let (mut a, created) = match st::alert_by_key_in_tx(c, &e.dedup_key).await? {
        Some(a) => (a, false),
        None => {
            let mut new = new;
            if e.action == Action::Fire {
                let s = decide(
                    c,
                    m,
                    &e.labels,
                    &new.group_key,
                    &[now],
                    now,
                    None,
                    silences,
                    maintenance,
                )
                .await?;
                new.decision = AlertDecision {
                    flapping: i64::from(s == Some(Suppression::Flapping)),
                    suppressed: s.as_ref().map(|s| s.as_str().to_string()),
                    ..AlertDecision::default()
                };
                let mut routes = None;
                if s.is_none() {
                    let matched = rules::routes_for(m, &e.labels);
                    let keys: Vec<&str> = matched.iter().map(|r| r.key.as_str()).collect();
                    new.decision.routes = json!(keys).to_string();
                    new.decision.notified_at = Some(now);
                    routes = Some(matched);
                }
                decided = Some((s, routes));
            }
            let (a, created) = st::claim_alert(c, &new).await?;
            // Not created: another instance inserted the key first (PostgreSQL); it is then an existing alert.
            if !created {
                decided = None;
            }
            (a, created)
        }
    };
    outcome.alert_id = Some(a.id);
    let data = || event_data(e.source, &labels_text, &annotations_text);
    let fired = match (e.action, created, a.state.as_str()) {
        (Action::Fire, true, _) => {
            history(c, a.id, now, "fired", actor, true, data()).await?;
            outcome.result = "created".into();
            true
        }
        (Action::Fire, false, "resolved") => {
            a.state = "firing".into();
            a.fire_count += 1;
            a.starts_at = e.starts_at;
            a.ends_at = None;
            a.acknowledged_by = None;
            a.acknowledged_at = None;
            a.resolved_by = None;
            a.resolved_at = None;
            history(c, a.id, now, "fired", actor, true, data()).await?;
            outcome.result = "refired".into();
            true
        }
        (Action::Fire, false, _) => {
            // The same alert again (Alertmanager repeats firing alerts every group_interval): one alert.
            a.event_count += 1;
            history(
                c,
                a.id,
                now,
                "repeated",
                actor,
                false,
                json!({"source": e.source}),
            )
            .await?;
            outcome.result = "repeated".into();
            false
        }
        (Action::Resolve, true, _) => {
            history(c, a.id, now, "resolved", actor, false, data()).await?;
            outcome.result = "resolved".into();
            false
        }
        (Action::Resolve, false, "resolved") => {
            a.event_count += 1;
            history(
                c,
                a.id,
                now,
                "repeated",
                actor,
                false,
                json!({"source": e.source, "status": "resolved"}),
            )
            .await?;
            outcome.result = "repeated".into();
            false
        }
        (Action::Resolve, false, _) => {
            a.state = "resolved".into();
            a.ends_at = e.ends_at.or(Some(now));
            a.resolved_by = Some(actor.to_string());
            a.resolved_at = Some(now);
            a.event_count += 1;
            history(c, a.id, now, "resolved", actor, true, data()).await?;
            outcome.result = "resolved".into();
            // Recovery notices for the routes that were notified.
            if a.notified_at.is_some() {
                let routes: Vec<String> = serde_json::from_str(&a.routes).unwrap_or_default();
                for r in routes.iter().filter_map(|k| m.route(k)) {
                    if let Some(t) = &r.resolved_template {
                        notify(c, &a, r, t, "resolved", now, tz).await?;
                    }
                }
            }
            false
        }
        (Action::Acknowledge, _, _) => false,
    };
    if !created {
        a.last_seen = now;
        // An acknowledge / resolve event carries no payload: the alert keeps what its trigger said.
        if !e.labels.is_empty() {
            a.labels = labels_text;
            a.annotations = annotations_text;
            if !summary.is_empty() {
                a.summary = summary;
            }
        }
    }
    if fired {
        // The routes of a new alert were matched with its decision; an existing one's are matched when notified.
        let (s, routes) = match decided {
            Some(d) => d,
            None => {
                let within = m.flapping.within.seconds() * 1_000_000;
                // Includes the change just recorded above (history rows are written at once, in this transaction).
                let changes = st::state_change_times(c, a.id, now - within).await?;
                let s = decide(
                    c,
                    m,
                    &e.labels,
                    &a.group_key,
                    &changes,
                    now,
                    Some(a.id),
                    silences,
                    maintenance,
                )
                .await?;
                (s, None)
            }
        };
        a.flapping = i64::from(s == Some(Suppression::Flapping));
        match s {
            Some(s) => {
                let detail = match &s {
                    Suppression::Silenced(id) | Suppression::Maintenance(id) => {
                        json!({"reason": s.as_str(), "id": id})
                    }
                    _ => json!({"reason": s.as_str()}),
                };
                history(
                    c,
                    a.id,
                    now,
                    "suppressed",
                    "system:monitoring",
                    false,
                    detail,
                )
                .await?;
                a.suppressed = Some(s.as_str().to_string());
                outcome.suppressed = a.suppressed.clone();
            }
            None => {
                a.suppressed = None;
                let routes = routes.unwrap_or_else(|| rules::routes_for(m, &e.labels));
                let keys: Vec<String> = routes.iter().map(|r| r.key.clone()).collect();
                let mut ids = Vec::new();
                for r in &routes {
                    ids.push(notify(c, &a, r, &r.template, "firing", now, tz).await?);
                }
                a.routes = json!(keys).to_string();
                a.notified_at = Some(now);
                history(
                    c,
                    a.id,
                    now,
                    "notified",
                    "system:monitoring",
                    false,
                    json!({"routes": keys, "messages": ids}),
                )
                .await?;
                outcome.routes = keys;
            }
        }
    }
    let a = if created {
        // Inserted by this event with its final labels, state and decision.
        a
    } else {
        st::save_alert(c, &a, now).await?
    };
    outcome.state = Some(a.state);
    Ok(outcome)
}

/// MON grouping, flapping, silences and maintenance for a firing: why it is not notified, if so. `id` is the
/// alert's own id (none yet for one about to be inserted), which its group's notified set must not count.
#[allow(clippy::too_many_arguments)]
async fn decide(
    c: &mut Conn<'_>,
    m: &MonitoringPolicy,
    labels: &Labels,
    group_key: &str,
    state_changes: &[i64],
    now: i64,
    id: Option<i64>,
    silences: &[Mute],
    maintenance: &[Mute],
) -> StoreResult<Option<Suppression>> {
    let since = now - m.grouping.window.seconds() * 1_000_000;
    let grouped = st::group_notified_since(c, group_key, since, id.unwrap_or(0)).await?;
    Ok(rules::suppression(
        m,
        &AlertSituation {
            labels,
            now,
            state_changes,
            grouped,
            silences,
            maintenance,
        },
    ))
}

/// Queues one routed message in the outbox (same transaction as the alert).
async fn notify(
    c: &mut Conn<'_>,
    a: &AlertRow,
    r: &AlertRoute,
    template: &str,
    phase: &str,
    now: i64,
    tz: chrono_tz::Tz,
) -> StoreResult<Option<i64>> {
    let mut on_duty = Vec::new();
    if r.on_duty {
        let mut d = serde_json::Map::new();
        if !a.system.is_empty() {
            d.insert("system".into(), json!(a.system));
        }
        if !a.region.is_empty() {
            d.insert("region".into(), json!(a.region));
        }
        on_duty.push(Value::Object(d));
    }
    let recipients = json!({"classes": r.classes, "roles": r.roles, "on_duty": on_duty});
    let system = if a.system.is_empty() {
        "-".to_string()
    } else {
        a.system.clone()
    };
    let alertname = if a.alertname.is_empty() {
        a.dedup_key.clone()
    } else {
        a.alertname.clone()
    };
    let summary = if a.summary.is_empty() {
        alertname.clone()
    } else {
        a.summary.clone()
    };
    let context = json!({
        "alert_id": a.id.to_string(),
        "system": system,
        "region": a.region,
        "severity": if a.severity.is_empty() { "-".to_string() } else { a.severity.clone() },
        "alertname": alertname,
        "summary": summary,
        "starts_at": fmt_time(a.starts_at, tz),
        "ends_at": fmt_time(a.ends_at.unwrap_or(now), tz),
        "count": "",
    });
    insert_outbox(
        c,
        NewOutbox {
            idempotency_key: format!("alert:{}:{}:{}:{phase}", a.id, a.fire_count, r.key),
            subject_kind: "alert".into(),
            subject_id: a.id.to_string(),
            template: template.to_string(),
            recipients,
            context,
            cause: format!("alert:{phase}:{}", r.rule),
            state: "queued".into(),
            created_at: now,
        },
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn history(
    c: &mut Conn<'_>,
    alert_id: i64,
    at: i64,
    kind: &str,
    actor: &str,
    state_change: bool,
    data: impl EventData,
) -> StoreResult<i64> {
    st::insert_alert_event(
        c,
        NewAlertEvent {
            alert_id,
            at,
            kind: kind.into(),
            actor: actor.into(),
            state_change,
            data: data.into_text(),
        },
    )
    .await
}

/// What a history entry's `data` is given as: a `Value`, or text already canonical.
trait EventData {
    fn into_text(self) -> String;
}

impl EventData for Value {
    fn into_text(self) -> String {
        canonical(&self)
    }
}

impl EventData for String {
    fn into_text(self) -> String {
        self
    }
}

fn canonical(v: &Value) -> String {
    tianshu_store::audit::canonical_json(v)
}

/// The canonical JSON text of a label or annotation map: a `BTreeMap` serialises with its keys in byte order,
/// which is the canonical order, and serde_json escapes strings as `canonical_json` does.
fn canonical_map(m: &BTreeMap<String, String>) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

/// The canonical text of `{"source", "labels", "annotations"}` (the history of a firing or resolving event) from
/// the maps' canonical texts: its keys in sorted order, assembled without a `Value`.
fn event_data(source: &str, labels: &str, annotations: &str) -> String {
    let source = serde_json::to_string(source).unwrap_or_default();
    let mut out = String::with_capacity(40 + labels.len() + annotations.len() + source.len());
    out.push_str(r#"{"annotations":"#);
    out.push_str(annotations);
    out.push_str(r#","labels":"#);
    out.push_str(labels);
    out.push_str(r#","source":"#);
    out.push_str(&source);
    out.push('}');
    out
}

// ------------------------------------------------------------------------------------------------ tickets

/// The principal tickets from alerts are opened as (the monitoring intake itself, province scope).
fn monitoring_principal() -> Principal {
    Principal {
        user_id: 0,
        username: "monitoring".into(),
        org_id: 0,
        locale: "zh-CN".into(),
        permissions: [Permission::IncidentCreate, Permission::IncidentRead]
            .into_iter()
            .collect(),
        roles: Vec::new(),
        scope: crate::authz::Scope::Province,
        via: crate::authz::AuthVia::Cli,
    }
}

/// After the alert is stored: a newly notified alert whose route says so is attached to an open ticket of its
/// system, or opens one through the incident service (with the route's facts). The alert is already durable,
/// so a ticket that cannot be opened is recorded in the alert's history instead of failing the intake.
async fn tickets(p: &Platform, o: &mut Outcome) {
    let Some(alert_id) = o.alert_id else { return };
    if !matches!(o.result.as_str(), "created" | "refired") || o.suppressed.is_some() {
        return;
    }
    let pol = p.policy.current();
    let Some(route) = o
        .routes
        .iter()
        .filter_map(|k| pol.pack.monitoring.route(k))
        .find(|r| r.ticket != TicketAction::None)
    else {
        return;
    };
    match ticket_for(p, alert_id, route).await {
        Ok(Some((incident, how))) => {
            let now = p.now_us();
            let r = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        let Some(mut a) = st::alert_for_update(c, alert_id).await? else {
                            return Ok(());
                        };
                        a.incident_id = Some(incident);
                        history(
                            c,
                            alert_id,
                            now,
                            how,
                            "system:monitoring",
                            false,
                            json!({"incident_id": incident}),
                        )
                        .await?;
                        st::save_alert(c, &a, now).await?;
                        tianshu_store::timers::insert_event(
                            c,
                            tianshu_store::timers::NewEvent {
                                subject_kind: crate::incidents::KIND.into(),
                                subject_id: incident.to_string(),
                                at: now,
                                kind: format!("alert.{how}"),
                                actor: "system:monitoring".into(),
                                data: json!({"alert_id": alert_id}),
                                timer_id: None,
                            },
                        )
                        .await
                    })
                })
                .await;
            match r {
                Ok(()) => o.incident_id = Some(incident),
                Err(e) => {
                    tracing::warn!(alert_id, error = %e, "linking the alert to its ticket failed")
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(alert_id, error = %e, "no ticket for the alert");
            let now = p.now_us();
            let msg = e.to_string();
            let _ = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        history(
                            c,
                            alert_id,
                            now,
                            "ticket_failed",
                            "system:monitoring",
                            false,
                            json!({"error": msg}),
                        )
                        .await
                    })
                })
                .await;
        }
    }
}

/// The ticket to attach to (`ticket_attached`) or the one opened (`ticket_opened`).
async fn ticket_for(
    p: &Platform,
    alert_id: i64,
    route: &AlertRoute,
) -> ServiceResult<Option<(i64, &'static str)>> {
    let a = p
        .store
        .alert(alert_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("alert {alert_id}")))?;
    let system = if a.system.is_empty() {
        None
    } else {
        p.store
            .systems()
            .await?
            .into_iter()
            .find(|s| s.key == a.system)
    };
    if matches!(
        route.ticket,
        TicketAction::Attach | TicketAction::AttachOrOpen
    ) {
        if let Some(sys) = &system {
            let open = p
                .store
                .incidents_page(
                    i64::MAX,
                    50,
                    &tianshu_store::incidents::IncidentFilter {
                        system_id: Some(sys.id),
                        top_level: true,
                        ..Default::default()
                    },
                )
                .await?
                .into_iter()
                .find(|i| !crate::incidents::rules_is_finished(&i.state));
            if let Some(i) = open {
                return Ok(Some((i.id, "ticket_attached")));
            }
        }
        if route.ticket == TicketAction::Attach {
            return Ok(None);
        }
    }
    let facts: crate::incidents::FactsInput = serde_json::to_value(&route.ticket_facts)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            ServiceError::invalid(format!("route {}.ticket_facts", route.key), e.to_string())
        })?;
    let name = if a.alertname.is_empty() {
        a.dedup_key.clone()
    } else {
        a.alertname.clone()
    };
    let title: String = format!("[告警] {} {name}", a.system)
        .chars()
        .take(200)
        .collect();
    let symptom: String = a.summary.chars().take(4000).collect();
    let v = crate::incidents::create(
        p,
        &monitoring_principal(),
        crate::incidents::NewIncident {
            title,
            symptom: if symptom.trim().is_empty() {
                name
            } else {
                symptom
            },
            symptom_category: None,
            source_channel: route.ticket_source_channel.clone().unwrap_or_default(),
            reporter: "监控告警".into(),
            reporter_contact: None,
            org_key: route.ticket_org.clone().unwrap_or_default(),
            system_key: system.map(|s| s.key),
            business: None,
            customer: None,
            owning_org_key: None,
            facts,
            leased_line: None,
        },
        None,
    )
    .await?;
    Ok(Some((v.incident.id, "ticket_opened")))
}

// ------------------------------------------------------------------------------------------------ views

/// An alert as shown (labels and annotations as objects, times in Unix µs UTC).
#[derive(Debug, Clone, Serialize)]
pub struct AlertOut {
    pub id: i64,
    pub dedup_key: String,
    pub source: String,
    pub state: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub alertname: String,
    pub summary: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub group_key: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub event_count: i64,
    pub fire_count: i64,
    pub flapping: bool,
    pub suppressed: Option<String>,
    pub routes: Vec<String>,
    pub notified_at: Option<i64>,
    pub incident_id: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub version: i64,
}

impl From<AlertRow> for AlertOut {
    fn from(a: AlertRow) -> Self {
        AlertOut {
            labels: serde_json::from_str(&a.labels).unwrap_or_default(),
            annotations: serde_json::from_str(&a.annotations).unwrap_or_default(),
            routes: serde_json::from_str(&a.routes).unwrap_or_default(),
            flapping: a.flapping != 0,
            id: a.id,
            dedup_key: a.dedup_key,
            source: a.source,
            state: a.state,
            system: a.system,
            region: a.region,
            severity: a.severity,
            alertname: a.alertname,
            summary: a.summary,
            group_key: a.group_key,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            event_count: a.event_count,
            fire_count: a.fire_count,
            suppressed: a.suppressed,
            notified_at: a.notified_at,
            incident_id: a.incident_id,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
            resolved_by: a.resolved_by,
            resolved_at: a.resolved_at,
            version: a.version,
        }
    }
}

/// One history entry as shown.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryOut {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub state_change: bool,
    pub data: Value,
}

impl From<AlertEventRow> for HistoryOut {
    fn from(e: AlertEventRow) -> Self {
        HistoryOut {
            id: e.id,
            at: e.at,
            kind: e.kind,
            actor: e.actor,
            state_change: e.state_change != 0,
            data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
        }
    }
}

/// An alert with its history.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub alert: AlertOut,
    pub history: Vec<HistoryOut>,
}

/// A page of alerts.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPage {
    pub items: Vec<AlertOut>,
    pub next_cursor: Option<String>,
}

/// Alerts matching `filter`, newest first, firing ones before the rest of the page.
pub async fn list(
    p: &Platform,
    actor: &Principal,
    filter: AlertFilter,
    cursor: Option<i64>,
    limit: i64,
) -> ServiceResult<AlertPage> {
    actor.require(Permission::AlertRead)?;
    if let Some(s) = &filter.state {
        if !matches!(s.as_str(), "firing" | "acknowledged" | "resolved") {
            return Err(ServiceError::invalid(
                "state",
                "expected firing, acknowledged or resolved",
            ));
        }
    }
    let limit = limit.clamp(1, 200);
    let rows = p
        .store
        .alerts_page(cursor.unwrap_or(i64::MAX), limit + 1, &filter)
        .await?;
    let more = rows.len() as i64 > limit;
    let mut items: Vec<AlertOut> = rows
        .into_iter()
        .take(limit as usize)
        .map(Into::into)
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|a| a.id.to_string()))
        .flatten();
    items.sort_by_key(|a| (state_rank(&a.state), std::cmp::Reverse(a.id)));
    Ok(AlertPage { items, next_cursor })
}

fn state_rank(s: &str) -> u8 {
    match s {
        "firing" => 0,
        "acknowledged" => 1,
        _ => 2,
    }
}

/// One alert with its history.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<AlertView> {
    actor.require(Permission::AlertRead)?;
    let a = p
        .store
        .alert(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("alert {id}")))?;
    let history = p
        .store
        .alert_events(id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(AlertView {
        alert: a.into(),
        history,
    })
}

/// A user acknowledges (`acknowledge`) or resolves (`resolve`) an alert; version-checked and audited.
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    action: &str,
    version: i64,
    note: Option<String>,
) -> ServiceResult<AlertView> {
    actor.require(Permission::AlertManage)?;
    let target = match action {
        "acknowledge" => "acknowledged",
        "resolve" => "resolved",
        _ => {
            return Err(ServiceError::invalid(
                "action",
                "expected acknowledge or resolve",
            ))
        }
    };
    if let Some(n) = &note {
        if n.len() > 2000 {
            return Err(ServiceError::invalid("note", "at most 2000 bytes"));
        }
    }
    let now = p.now_us();
    let who = actor.actor();
    let act = action.to_string();
    let tz: chrono_tz::Tz = p
        .policy
        .current()
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let pack = p.policy.current().pack.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let Some(mut a) = st::alert_for_update(c, id).await? else {
                    return Err(tianshu_store::StoreError::NotFound(format!("alert {id}")));
                };
                if a.version != version {
                    return Err(tianshu_store::StoreError::Stale(format!("alert {id}")));
                }
                let allowed = match target {
                    "acknowledged" => a.state == "firing",
                    _ => a.state != "resolved",
                };
                if !allowed {
                    return Err(tianshu_store::StoreError::Conflict {
                        field: "state".into(),
                        message: format!("the alert is {}; it cannot be {target}", a.state),
                    });
                }
                let before = json!({"state": a.state});
                a.state = target.into();
                if target == "acknowledged" {
                    a.acknowledged_by = Some(who.clone());
                    a.acknowledged_at = Some(now);
                } else {
                    a.resolved_by = Some(who.clone());
                    a.resolved_at = Some(now);
                    a.ends_at = Some(now);
                    if a.notified_at.is_some() {
                        let routes: Vec<String> =
                            serde_json::from_str(&a.routes).unwrap_or_default();
                        for r in routes.iter().filter_map(|k| pack.monitoring.route(k)) {
                            if let Some(t) = &r.resolved_template {
                                notify(c, &a, r, t, "resolved", now, tz).await?;
                            }
                        }
                    }
                }
                history(
                    c,
                    a.id,
                    now,
                    target,
                    &who,
                    target == "resolved",
                    json!({"note": note}),
                )
                .await?;
                let a = st::save_alert(c, &a, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who.clone(),
                        action: format!("alert.{act}"),
                        object_type: "alert".into(),
                        object_id: id.to_string(),
                        before: Some(before),
                        after: Some(json!({"state": a.state, "note": note})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    get(p, actor, id).await
}

// ------------------------------------------------------------------------------------------------ mutes

/// Input of a silence or a maintenance window.
#[derive(Debug, Clone, Deserialize)]
pub struct MuteInput {
    /// Maintenance windows only.
    #[serde(default)]
    pub name: Option<String>,
    pub matchers: Vec<String>,
    /// RFC 3339; default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339.
    pub ends_at: String,
    pub reason: String,
}

/// A silence or window as shown.
#[derive(Debug, Clone, Serialize)]
pub struct MuteOut {
    pub id: i64,
    pub name: String,
    pub matchers: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub reason: String,
    pub created_at: i64,
    pub ended_by: Option<String>,
    pub ended_at: Option<i64>,
    /// Whether it mutes now.
    pub active: bool,
    pub version: i64,
}

fn mute_out(r: MuteRow, now: i64) -> MuteOut {
    MuteOut {
        active: r.ended_at.is_none() && r.starts_at <= now && now < r.ends_at,
        matchers: serde_json::from_str(&r.matchers).unwrap_or_default(),
        id: r.id,
        name: r.name,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        author: r.author,
        reason: r.reason,
        created_at: r.created_at,
        ended_by: r.ended_by,
        ended_at: r.ended_at,
        version: r.version,
    }
}

/// Silences (`MuteKind::Silence`) or maintenance windows not yet over (all with `all`).
pub async fn mutes_list(
    p: &Platform,
    actor: &Principal,
    kind: MuteKind,
    all: bool,
) -> ServiceResult<Vec<MuteOut>> {
    actor.require(Permission::AlertRead)?;
    let now = p.now_us();
    Ok(p.store
        .mutes(kind, (!all).then_some(now))
        .await?
        .into_iter()
        .map(|r| mute_out(r, now))
        .collect())
}

/// One silence or window.
pub async fn mute_get(
    p: &Platform,
    actor: &Principal,
    kind: MuteKind,
    id: i64,
) -> ServiceResult<MuteOut> {
    actor.require(Permission::AlertRead)?;
    let r = p
        .store
        .mute(kind, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("{} {id}", kind.noun())))?;
    Ok(mute_out(r, p.now_us()))
}

/// Creates a silence or a maintenance window (audited); matchers, times and reason are checked.
pub async fn mute_create(
    p: &Platform,
    actor: &Principal,
    kind: MuteKind,
    input: MuteInput,
) -> ServiceResult<MuteOut> {
    actor.require(Permission::AlertManage)?;
    let now = p.now_us();
    let pol = p.policy.current();
    if input.matchers.is_empty() {
        return Err(ServiceError::invalid(
            "matchers",
            "name at least one matcher (a mute of everything is refused)",
        ));
    }
    for (i, m) in input.matchers.iter().enumerate() {
        m.parse::<Matcher>()
            .map_err(|e| ServiceError::invalid(format!("matchers[{i}]"), e))?;
    }
    let starts_at = match &input.starts_at {
        Some(s) => parse_time("starts_at", s)?,
        None => now,
    };
    let ends_at = parse_time("ends_at", &input.ends_at)?;
    if ends_at <= starts_at {
        return Err(ServiceError::invalid("ends_at", "must be after starts_at"));
    }
    if ends_at <= now {
        return Err(ServiceError::invalid("ends_at", "must be in the future"));
    }
    let max = pol.pack.monitoring.silences.max_duration;
    if ends_at - starts_at > max.seconds() * 1_000_000 {
        return Err(ServiceError::invalid(
            "ends_at",
            format!("at most {max} after starts_at"),
        ));
    }
    if input.reason.trim().is_empty() || input.reason.len() > 2000 {
        return Err(ServiceError::invalid("reason", "1 to 2000 characters"));
    }
    let name = input.name.clone().unwrap_or_default();
    if kind == MuteKind::Maintenance && (name.trim().is_empty() || name.len() > 200) {
        return Err(ServiceError::invalid("name", "1 to 200 characters"));
    }
    if kind == MuteKind::Silence && input.name.is_some() {
        return Err(ServiceError::invalid("name", "a silence has no name"));
    }
    let who = actor.actor();
    let new = NewMute {
        name,
        matchers: input.matchers.clone(),
        starts_at,
        ends_at,
        author: actor.username.clone(),
        reason: input.reason.clone(),
        now,
    };
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let row = st::insert_mute(c, kind, &new).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: format!("alert.{}.create", kind_key(kind)),
                        object_type: kind_key(kind).into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"matchers": new.matchers, "starts_at": starts_at, "ends_at": ends_at, "reason": new.reason})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    Ok(mute_out(row, now))
}

/// Ends a silence (expire) or a window (cancel) now; version-checked and audited.
pub async fn mute_end(
    p: &Platform,
    actor: &Principal,
    kind: MuteKind,
    id: i64,
    version: i64,
) -> ServiceResult<MuteOut> {
    actor.require(Permission::AlertManage)?;
    let now = p.now_us();
    let who = actor.actor();
    let by = actor.username.clone();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                if st::mute_in_tx(c, kind, id).await?.is_none() {
                    return Err(tianshu_store::StoreError::NotFound(format!(
                        "{} {id}",
                        kind.noun()
                    )));
                }
                let row = st::end_mute(c, kind, id, version, &by, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: format!("alert.{}.end", kind_key(kind)),
                        object_type: kind_key(kind).into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"ended_at": now})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    Ok(mute_out(row, now))
}

fn kind_key(kind: MuteKind) -> &'static str {
    match kind {
        MuteKind::Silence => "silence",
        MuteKind::Maintenance => "maintenance",
    }
}

#[cfg(test)]
mod canonical_text_tests {
    use super::*;

    #[test]
    fn label_texts_and_event_data_are_byte_for_byte_canonical_json() {
        // Keys whose byte order differs from a case-insensitive one, non-ASCII, quotes, control characters.
        let labels: BTreeMap<String, String> = [
            ("zeta", "1"),
            ("Alpha", "\"引号\" and \\ back"),
            ("alpha", "tab\there\nnew"),
            ("系统", "客服"),
            ("_x", "\u{1}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let empty = BTreeMap::new();
        for m in [&labels, &empty] {
            assert_eq!(canonical_map(m), canonical(&json!(m)));
        }
        let (l, a) = (canonical_map(&labels), canonical_map(&empty));
        assert_eq!(
            event_data("alertmanager", &l, &a),
            canonical(&json!({"source": "alertmanager", "labels": labels, "annotations": empty}))
        );
        assert_eq!(
            event_data("a\"b", &a, &l),
            canonical(&json!({"source": "a\"b", "labels": empty, "annotations": labels}))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol() -> MonitoringPolicy {
        tianshu_core::PolicyPack::load_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/default"
        ))
        .unwrap()
        .monitoring
    }

    #[test]
    fn malformed_alertmanager_payloads_name_the_field() {
        let p = pol();
        let good: AlertmanagerPayload = serde_json::from_value(json!({
            "version": "4", "status": "firing", "receiver": "tianshu", "groupKey": "{}:{}",
            "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "annotations": {},
                        "startsAt": "2026-03-02T09:00:00+08:00", "endsAt": "0001-01-01T00:00:00Z"}]
        }))
        .unwrap();
        assert_eq!(alertmanager_events(&p, &good, 0).unwrap().len(), 1);
        let mut bad = good.clone();
        bad.alerts[0].starts_at = "yesterday".into();
        let e = alertmanager_events(&p, &bad, 0).unwrap_err();
        assert!(e.to_string().starts_with("alerts[0].startsAt:"), "{e}");
        let mut bad = good.clone();
        bad.alerts[0].labels.insert("bad-name".into(), "x".into());
        let e = alertmanager_events(&p, &bad, 0).unwrap_err();
        assert!(
            e.to_string().starts_with("alerts[0].labels.bad-name:"),
            "{e}"
        );
        let mut bad = good;
        bad.version = "3".into();
        assert!(alertmanager_events(&p, &bad, 0)
            .unwrap_err()
            .to_string()
            .starts_with("version:"));
    }

    #[test]
    fn generic_events_follow_pagerduty_v2() {
        let p = pol();
        let e: EventInput = serde_json::from_value(json!({"event_action": "resolve"})).unwrap();
        assert!(generic_event(&p, &e, 0)
            .unwrap_err()
            .to_string()
            .starts_with("dedup_key:"));
        let e: EventInput =
            serde_json::from_value(json!({"event_action": "trigger", "dedup_key": "k"})).unwrap();
        assert!(generic_event(&p, &e, 0)
            .unwrap_err()
            .to_string()
            .starts_with("payload:"));
        let e: EventInput = serde_json::from_value(json!({"event_action": "trigger", "dedup_key": "k",
            "payload": {"summary": "s", "source": "probe-1", "severity": "critical", "component": "crm", "group": "guangzhou"}}))
        .unwrap();
        let i = generic_event(&p, &e, 0).unwrap();
        assert_eq!(i.dedup_key, "ev:k");
        assert_eq!(i.labels.get("system").map(String::as_str), Some("crm"));
        assert_eq!(
            i.labels.get("region").map(String::as_str),
            Some("guangzhou")
        );
    }
}
