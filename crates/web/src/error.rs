//! The one mapping from failures to HTTP: RFC 9457 problem+json with stable codes.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tianshu_services::ServiceError;
use tianshu_store::StoreError;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference identifying the problem type (`/problems/<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`.
    pub code: String,
    /// The offending field (dotted path) when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem when there are several (policy pack validation).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<String>,
    /// For a refused workflow move: the actions the caller may take now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
}

/// An error leaving a handler.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub errors: Vec<String>,
    pub retry_after: Option<u32>,
    pub allowed_actions: Option<Box<[String]>>,
}

impl ApiError {
    /// A problem with no field.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            retry_after: None,
            allowed_actions: None,
        }
    }

    /// A 400 naming the field.
    pub fn bad_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail);
        e.field = Some(field.into());
        e
    }

    /// 404 for a path that names nothing.
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        match e {
            ServiceError::Invalid { field, message, .. } => {
                let mut a = ApiError::new(
                    S::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    format!("{field}: {message}"),
                );
                a.field = Some(field);
                a
            }
            ServiceError::UnknownReference { field, message, .. } => {
                let mut a = ApiError::new(
                    S::BAD_REQUEST,
                    "unknown_reference",
                    format!("{field}: {message}"),
                );
                a.field = Some(field);
                a
            }
            ServiceError::NotFound(what) => {
                ApiError::new(S::NOT_FOUND, "not_found", format!("not found: {what}"))
            }
            ServiceError::Conflict { field, message } => {
                let mut a = ApiError::new(S::CONFLICT, "conflict", format!("{field}: {message}"));
                a.field = Some(field);
                a
            }
            ServiceError::Stale(what) => ApiError::new(
                S::PRECONDITION_FAILED,
                "stale_version",
                format!("{what} was changed by someone else; reload and try again"),
            ),
            ServiceError::Unauthenticated => ApiError::new(
                S::UNAUTHORIZED,
                "unauthenticated",
                "authentication required",
            ),
            ServiceError::BadCredentials => ApiError::new(
                S::UNAUTHORIZED,
                "bad_credentials",
                "wrong username or password",
            ),
            ServiceError::Locked { until } => {
                let secs = ((until - chrono::Utc::now().timestamp_micros()) / 1_000_000).max(1);
                let mut a = ApiError::new(
                    S::TOO_MANY_REQUESTS,
                    "login_locked",
                    format!("too many failed logins; try again in {secs} s"),
                );
                a.retry_after = Some(u32::try_from(secs).unwrap_or(u32::MAX));
                a
            }
            ServiceError::Forbidden(p) => ApiError::new(
                S::FORBIDDEN,
                "forbidden",
                format!("your roles do not grant '{p}'"),
            ),
            ServiceError::OutOfScope => ApiError::new(
                S::FORBIDDEN,
                "out_of_scope",
                "the record is outside your region or organisation",
            ),
            ServiceError::Transition {
                code,
                message,
                allowed,
            } => {
                let status = if code == "reason_required" {
                    S::UNPROCESSABLE_ENTITY
                } else {
                    S::CONFLICT
                };
                let mut a = ApiError::new(status, code, message);
                if code == "reason_required" {
                    a.field = Some("reason".into());
                }
                a.allowed_actions = Some(allowed.into_boxed_slice());
                a
            }
            ServiceError::RateLimited { retry_after_secs } => {
                let mut a =
                    ApiError::new(S::TOO_MANY_REQUESTS, "rate_limited", "too many requests");
                a.retry_after = Some(u32::try_from(retry_after_secs.max(0)).unwrap_or(u32::MAX));
                a
            }
            ServiceError::Policy(errs) => {
                let mut a = ApiError::new(
                    S::UNPROCESSABLE_ENTITY,
                    "policy_invalid",
                    "the policy pack is invalid",
                );
                a.errors = errs.iter().map(|e| e.to_string()).collect();
                a.field = errs.iter().next().map(|e| e.field.clone());
                a
            }
            ServiceError::Store(StoreError::Unavailable(m)) => {
                tracing::error!(error = %m, "database unavailable");
                ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly",
                )
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "storage error");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error (logged with the request id)",
                )
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error (logged with the request id)",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_field("path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        // serde_urlencoded names the field in backticks or after "field"; keep the whole text as detail.
        let field = text
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "query".into());
        ApiError::bad_field(field, text)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let body = Problem {
            type_: format!("/problems/{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
            field: self.field,
            errors: self.errors,
            allowed_actions: self.allowed_actions.map(|a| a.into_vec()),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
