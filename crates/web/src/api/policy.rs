//! The active policy pack.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tianshu_core::Permission;
use tianshu_services::policy::ActivePolicy;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::Auth;
use crate::state::AppState;

/// The policy version every instance enforces.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyOut {
    /// Stored version id (changes on every activation).
    pub id: i64,
    pub name: String,
    pub version: String,
    pub source_hash: String,
    pub files: Vec<String>,
    pub roles: usize,
    pub calendars: Vec<String>,
    pub holiday_years: Vec<i32>,
    /// Non-fatal findings, e.g. holiday data missing for next year.
    pub warnings: Vec<String>,
}

fn out(a: &ActivePolicy, today: chrono::NaiveDate) -> PolicyOut {
    PolicyOut {
        id: a.id,
        name: a.pack.pack.name.clone(),
        version: a.pack.pack.version.clone(),
        source_hash: a.pack.source_hash.clone(),
        files: a.pack.files.iter().map(|f| f.name.clone()).collect(),
        roles: a.pack.roles.len(),
        calendars: a.calendars.list().into_iter().map(|c| c.name).collect(),
        holiday_years: a.calendars.years(),
        warnings: a.pack.warnings(today),
    }
}

fn today(st: &AppState) -> chrono::NaiveDate {
    let tz: chrono_tz::Tz = st
        .platform
        .policy
        .current()
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    st.platform.clock.now().with_timezone(&tz).date_naive()
}

/// The active policy pack.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", responses((status = 200, description = "active policy", body = PolicyOut)))]
pub async fn get(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<PolicyOut>> {
    p.require(Permission::PolicyRead)?;
    Ok(Json(out(&st.platform.policy.current(), today(&st))))
}

/// Re-read the pack from its source, validate it and make it active on every instance.
#[utoipa::path(post, path = "/api/v1/policy/reload", tag = "policy",
    responses((status = 200, description = "now active", body = PolicyOut)))]
pub async fn reload(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<PolicyOut>> {
    p.require(Permission::PolicyReload)?;
    let now = st.platform.now_us();
    let a = st
        .platform
        .policy
        .reload(&st.platform.store, &st.config.pack_source, now, &p.actor())
        .await?;
    Ok(Json(out(&a, today(&st))))
}
