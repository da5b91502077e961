//! Users, organisations, roles and systems.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_core::Permission;
use tianshu_services::identity::{self, CreateOrg, CreateUser, UpdateUser, UserView};
use tianshu_store::identity::Org;
use utoipa::{IntoParams, ToSchema};

use super::{next_cursor, ts, PageParams};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, RequestId};
use crate::state::AppState;

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub org_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: String,
    pub province_scope: bool,
    pub active: bool,
    /// Send back on PATCH; a mismatch means someone else changed the user.
    pub version: i64,
    pub roles: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserView> for UserOut {
    fn from(v: UserView) -> Self {
        let u = v.user;
        UserOut {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            org_id: u.org_id,
            email: u.email,
            phone: u.phone,
            locale: u.locale,
            province_scope: u.province_scope,
            active: u.active,
            version: u.version,
            roles: v.roles,
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserOut>,
    pub next_cursor: Option<String>,
}

/// New user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserIn {
    pub username: String,
    pub display_name: String,
    /// Key of the user's organisation.
    pub org_key: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Initial password (at least 10 characters); omit for accounts that use tokens only.
    pub password: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `zh-CN` (default) or `en`.
    pub locale: Option<String>,
    /// See every region's records (province centre staff).
    #[serde(default)]
    pub province_scope: bool,
}

/// Changes to a user; `version` is required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub version: i64,
    pub display_name: Option<String>,
    pub locale: Option<String>,
    pub active: Option<bool>,
    pub province_scope: Option<bool>,
    pub roles: Option<Vec<String>>,
}

/// New password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    pub password: String,
}

/// Filters for the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Substring of username or display name.
    pub q: Option<String>,
}

/// List users visible to the caller.
#[utoipa::path(get, path = "/api/v1/users", tag = "identity", params(UserQuery),
    responses((status = 200, description = "a page of users", body = UserPage)))]
pub async fn list_users(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<UserPage>> {
    let (after, limit) = PageParams {
        cursor: q.cursor,
        limit: q.limit,
    }
    .resolve()?;
    let users = identity::list_users(&st.platform, &p, after, limit, q.q.as_deref()).await?;
    let last = users.last().map(|u| u.user.id);
    let next = next_cursor(users.len(), limit, last);
    Ok(Json(UserPage {
        items: users
            .into_iter()
            .map(|u| identity::mask_contact(u).into())
            .collect(),
        next_cursor: next,
    }))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "identity", request_body = NewUserIn,
    responses((status = 201, description = "created", body = UserOut)))]
pub async fn create_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiJson(b): ApiJson<NewUserIn>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    let v = identity::create_user(
        &st.platform,
        &p,
        CreateUser {
            username: b.username,
            display_name: b.display_name,
            org_key: b.org_key,
            roles: b.roles,
            password: b.password,
            email: b.email,
            phone: b.phone,
            locale: b.locale,
            province_scope: b.province_scope,
        },
        rid,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(identity::mask_contact(v).into())))
}

/// Options for reading one user.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GetUserQuery {
    /// Show e-mail and phone unmasked (needs `sensitive.read`; recorded in the audit trail).
    pub reveal: Option<bool>,
}

/// One user (contact details masked unless `reveal=true`).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "identity", params(("id" = i64, Path, description = "user id"), GetUserQuery),
    responses((status = 200, description = "the user", body = UserOut)))]
pub async fn get_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<GetUserQuery>,
) -> ApiResult<Json<UserOut>> {
    if q.reveal == Some(true) {
        return Ok(Json(
            identity::reveal_user(&st.platform, &p, id, rid)
                .await?
                .into(),
        ));
    }
    let v = identity::get_user(&st.platform, &p, id).await?;
    Ok(Json(identity::mask_contact(v).into()))
}

/// Change a user (optimistic concurrency via `version`).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "identity", params(("id" = i64, Path, description = "user id")), request_body = UserPatch,
    responses((status = 200, description = "changed", body = UserOut)))]
pub async fn patch_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<UserPatch>,
) -> ApiResult<Json<UserOut>> {
    let v = identity::update(
        &st.platform,
        &p,
        id,
        UpdateUser {
            version: b.version,
            display_name: b.display_name,
            locale: b.locale,
            active: b.active,
            province_scope: b.province_scope,
            roles: b.roles,
        },
        rid,
    )
    .await?;
    Ok(Json(identity::mask_contact(v).into()))
}

/// Set a user's password (ends their sessions).
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "identity", params(("id" = i64, Path, description = "user id")), request_body = PasswordIn,
    responses((status = 204, description = "changed")))]
pub async fn set_password(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<PasswordIn>,
) -> ApiResult<StatusCode> {
    identity::change_password(&st.platform, &p, id, &b.password, rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgOut {
    pub id: i64,
    pub key: String,
    pub name: String,
    /// `province`, `branch`, `team` or `vendor`.
    pub kind: String,
    pub parent_id: Option<i64>,
    pub region_id: Option<i64>,
    pub created_at: String,
}

impl From<Org> for OrgOut {
    fn from(o: Org) -> Self {
        OrgOut {
            id: o.id,
            key: o.key,
            name: o.name,
            kind: o.kind,
            parent_id: o.parent_id,
            region_id: o.region_id,
            created_at: ts(o.created_at),
        }
    }
}

/// Organisations.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgList {
    pub items: Vec<OrgOut>,
}

/// New organisation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgIn {
    pub key: String,
    pub name: String,
    /// `province`, `branch`, `team` or `vendor`.
    pub kind: String,
    pub parent_key: Option<String>,
}

/// The organisation tree (flat, with parent ids).
#[utoipa::path(get, path = "/api/v1/orgs", tag = "identity", responses((status = 200, description = "organisations", body = OrgList)))]
pub async fn list_orgs(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<OrgList>> {
    p.require(Permission::OrgRead)?;
    let items = st
        .platform
        .store
        .orgs()
        .await?
        .into_iter()
        .map(OrgOut::from)
        .collect();
    Ok(Json(OrgList { items }))
}

/// Create an organisation.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "identity", request_body = NewOrgIn,
    responses((status = 201, description = "created", body = OrgOut)))]
pub async fn create_org(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiJson(b): ApiJson<NewOrgIn>,
) -> ApiResult<(StatusCode, Json<OrgOut>)> {
    let o = identity::create_org(
        &st.platform,
        &p,
        CreateOrg {
            key: b.key,
            name: b.name,
            kind: b.kind,
            parent_key: b.parent_key,
        },
        rid,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(o.into())))
}

/// A role and what it grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleOut {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub scope: String,
    pub permissions: Vec<String>,
}

/// Roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleOut>,
}

/// Roles and their permissions (seeded from the policy pack).
#[utoipa::path(get, path = "/api/v1/roles", tag = "identity", responses((status = 200, description = "roles", body = RoleList)))]
pub async fn list_roles(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<RoleList>> {
    p.require(Permission::UserRead)?;
    let items = st
        .platform
        .store
        .roles()
        .await?
        .into_iter()
        .map(|r| RoleOut {
            key: r.key,
            name_zh: r.name_zh,
            name_en: r.name_en,
            scope: r.scope,
            permissions: r.permissions,
        })
        .collect();
    Ok(Json(RoleList { items }))
}

/// A monitored system.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemOut {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub owner_org_id: Option<i64>,
    pub vendor_org_id: Option<i64>,
}

/// Systems.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemList {
    pub items: Vec<SystemOut>,
}

/// Monitored business-support systems.
#[utoipa::path(get, path = "/api/v1/systems", tag = "identity", responses((status = 200, description = "systems", body = SystemList)))]
pub async fn list_systems(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<SystemList>> {
    p.require(Permission::OrgRead)?;
    let items = st
        .platform
        .store
        .systems()
        .await?
        .into_iter()
        .map(|s| SystemOut {
            id: s.id,
            key: s.key,
            name: s.name,
            owner_org_id: s.owner_org_id,
            vendor_org_id: s.vendor_org_id,
        })
        .collect();
    Ok(Json(SystemList { items }))
}
