//! The storage error type; the web layer maps it to HTTP in one place.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness or foreign-key rule refused the change; the string names the field.
    #[error("conflict on {field}: {message}")]
    Conflict { field: String, message: String },
    /// Optimistic concurrency: the row changed since it was read.
    #[error("stale version of {0}")]
    Stale(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("migration error: {0}")]
    Migrate(String),
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
            sqlx::Error::Database(db) => {
                let msg = db.message().to_string();
                if db.is_unique_violation() {
                    StoreError::Conflict {
                        field: unique_field(&msg),
                        message: "already exists".into(),
                    }
                } else if db.is_foreign_key_violation() {
                    StoreError::Conflict {
                        field: "reference".into(),
                        message: "refers to a record that does not exist or is still referenced"
                            .into(),
                    }
                } else {
                    StoreError::Database(msg)
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e.to_string())
    }
}

/// Best-effort column name from a unique-violation message of either backend.
fn unique_field(msg: &str) -> String {
    // SQLite: "UNIQUE constraint failed: users.username"
    if let Some(rest) = msg.split("failed: ").nth(1) {
        let first = rest.split(',').next().unwrap_or(rest).trim();
        return first.rsplit('.').next().unwrap_or(first).to_string();
    }
    // PostgreSQL: duplicate key value violates unique constraint "users_username_key"
    if let Some(name) = msg.split('"').nth(1) {
        let parts: Vec<&str> = name.split('_').collect();
        if parts.len() >= 3 {
            return parts[1..parts.len() - 1].join("_");
        }
        return name.to_string();
    }
    "unknown".into()
}
