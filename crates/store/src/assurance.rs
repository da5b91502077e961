//! CNT-06 key-communications assurance (重保) plans and the faults reported to the network department during them.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored assurance plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct PlanRow {
    pub id: i64,
    /// The holiday or event.
    pub name: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// JSON list of system keys.
    pub scope_systems: String,
    /// JSON list of region (branch) keys.
    pub scope_regions: String,
    /// JSON list of the regions' organisation ids (matched against an incident's region).
    pub region_ids: String,
    pub measures: String,
    pub contingency: String,
    pub escalation: String,
    pub contacts: String,
    /// JSON list of `{section, contingency, improvement}`.
    pub weak_sections: String,
    /// draft, active, archived.
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub activated_by: Option<String>,
    pub activated_at: Option<i64>,
    pub archived_by: Option<String>,
    pub archived_at: Option<i64>,
    pub updated_at: i64,
    pub version: i64,
}

/// A plan to insert (state `draft`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlan {
    pub name: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub scope_systems: String,
    pub scope_regions: String,
    pub region_ids: String,
    pub measures: String,
    pub contingency: String,
    pub escalation: String,
    pub contacts: String,
    pub weak_sections: String,
    pub created_by: String,
    pub now: i64,
}

/// A fault reported to the network department under a plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct FaultReportRow {
    pub plan_id: i64,
    pub incident_id: i64,
    pub outbox_key: String,
    pub reported_at: i64,
}

const COLS: &str = "id, name, starts_at, ends_at, scope_systems, scope_regions, region_ids, measures, contingency, escalation, contacts, weak_sections, state, created_by, created_at, activated_by, activated_at, archived_by, archived_at, updated_at, version";

/// Inserts a draft plan.
pub async fn insert_plan(conn: &mut Conn<'_>, n: &NewPlan) -> StoreResult<PlanRow> {
    let sql = format!(
        "INSERT INTO assurance_plans (name, starts_at, ends_at, scope_systems, scope_regions, region_ids, measures,
            contingency, escalation, contacts, weak_sections, state, created_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'draft',$12,$13,$13)
         RETURNING {COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&n.name).bind(n.starts_at).bind(n.ends_at).bind(&n.scope_systems).bind(&n.scope_regions)
        .bind(&n.region_ids).bind(&n.measures).bind(&n.contingency).bind(&n.escalation).bind(&n.contacts)
        .bind(&n.weak_sections).bind(&n.created_by).bind(n.now)
        .fetch_one(&mut **c).await)?)
}

/// The plan, locked for the rest of the write on PostgreSQL.
pub async fn plan_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<PlanRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {COLS} FROM assurance_plans WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Moves a plan to `state` (`active` or `archived`), recording who and when; optimistic on `version`.
pub async fn set_plan_state(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    state: &str,
    by: &str,
    now: i64,
) -> StoreResult<PlanRow> {
    let (who, when) = if state == "active" {
        ("activated_by", "activated_at")
    } else {
        ("archived_by", "archived_at")
    };
    let sql = format!(
        "UPDATE assurance_plans SET state = $3, {who} = $4, {when} = $5, updated_at = $5, version = version + 1
         WHERE id = $1 AND version = $2 RETURNING {COLS}"
    );
    let row: Option<PlanRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(id).bind(version).bind(state).bind(by).bind(now)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("assurance plan {id}")))
}

/// Active plans whose period contains `at`, inside a transaction.
pub async fn active_plans_at(conn: &mut Conn<'_>, at: i64) -> StoreResult<Vec<PlanRow>> {
    // Every ticket create asks this inside its write; almost always no plan is active. On the SQLite writer the
    // answer "none" is found in place: through sqlx it cost a hand-off to sqlx's thread and back per ticket.
    if let Some(r) = conn.sqlite_raw().await? {
        let any = r.query_opt(
            "SELECT 1 FROM assurance_plans WHERE state = 'active' AND starts_at <= $1 AND ends_at > $1 LIMIT 1",
            &[at.into()],
            |row| row.int(0),
        )?;
        if any.is_none() {
            return Ok(Vec::new());
        }
    }
    let sql = format!(
        "SELECT {COLS} FROM assurance_plans WHERE state = 'active' AND starts_at <= $1 AND ends_at > $1 ORDER BY id"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(at).fetch_all(&mut **c).await)?)
}

/// Records that an incident was reported under a plan; false when it already was.
pub async fn insert_fault_report(
    conn: &mut Conn<'_>,
    plan_id: i64,
    incident_id: i64,
    outbox_key: &str,
    at: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "INSERT INTO assurance_fault_reports (plan_id, incident_id, outbox_key, reported_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (plan_id, incident_id) DO NOTHING")
        .bind(plan_id).bind(incident_id).bind(outbox_key).bind(at)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

impl Store {
    /// One plan.
    pub async fn assurance_plan(&self, id: i64) -> StoreResult<Option<PlanRow>> {
        let sql = format!("SELECT {COLS} FROM assurance_plans WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The most recent plans (by period start, newest first).
    pub async fn assurance_plans(&self, limit: i64) -> StoreResult<Vec<PlanRow>> {
        let sql =
            format!("SELECT {COLS} FROM assurance_plans ORDER BY starts_at DESC, id DESC LIMIT $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(limit).fetch_all(p).await)?)
    }

    /// The faults reported under a plan, oldest first.
    pub async fn assurance_fault_reports(&self, plan_id: i64) -> StoreResult<Vec<FaultReportRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT plan_id, incident_id, outbox_key, reported_at FROM assurance_fault_reports
             WHERE plan_id = $1 ORDER BY reported_at, incident_id")
            .bind(plan_id).fetch_all(p).await)?)
    }
}
