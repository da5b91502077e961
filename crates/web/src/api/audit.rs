//! The audit trail: read and verify.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_core::Permission;
use tianshu_store::audit::AuditEntry;
use utoipa::{IntoParams, ToSchema};

use super::{next_cursor, ts, PageParams};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Auth};
use crate::state::AppState;

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub hash: String,
}

impl From<AuditEntry> for AuditOut {
    fn from(e: AuditEntry) -> Self {
        let parse = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        AuditOut {
            seq: e.seq,
            at: ts(e.at),
            actor: e.actor,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            before: parse(e.before),
            after: parse(e.after),
            request_id: e.request_id,
            hash: e.hash,
        }
    }
}

/// One page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditOut>,
    pub next_cursor: Option<String>,
}

/// Audit filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Only entries about this object type (with object_id).
    pub object_type: Option<String>,
    pub object_id: Option<String>,
}

/// Verification result.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    pub ok: bool,
    pub entries: i64,
    pub head_seq: i64,
    pub problems: Vec<VerifyProblemOut>,
}

/// One defect in the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyProblemOut {
    pub seq: i64,
    /// `missing`, `altered`, `broken_link` or `head_mismatch`.
    pub kind: String,
    pub detail: String,
}

/// Read the audit trail in order.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "a page of entries", body = AuditPage)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    p.require(Permission::AuditRead)?;
    let (after, limit) = PageParams {
        cursor: q.cursor,
        limit: q.limit,
    }
    .resolve()?;
    let object = match (&q.object_type, &q.object_id) {
        (Some(t), Some(i)) => Some((t.as_str(), i.as_str())),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ApiError::bad_field(
                "object_id",
                "object_type needs object_id",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_field(
                "object_type",
                "object_id needs object_type",
            ))
        }
    };
    let rows = st.platform.store.audit_page(after, limit, object).await?;
    let next = next_cursor(rows.len(), limit, rows.last().map(|e| e.seq));
    Ok(Json(AuditPage {
        items: rows.into_iter().map(AuditOut::from).collect(),
        next_cursor: next,
    }))
}

/// Walk the whole hash chain and report any edited, deleted or truncated entry.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "verification result", body = VerifyOut)))]
pub async fn verify(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<VerifyOut>> {
    p.require(Permission::AuditVerify)?;
    let r = st.platform.store.audit_verify().await?;
    Ok(Json(VerifyOut {
        ok: r.ok(),
        entries: r.entries,
        head_seq: r.head_seq,
        problems: r
            .problems
            .into_iter()
            .map(|x| VerifyProblemOut {
                seq: x.seq,
                kind: x.kind.into(),
                detail: x.detail,
            })
            .collect(),
    }))
}
