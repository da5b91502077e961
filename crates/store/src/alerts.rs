//! Monitoring alerts (issue 5): one row per dedup key, its history, silences and maintenance windows.
//!
//! Ingestion is idempotent: on PostgreSQL [`claim_alert`] inserts with `ON CONFLICT (dedup_key) DO NOTHING` and
//! otherwise reads the existing row locked `FOR UPDATE`, so the same event twice — or two instances receiving it at
//! once — is one alert. On SQLite the single writer serialises every write, and finds alerts by key through its
//! in-memory directory (`alert_keys`; the column has no index there, migration 0030).

use serde::Serialize;

use crate::raw::RawSqlite;
use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored alert.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub dedup_key: String,
    /// `alertmanager` or `events`.
    pub source: String,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub alertname: String,
    pub summary: String,
    /// JSON object of labels.
    pub labels: String,
    /// JSON object of annotations.
    pub annotations: String,
    pub group_key: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Events received for this key (repeats included).
    pub event_count: i64,
    /// Times it went to firing.
    pub fire_count: i64,
    /// 1 while flapping.
    pub flapping: i64,
    /// Why the last firing was not notified (`silenced`, `maintenance`, `flapping`, `grouped`), if so.
    pub suppressed: Option<String>,
    /// JSON list of the route keys taken.
    pub routes: String,
    pub notified_at: Option<i64>,
    pub incident_id: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub version: i64,
    pub updated_at: i64,
}

/// What a first event creates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub dedup_key: String,
    pub source: String,
    pub state: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub alertname: String,
    pub summary: String,
    /// Canonical JSON text ([`crate::audit::canonical_json`]: keys sorted, no whitespace).
    pub labels: String,
    /// Canonical JSON text, as `labels`.
    pub annotations: String,
    pub group_key: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub now: i64,
    /// What the intake decided for it, stored with the insert.
    pub decision: AlertDecision,
}

/// The routing decision a new alert is inserted with. The intake decides before it inserts (a new alert's
/// decision needs nothing of its row), so the row is written once instead of inserted and then updated.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDecision {
    /// 1 while flapping.
    pub flapping: i64,
    /// Why it was not notified, if so.
    pub suppressed: Option<String>,
    /// JSON list of the route keys taken.
    pub routes: String,
    pub notified_at: Option<i64>,
}

impl Default for AlertDecision {
    /// Undecided: not suppressed, no routes, not notified (the columns' defaults).
    fn default() -> Self {
        AlertDecision {
            flapping: 0,
            suppressed: None,
            routes: "[]".into(),
            notified_at: None,
        }
    }
}

/// One entry of an alert's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct AlertEventRow {
    pub id: i64,
    pub alert_id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    /// 1 when this entry changed firing ↔ resolved.
    pub state_change: i64,
    /// JSON.
    pub data: String,
}

/// A history entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlertEvent {
    pub alert_id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub state_change: bool,
    /// Canonical JSON text ([`crate::audit::canonical_json`]).
    pub data: String,
}

/// A silence or a maintenance window.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct MuteRow {
    pub id: i64,
    /// Maintenance windows only; empty for silences.
    pub name: String,
    /// JSON list of matcher strings.
    pub matchers: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub reason: String,
    pub created_at: i64,
    /// Who ended it early (expired a silence, cancelled a window).
    pub ended_by: Option<String>,
    pub ended_at: Option<i64>,
    pub version: i64,
}

/// A silence or maintenance window to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMute {
    pub name: String,
    pub matchers: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub reason: String,
    pub now: i64,
}

/// Which kind of mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteKind {
    /// `alert_silences`.
    Silence,
    /// `alert_maintenance`.
    Maintenance,
}

impl MuteKind {
    fn select(self) -> &'static str {
        match self {
            MuteKind::Silence => "SELECT id, '' AS name, matchers, starts_at, ends_at, author, reason, created_at, expired_by AS ended_by, expired_at AS ended_at, version FROM alert_silences",
            MuteKind::Maintenance => "SELECT id, name, matchers, starts_at, ends_at, author, reason, created_at, cancelled_by AS ended_by, cancelled_at AS ended_at, version FROM alert_maintenance",
        }
    }

    fn table(self) -> &'static str {
        match self {
            MuteKind::Silence => "alert_silences",
            MuteKind::Maintenance => "alert_maintenance",
        }
    }

    fn ended_cols(self) -> (&'static str, &'static str) {
        match self {
            MuteKind::Silence => ("expired_by", "expired_at"),
            MuteKind::Maintenance => ("cancelled_by", "cancelled_at"),
        }
    }

    /// Name used in errors.
    pub fn noun(self) -> &'static str {
        match self {
            MuteKind::Silence => "silence",
            MuteKind::Maintenance => "maintenance window",
        }
    }
}

/// Filters of the alert list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub state: Option<String>,
    pub system: Option<String>,
    pub severity: Option<String>,
    pub region: Option<String>,
}

const ALERT_COLS: &str = "id, dedup_key, source, state, system, region, severity, alertname, summary, labels, annotations, group_key, starts_at, ends_at, first_seen, last_seen, event_count, fire_count, flapping, suppressed, routes, notified_at, incident_id, acknowledged_by, acknowledged_at, resolved_by, resolved_at, version, updated_at";
const EVENT_COLS: &str = "id, alert_id, at, kind, actor, state_change, data";

/// An [`AlertRow`] from a raw row of [`ALERT_COLS`].
fn alert_row(r: &crate::raw::Row<'_>) -> AlertRow {
    AlertRow {
        id: r.int(0),
        dedup_key: r.text(1),
        source: r.text(2),
        state: r.text(3),
        system: r.text(4),
        region: r.text(5),
        severity: r.text(6),
        alertname: r.text(7),
        summary: r.text(8),
        labels: r.text(9),
        annotations: r.text(10),
        group_key: r.text(11),
        starts_at: r.int(12),
        ends_at: r.opt_int(13),
        first_seen: r.int(14),
        last_seen: r.int(15),
        event_count: r.int(16),
        fire_count: r.int(17),
        flapping: r.int(18),
        suppressed: r.opt_text(19),
        routes: r.text(20),
        notified_at: r.opt_int(21),
        incident_id: r.opt_int(22),
        acknowledged_by: r.opt_text(23),
        acknowledged_at: r.opt_int(24),
        resolved_by: r.opt_text(25),
        resolved_at: r.opt_int(26),
        version: r.int(27),
        updated_at: r.int(28),
    }
}

/// A [`MuteRow`] from a raw row of [`MuteKind::select`].
fn mute_row(r: &crate::raw::Row<'_>) -> MuteRow {
    MuteRow {
        id: r.int(0),
        name: r.text(1),
        matchers: r.text(2),
        starts_at: r.int(3),
        ends_at: r.int(4),
        author: r.text(5),
        reason: r.text(6),
        created_at: r.int(7),
        ended_by: r.opt_text(8),
        ended_at: r.opt_int(9),
        version: r.int(10),
    }
}

/// The alert for `a.dedup_key`, created from `a` when it does not exist yet; `true` when created here.
/// Either way the row is locked for the rest of the write on PostgreSQL.
pub async fn claim_alert(conn: &mut Conn<'_>, a: &NewAlert) -> StoreResult<(AlertRow, bool)> {
    let (labels, annotations) = (&a.labels, &a.annotations);
    let sql = format!(
        "INSERT INTO alerts (dedup_key, source, state, system, region, severity, alertname, summary, labels, annotations, group_key, starts_at, ends_at, first_seen, last_seen, updated_at, flapping, suppressed, routes, notified_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$14,$14,$15,$16,$17,$18)
         ON CONFLICT (dedup_key) DO NOTHING RETURNING {ALERT_COLS}"
    );
    if let Some(r) = conn.sqlite_raw().await? {
        // SQLite: no index on `dedup_key` (migration 0030); the writer's key directory says whether the alert exists.
        if let Some(row) = sqlite_alert_by_key(r, &a.dedup_key)? {
            return Ok((row, false));
        }
        // Without RETURNING on the SQLite writer (SQLite materialises it in an ephemeral table per statement): the
        // new row is what was bound plus the columns' defaults.
        let n = r.exec(
            "INSERT INTO alerts (dedup_key, source, state, system, region, severity, alertname, summary, labels, annotations, group_key, starts_at, ends_at, first_seen, last_seen, updated_at, flapping, suppressed, routes, notified_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$14,$14,$15,$16,$17,$18)",
            &[
                (&a.dedup_key).into(),
                (&a.source).into(),
                (&a.state).into(),
                (&a.system).into(),
                (&a.region).into(),
                (&a.severity).into(),
                (&a.alertname).into(),
                (&a.summary).into(),
                labels.into(),
                annotations.into(),
                (&a.group_key).into(),
                a.starts_at.into(),
                a.ends_at.into(),
                a.now.into(),
                a.decision.flapping.into(),
                (&a.decision.suppressed).into(),
                (&a.decision.routes).into(),
                a.decision.notified_at.into(),
            ],
        )?;
        if n == 1 {
            let id = r.last_insert_rowid()?;
            r.with_alert_keys(|_, keys| {
                keys.record(&a.dedup_key, id);
                Ok(())
            })?;
            let row = AlertRow {
                id,
                dedup_key: a.dedup_key.clone(),
                source: a.source.clone(),
                state: a.state.clone(),
                system: a.system.clone(),
                region: a.region.clone(),
                severity: a.severity.clone(),
                alertname: a.alertname.clone(),
                summary: a.summary.clone(),
                labels: labels.clone(),
                annotations: annotations.clone(),
                group_key: a.group_key.clone(),
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                first_seen: a.now,
                last_seen: a.now,
                event_count: 1,
                fire_count: 1,
                flapping: a.decision.flapping,
                suppressed: a.decision.suppressed.clone(),
                routes: a.decision.routes.clone(),
                notified_at: a.decision.notified_at,
                incident_id: None,
                acknowledged_by: None,
                acknowledged_at: None,
                resolved_by: None,
                resolved_at: None,
                version: 1,
                updated_at: a.now,
            };
            return Ok((row, true));
        }
        return Err(StoreError::Database(format!(
            "alert {} was not inserted",
            a.dedup_key
        )));
    }
    let created: Option<AlertRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&a.dedup_key).bind(&a.source).bind(&a.state).bind(&a.system).bind(&a.region).bind(&a.severity)
        .bind(&a.alertname).bind(&a.summary).bind(labels).bind(annotations).bind(&a.group_key)
        .bind(a.starts_at).bind(a.ends_at).bind(a.now)
        .bind(a.decision.flapping).bind(&a.decision.suppressed).bind(&a.decision.routes).bind(a.decision.notified_at)
        .fetch_optional(&mut **c).await)?;
    if let Some(row) = created {
        return Ok((row, true));
    }
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE dedup_key = $1{lock}");
    let row: AlertRow =
        on_conn!(conn, c => sqlx::query_as(&sql).bind(&a.dedup_key).fetch_one(&mut **c).await)?;
    Ok((row, false))
}

/// The alert `id`, locked for the rest of the write on PostgreSQL.
pub async fn alert_for_update(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<AlertRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Saves the mutable columns of `a` if its version is still `a.version`; returns the row with the new version.
pub async fn save_alert(conn: &mut Conn<'_>, a: &AlertRow, now: i64) -> StoreResult<AlertRow> {
    let sql = format!(
        "UPDATE alerts SET state=$1, system=$2, region=$3, severity=$4, alertname=$5, summary=$6, labels=$7,
           annotations=$8, group_key=$9, starts_at=$10, ends_at=$11, last_seen=$12, event_count=$13, fire_count=$14,
           flapping=$15, suppressed=$16, routes=$17, notified_at=$18, incident_id=$19, acknowledged_by=$20,
           acknowledged_at=$21, resolved_by=$22, resolved_at=$23, version=version+1, updated_at=$24
         WHERE id=$25 AND version=$26 RETURNING {ALERT_COLS}"
    );
    if let Some(r) = conn.sqlite_raw().await? {
        let row = r.query_opt(
            &sql,
            &[
                (&a.state).into(),
                (&a.system).into(),
                (&a.region).into(),
                (&a.severity).into(),
                (&a.alertname).into(),
                (&a.summary).into(),
                (&a.labels).into(),
                (&a.annotations).into(),
                (&a.group_key).into(),
                a.starts_at.into(),
                a.ends_at.into(),
                a.last_seen.into(),
                a.event_count.into(),
                a.fire_count.into(),
                a.flapping.into(),
                (&a.suppressed).into(),
                (&a.routes).into(),
                a.notified_at.into(),
                a.incident_id.into(),
                (&a.acknowledged_by).into(),
                a.acknowledged_at.into(),
                (&a.resolved_by).into(),
                a.resolved_at.into(),
                now.into(),
                a.id.into(),
                a.version.into(),
            ],
            alert_row,
        )?;
        return row.ok_or_else(|| StoreError::Stale(format!("alert {}", a.id)));
    }
    let row: Option<AlertRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&a.state).bind(&a.system).bind(&a.region).bind(&a.severity).bind(&a.alertname).bind(&a.summary)
        .bind(&a.labels).bind(&a.annotations).bind(&a.group_key).bind(a.starts_at).bind(a.ends_at)
        .bind(a.last_seen).bind(a.event_count).bind(a.fire_count).bind(a.flapping).bind(&a.suppressed)
        .bind(&a.routes).bind(a.notified_at).bind(a.incident_id).bind(&a.acknowledged_by).bind(a.acknowledged_at)
        .bind(&a.resolved_by).bind(a.resolved_at).bind(now).bind(a.id).bind(a.version)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("alert {}", a.id)))
}

/// Appends a history entry.
pub async fn insert_alert_event(conn: &mut Conn<'_>, e: NewAlertEvent) -> StoreResult<i64> {
    let data = &e.data;
    if let Some(r) = conn.sqlite_raw().await? {
        return r.insert(
            "INSERT INTO alert_events (alert_id, at, kind, actor, state_change, data) VALUES ($1,$2,$3,$4,$5,$6)",
            &[
                e.alert_id.into(),
                e.at.into(),
                (&e.kind).into(),
                (&e.actor).into(),
                e.state_change.into(),
                data.into(),
            ],
        );
    }
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO alert_events (alert_id, at, kind, actor, state_change, data) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id")
        .bind(e.alert_id).bind(e.at).bind(&e.kind).bind(&e.actor).bind(i64::from(e.state_change)).bind(data)
        .fetch_one(&mut **c).await)?)
}

/// Times of the alert's firing ↔ resolved changes after `since` (for the flapping rule).
pub async fn state_change_times(
    conn: &mut Conn<'_>,
    alert_id: i64,
    since: i64,
) -> StoreResult<Vec<i64>> {
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query(
            "SELECT at FROM alert_events WHERE alert_id = $1 AND state_change = 1 AND at > $2 ORDER BY at",
            &[alert_id.into(), since.into()],
            |row| row.int(0),
        );
    }
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT at FROM alert_events WHERE alert_id = $1 AND state_change = 1 AND at > $2 ORDER BY at")
        .bind(alert_id).bind(since).fetch_all(&mut **c).await)?)
}

/// Whether another alert of `group_key` first seen after `since` has already been notified (grouping).
pub async fn group_notified_since(
    conn: &mut Conn<'_>,
    group_key: &str,
    since: i64,
    except_id: i64,
) -> StoreResult<bool> {
    if let Some(r) = conn.sqlite_raw().await? {
        // EXISTS rather than COUNT(*): the answer is the same, and it stops at the first row.
        let hit = r.query_opt(
            "SELECT 1 FROM alerts WHERE group_key = $1 AND first_seen > $2 AND notified_at IS NOT NULL AND id <> $3 LIMIT 1",
            &[group_key.into(), since.into(), except_id.into()],
            |row| row.int(0),
        )?;
        return Ok(hit.is_some());
    }
    let n: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM alerts WHERE group_key = $1 AND first_seen > $2 AND notified_at IS NOT NULL AND id <> $3")
        .bind(group_key).bind(since).bind(except_id).fetch_one(&mut **c).await)?;
    Ok(n > 0)
}

/// Silences or maintenance windows in force at `now` (not ended early), read inside a write.
pub async fn mutes_in_force(
    conn: &mut Conn<'_>,
    kind: MuteKind,
    now: i64,
) -> StoreResult<Vec<MuteRow>> {
    let (_, ended_at) = kind.ended_cols();
    let sql = format!(
        "{} WHERE starts_at <= $1 AND ends_at > $1 AND {ended_at} IS NULL ORDER BY id",
        kind.select()
    );
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query(&sql, &[now.into()], mute_row);
    }
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(now).fetch_all(&mut **c).await)?)
}

/// Inserts a silence or a maintenance window.
pub async fn insert_mute(conn: &mut Conn<'_>, kind: MuteKind, m: &NewMute) -> StoreResult<MuteRow> {
    let matchers = serde_json::to_string(&m.matchers).unwrap_or_else(|_| "[]".into());
    let id: i64 = match kind {
        MuteKind::Silence => on_conn!(conn, c => sqlx::query_scalar(
            "INSERT INTO alert_silences (matchers, starts_at, ends_at, author, reason, created_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id")
            .bind(&matchers).bind(m.starts_at).bind(m.ends_at).bind(&m.author).bind(&m.reason).bind(m.now)
            .fetch_one(&mut **c).await)?,
        MuteKind::Maintenance => on_conn!(conn, c => sqlx::query_scalar(
            "INSERT INTO alert_maintenance (name, matchers, starts_at, ends_at, author, reason, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id")
            .bind(&m.name).bind(&matchers).bind(m.starts_at).bind(m.ends_at).bind(&m.author).bind(&m.reason).bind(m.now)
            .fetch_one(&mut **c).await)?,
    };
    mute_in_tx(conn, kind, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("{} {id}", kind.noun())))
}

/// A silence or window by id, inside a write.
pub async fn mute_in_tx(
    conn: &mut Conn<'_>,
    kind: MuteKind,
    id: i64,
) -> StoreResult<Option<MuteRow>> {
    let sql = format!("{} WHERE id = $1", kind.select());
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Ends a silence (expire) or a window (cancel) at `now` if its version is still `version`.
pub async fn end_mute(
    conn: &mut Conn<'_>,
    kind: MuteKind,
    id: i64,
    version: i64,
    by: &str,
    now: i64,
) -> StoreResult<MuteRow> {
    let (by_col, at_col) = kind.ended_cols();
    let sql = format!(
        "UPDATE {} SET {by_col} = $1, {at_col} = $2, version = version + 1 WHERE id = $3 AND version = $4 AND {at_col} IS NULL",
        kind.table()
    );
    let n = on_conn!(conn, c => sqlx::query(&sql).bind(by).bind(now).bind(id).bind(version)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Stale(format!("{} {id}", kind.noun())));
    }
    mute_in_tx(conn, kind, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("{} {id}", kind.noun())))
}

impl Store {
    /// Alerts matching `filter` with id below `before`, newest first.
    pub async fn alerts_page(
        &self,
        before: i64,
        limit: i64,
        filter: &AlertFilter,
    ) -> StoreResult<Vec<AlertRow>> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE id < $1
               AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR system = $3)
               AND ($4 IS NULL OR severity = $4) AND ($5 IS NULL OR region = $5)
             ORDER BY id DESC LIMIT $6"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(before).bind(&filter.state).bind(&filter.system)
            .bind(&filter.severity).bind(&filter.region).bind(limit).fetch_all(p).await)?,
        )
    }

    /// One alert.
    pub async fn alert(&self, id: i64) -> StoreResult<Option<AlertRow>> {
        let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// One alert by dedup key. On SQLite this reads the whole table (the key is not indexed there; the writer finds
    /// alerts by key through its directory): for tests and tools, not for a request path.
    pub async fn alert_by_key(&self, dedup_key: &str) -> StoreResult<Option<AlertRow>> {
        let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE dedup_key = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(dedup_key).fetch_optional(p).await)?)
    }

    /// An alert's history, oldest first.
    pub async fn alert_events(&self, alert_id: i64) -> StoreResult<Vec<AlertEventRow>> {
        let sql =
            format!("SELECT {EVENT_COLS} FROM alert_events WHERE alert_id = $1 ORDER BY at, id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(alert_id).fetch_all(p).await)?)
    }

    /// Counts of alerts per state.
    pub async fn alert_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT state, COUNT(*) FROM alerts GROUP BY state ORDER BY state").fetch_all(p).await)?)
    }

    /// Silences or windows ending after `after` (all when `None`), newest first.
    pub async fn mutes(&self, kind: MuteKind, after: Option<i64>) -> StoreResult<Vec<MuteRow>> {
        let sql = format!(
            "{} WHERE ($1 IS NULL OR ends_at > $1) ORDER BY id DESC",
            kind.select()
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(after).fetch_all(p).await)?)
    }

    /// One silence or window.
    pub async fn mute(&self, kind: MuteKind, id: i64) -> StoreResult<Option<MuteRow>> {
        let sql = format!("{} WHERE id = $1", kind.select());
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }
}

/// The alert with `dedup_key`, locked for the rest of the write on PostgreSQL.
pub async fn alert_by_key_in_tx(
    conn: &mut Conn<'_>,
    dedup_key: &str,
) -> StoreResult<Option<AlertRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    if let Some(r) = conn.sqlite_raw().await? {
        return sqlite_alert_by_key(r, dedup_key);
    }
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE dedup_key = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(dedup_key).fetch_optional(&mut **c).await)?)
}

/// The alert with `dedup_key` on the SQLite writer, through its key directory (see `alert_keys`).
fn sqlite_alert_by_key(r: &mut RawSqlite, dedup_key: &str) -> StoreResult<Option<AlertRow>> {
    r.with_alert_keys(|r, keys| {
        let Some(id) = keys.candidate(dedup_key) else {
            return Ok(None);
        };
        let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1");
        // A stale entry (its insert rolled back, the id since given to another key) reads as no alert.
        Ok(r.query_opt(&sql, &[id.into()], alert_row)?
            .filter(|row| row.dedup_key == dedup_key))
    })
}
