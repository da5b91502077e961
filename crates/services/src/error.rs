//! The service-layer error: what a use case can refuse, independent of HTTP or CLI.

use tianshu_core::{Permission, PolicyErrors};
use tianshu_store::StoreError;

/// Why a use case did not happen. The web layer maps each variant to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input failed validation; `field` names it (dotted path). `zh` is the message in Chinese
    /// for the console, when the validator provides one.
    #[error("{field}: {message}")]
    Invalid {
        field: String,
        message: String,
        zh: Option<String>,
    },
    #[error("not found: {0}")]
    NotFound(String),
    /// The input names a record (branch, system, user …) that does not exist.
    #[error("{field}: {message}")]
    UnknownReference {
        field: String,
        message: String,
        zh: Option<String>,
    },
    #[error("conflict on {field}: {message}")]
    Conflict { field: String, message: String },
    /// The record changed since the caller read it.
    #[error("{0} was changed by someone else; reload and try again")]
    Stale(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    /// Too many failed logins; retry after the given Unix microseconds.
    #[error("account temporarily locked")]
    Locked { until: i64 },
    #[error("missing permission {0}")]
    Forbidden(Permission),
    /// Outside the caller's region or vendor scope.
    #[error("outside your scope")]
    OutOfScope,
    /// A workflow move refused in the current state; `allowed` lists what the caller may do.
    #[error("{message}")]
    Transition {
        code: &'static str,
        message: String,
        allowed: Vec<String>,
    },
    #[error("too many requests")]
    RateLimited { retry_after_secs: i64 },
    #[error("policy pack invalid")]
    Policy(PolicyErrors),
    #[error(transparent)]
    Store(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(s) => ServiceError::NotFound(s),
            StoreError::Conflict { field, message } => ServiceError::Conflict { field, message },
            StoreError::Stale(s) => ServiceError::Stale(s),
            other => ServiceError::Store(other),
        }
    }
}

impl ServiceError {
    /// Shorthand for a validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            message: message.into(),
            zh: None,
        }
    }

    /// A validation error with its Chinese wording for the console.
    pub fn invalid_zh(
        field: impl Into<String>,
        message: impl Into<String>,
        zh: impl Into<String>,
    ) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            message: message.into(),
            zh: Some(zh.into()),
        }
    }

    /// The input names something that does not exist; `zh` is the Chinese wording.
    pub fn unknown_ref(
        field: impl Into<String>,
        message: impl Into<String>,
        zh: impl Into<String>,
    ) -> Self {
        ServiceError::UnknownReference {
            field: field.into(),
            message: message.into(),
            zh: Some(zh.into()),
        }
    }

    /// The message to show a person using `locale`.
    pub fn localized(&self, locale: &str) -> String {
        match self {
            ServiceError::Invalid { zh: Some(z), .. }
            | ServiceError::UnknownReference { zh: Some(z), .. }
                if locale.starts_with("zh") =>
            {
                z.clone()
            }
            ServiceError::Invalid { message, .. }
            | ServiceError::UnknownReference { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Result alias for use cases.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// The field a validation or reference error names.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Invalid { field, .. }
            | ServiceError::UnknownReference { field, .. }
            | ServiceError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}
