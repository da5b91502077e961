//! API tokens for machines: shown once, hashed at rest, scoped, revocable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::session::{self, CreateToken, TokenView};
use tianshu_store::security::ApiToken;
use utoipa::ToSchema;

use super::ts;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, Auth, RequestId};
use crate::state::AppState;

/// A token without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    /// First characters of the secret, to recognise it.
    pub prefix: String,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

fn out(t: ApiToken, scopes: Vec<String>) -> TokenOut {
    TokenOut {
        id: t.id,
        name: t.name,
        prefix: t.prefix,
        user_id: t.user_id,
        scopes,
        created_at: ts(t.created_at),
        expires_at: t.expires_at.map(ts),
        revoked_at: t.revoked_at.map(ts),
        last_used_at: t.last_used_at.map(ts),
    }
}

impl From<TokenView> for TokenOut {
    fn from(v: TokenView) -> Self {
        out(v.token, v.scope_list)
    }
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenOut>,
}

/// New token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenIn {
    pub name: String,
    /// User the token acts as (default: the caller).
    pub username: Option<String>,
    /// Permissions the token may use (default: all of the caller's).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime in days (default from the policy pack).
    pub lifetime_days: Option<u32>,
}

/// A created token; `token` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret: send as `Authorization: Bearer <token>`. It cannot be shown again.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenOut,
}

/// List tokens (own, or all with user.manage).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, description = "tokens", body = TokenList)))]
pub async fn list(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<TokenList>> {
    let items = session::list_tokens(&st.platform, &p)
        .await?
        .into_iter()
        .map(TokenOut::from)
        .collect();
    Ok(Json(TokenList { items }))
}

/// Create a token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewTokenIn,
    responses((status = 201, description = "created; the secret is in `token`", body = CreatedToken)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiJson(b): ApiJson<NewTokenIn>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let scopes = b.scopes.clone();
    let (secret, t) = session::create_token(
        &st.platform,
        &p,
        CreateToken {
            name: b.name,
            username: b.username,
            scopes: b.scopes,
            lifetime_days: b.lifetime_days,
        },
        rid,
    )
    .await?;
    let list = serde_json::from_str(&t.scopes).unwrap_or(scopes);
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret,
            info: out(t, list),
        }),
    ))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path, description = "token id")),
    responses((status = 204, description = "revoked")))]
pub async fn revoke(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    session::revoke(&st.platform, &p, id, rid).await?;
    Ok(StatusCode::NO_CONTENT)
}
