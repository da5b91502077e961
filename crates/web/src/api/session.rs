//! Console/API login sessions.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::session;
use utoipa::ToSchema;

use super::ts;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Auth, RequestId, SESSION_COOKIE};
use crate::state::AppState;

/// Login credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[schema(min_length = 1, max_length = 256)]
    pub password: String,
}

/// The caller as the platform sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: i64,
    pub username: String,
    pub locale: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// `province`, `region` or `vendor`.
    pub scope: String,
    /// For session callers: the token to send as `X-CSRF-Token` on changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl Me {
    /// The view of a principal.
    pub fn of(p: &Principal) -> Me {
        Me {
            user_id: p.user_id,
            username: p.username.clone(),
            locale: p.locale.clone(),
            roles: p.roles.clone(),
            permissions: p
                .permissions
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
            scope: match p.scope {
                tianshu_services::authz::Scope::Province => "province",
                tianshu_services::authz::Scope::Region(_) => "region",
                tianshu_services::authz::Scope::Vendor(_) => "vendor",
            }
            .into(),
            csrf_token: match &p.via {
                AuthVia::Session { csrf, .. } => Some(csrf.clone()),
                _ => None,
            },
            expires_at: None,
        }
    }
}

/// The session cookie header for a new session.
pub fn session_cookie(secret: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let v = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// A cookie header that clears the session.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("tianshu_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Whether the request came over HTTPS (directly or via a TLS proxy).
pub fn is_https(headers: &HeaderMap, configured: bool) -> bool {
    configured
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Log in with username and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, description = "logged in", body = Me),
              (status = 401, description = "wrong credentials", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "locked or rate limited", body = Problem, content_type = "application/problem+json")),
    security(()))]
pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    parts: axum::extract::ConnectInfo<std::net::SocketAddr>,
    RequestId(rid): RequestId,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    session::rate_check(&st.platform, &format!("ip:{}", parts.0.ip())).await?;
    if req.username.is_empty() || req.username.chars().count() > 64 {
        return Err(ApiError::bad_field(
            "username",
            "username must have 1–64 characters",
        ));
    }
    let s = session::login(&st.platform, &req.username, &req.password, rid).await?;
    let now = st.platform.now_us();
    let max_age = (s.expires_at - now) / 1_000_000;
    let principal = session::authenticate_session(&st.platform, &s.secret).await?;
    let mut me = Me::of(&principal);
    me.expires_at = Some(ts(s.expires_at));
    let mut resp = (StatusCode::OK, axum::Json(me)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(
            &s.secret,
            max_age,
            is_https(&headers, st.config.secure_cookies),
        ),
    );
    Ok(resp)
}

/// Who am I (works with a token or a session).
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, description = "the caller", body = Me)))]
pub async fn me(Auth(p): Auth) -> ApiResult<axum::Json<Me>> {
    Ok(axum::Json(Me::of(&p)))
}

/// Log out (ends the session; a token caller is unaffected).
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "logged out")))]
pub async fn logout(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Response> {
    session::logout(&st.platform, &p).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    Ok(resp)
}
