//! Evaluator assessments of `assessed` KPI indicators (KPI-12/KPI-13, migration 0027). One row is current per
//! (set, indicator, unit, period); a re-assessment supersedes it and both rows are kept.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored assessment.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct AssessmentRow {
    pub id: i64,
    pub set_key: String,
    pub indicator_key: String,
    pub org_id: i64,
    /// Key of the unit (joined).
    pub unit: String,
    /// Name of the unit (joined).
    pub unit_name: String,
    /// `YYYY-MM`.
    pub period: String,
    /// Points in hundredths.
    pub points: i64,
    /// The indicator's full marks when assessed, in hundredths.
    pub max_points: i64,
    pub rule: String,
    pub reason: String,
    pub assessed_by: String,
    pub assessed_at: i64,
    pub supersedes: Option<i64>,
    pub superseded_by: Option<i64>,
    pub superseded_at: Option<i64>,
}

/// What recording an assessment stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssessment {
    pub set_key: String,
    pub indicator_key: String,
    pub org_id: i64,
    pub period: String,
    pub points: i64,
    pub max_points: i64,
    pub rule: String,
    pub reason: String,
    pub assessed_by: String,
    pub assessed_at: i64,
}

const COLS: &str = "a.id, a.set_key, a.indicator_key, a.org_id, o.key AS unit, o.name AS unit_name, a.period,
    a.points, a.max_points, a.rule, a.reason, a.assessed_by, a.assessed_at, a.supersedes, a.superseded_by,
    a.superseded_at";
const FROM: &str = "kpi_assessments a JOIN organizations o ON o.id = a.org_id";

async fn assessment_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<AssessmentRow> {
    let sql = format!("SELECT {COLS} FROM {FROM} WHERE a.id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_one(&mut **c).await)?)
}

/// Records `n` as the current assessment of its (set, indicator, unit, period); the one current before, if any,
/// is marked superseded by it. Returns (the new row, the superseded row). A concurrent assessment of the same
/// key → `Conflict` on `indicator`.
pub async fn record_assessment(
    conn: &mut Conn<'_>,
    n: &NewAssessment,
) -> StoreResult<(AssessmentRow, Option<AssessmentRow>)> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT id FROM kpi_assessments
         WHERE set_key = $1 AND indicator_key = $2 AND org_id = $3 AND period = $4 AND superseded_at IS NULL{lock}"
    );
    let current: Option<i64> = on_conn!(conn, c => sqlx::query_scalar(&sql)
        .bind(&n.set_key).bind(&n.indicator_key).bind(n.org_id).bind(&n.period)
        .fetch_optional(&mut **c).await)?;
    let raced = || StoreError::Conflict {
        field: "indicator".into(),
        message: "assessed by someone else at the same moment; reload and try again".into(),
    };
    if let Some(old) = current {
        // Free the partial unique index before the new current row goes in.
        let k = on_conn!(conn, c => sqlx::query(
            "UPDATE kpi_assessments SET superseded_at = $1 WHERE id = $2 AND superseded_at IS NULL")
            .bind(n.assessed_at).bind(old)
            .execute(&mut **c).await.map(|r| r.rows_affected()))?;
        if k == 0 {
            return Err(raced());
        }
    }
    let id: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO kpi_assessments (set_key, indicator_key, org_id, period, points, max_points, rule, reason,
           assessed_by, assessed_at, supersedes)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id")
        .bind(&n.set_key).bind(&n.indicator_key).bind(n.org_id).bind(&n.period).bind(n.points)
        .bind(n.max_points).bind(&n.rule).bind(&n.reason).bind(&n.assessed_by).bind(n.assessed_at)
        .bind(current)
        .fetch_one(&mut **c).await)
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => raced(),
        other => other,
    })?;
    let old = match current {
        Some(old) => {
            on_conn!(conn, c => sqlx::query("UPDATE kpi_assessments SET superseded_by = $1 WHERE id = $2")
                .bind(id).bind(old).execute(&mut **c).await.map(|r| r.rows_affected()))?;
            Some(assessment_in_tx(conn, old).await?)
        }
        None => None,
    };
    Ok((assessment_in_tx(conn, id).await?, old))
}

impl Store {
    /// The current assessments of `set_key` for `period`.
    pub async fn current_assessments(
        &self,
        set_key: &str,
        period: &str,
    ) -> StoreResult<Vec<AssessmentRow>> {
        let sql = format!(
            "SELECT {COLS} FROM {FROM}
             WHERE a.set_key = $1 AND a.period = $2 AND a.superseded_at IS NULL ORDER BY a.id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(set_key).bind(period).fetch_all(p).await)?)
    }

    /// Every assessment (current and superseded) of `set_key` for `period`, newest first; `org_id` keeps one unit.
    pub async fn assessment_history(
        &self,
        set_key: &str,
        period: &str,
        org_id: Option<i64>,
    ) -> StoreResult<Vec<AssessmentRow>> {
        let sql = format!(
            "SELECT {COLS} FROM {FROM}
             WHERE a.set_key = $1 AND a.period = $2 AND (CAST($3 AS BIGINT) IS NULL OR a.org_id = $3) ORDER BY a.id DESC"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql)
            .bind(set_key).bind(period).bind(org_id).fetch_all(p).await)?)
    }
}
