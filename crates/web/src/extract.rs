//! Request extractors that turn every bad input into a problem naming the field.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::{secrets, session, ServiceError};

use crate::error::ApiError;
use crate::state::AppState;

/// Name of the console session cookie.
pub const SESSION_COOKIE: &str = "tianshu_session";
/// Header carrying the CSRF token on state-changing requests made with the session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// JSON body decoded strictly: wrong types and unknown fields are a 400 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
        decode_json(&bytes).map(ApiJson)
    }
}

/// A JSON body, checked for its media type and size but not decoded: for handlers that decode it themselves
/// (the alert intake names missing fields its own way) without building a `serde_json::Value` first.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body exceeds 1 MiB",
                )
            } else {
                ApiError::bad_field("body", e.body_text())
            }
        })?;
        Ok(JsonBody(bytes))
    }
}

/// NUL can only reach a JSON string as the escape `\u0000`; PostgreSQL text cannot hold it.
///
/// Walks the escapes only (every body is scanned, most have none): a backslash escapes the one character after
/// it, so the text `\\u0000` (an escaped backslash, then `u0000`) is not a NUL.
pub fn reject_nul_escape(bytes: &[u8]) -> Result<(), ApiError> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\\', &bytes[from..]) {
        let at = from + i;
        if bytes
            .get(at + 1..at + 6)
            .is_some_and(|hex| hex.eq_ignore_ascii_case(b"u0000"))
        {
            return Err(ApiError::bad_field(
                "body",
                "text must not contain NUL characters",
            ));
        }
        from = at + 2;
        if from >= bytes.len() {
            break;
        }
    }
    Ok(())
}

/// Decodes JSON, naming the failing field path.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_nul_escape(bytes)?;
    // Path tracking doubles the decoding cost; a well-formed body (nearly all) does without it, and only a
    // failure is decoded again to name the field.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut path = e.path().to_string();
        let msg = e.inner().to_string();
        // For an unknown field the path names the parent; add the field itself.
        if let Some(name) = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            if path == "." {
                path = name.to_string();
            } else if !path.ends_with(name) {
                path = format!("{path}.{name}");
            }
        }
        if path == "." {
            path = "body".into();
        }
        ApiError::bad_field(path.clone(), format!("{path}: {msg}"))
    })
}

/// Path parameters; a malformed one is a 400 naming it.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; a malformed one is a 400 naming it.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The request id set by the request-id layer.
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(64).collect()),
        ))
    }
}

/// The client address (for rate limits and logs).
pub fn client_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The value of a cookie by name.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// An authenticated API caller (bearer token or session cookie + CSRF header), rate-limited.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let p = &st.platform;
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|s| s.trim().to_string());
        let principal = if let Some(tok) = bearer {
            session::authenticate_token(p, &tok).await?
        } else if let Some(c) = cookie(parts, SESSION_COOKIE) {
            let pr = session::authenticate_session(p, &c).await?;
            if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                let sent = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let ok =
                    matches!(&pr.via, AuthVia::Session { csrf, .. } if secrets::same(csrf, sent));
                if !ok {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf_failed",
                        "missing or wrong X-CSRF-Token header for a session-authenticated change",
                    ));
                }
            }
            pr
        } else {
            return Err(ServiceError::Unauthenticated.into());
        };
        let key = match &principal.via {
            AuthVia::Token { id } => format!("token:{id}"),
            _ => format!("user:{}", principal.user_id),
        };
        session::rate_check(p, &key).await?;
        Ok(Auth(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::reject_nul_escape;

    #[test]
    fn only_a_real_nul_escape_is_refused() {
        for refused in [
            r#"{"a":"x\u0000y"}"#,
            r#"{"a":"\U0000"}"#,
            r#"{"a":"\\\u0000"}"#,
            r#"{"\u0000":1}"#,
        ] {
            assert!(reject_nul_escape(refused.as_bytes()).is_err(), "{refused}");
        }
        for accepted in [
            r#"{"a":"x"}"#,
            r#"{"a":"\\u0000"}"#,
            r#"{"a":"\u0041\n\\"}"#,
            r#"{"a":"\u000"#,
            "\\",
            "",
        ] {
            assert!(reject_nul_escape(accepted.as_bytes()).is_ok(), "{accepted}");
        }
    }
}
