//! Sessions, login throttling, API tokens and rate-limit counters.
//!
//! All of it lives in the database, not in a process, so several `serve` instances on one
//! PostgreSQL agree on who is logged in, who is locked out and how many requests were made.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A console session (the id is stored only as a hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// Where a user's failed logins stand.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Throttle {
    pub username: String,
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

/// An API token as stored (never the secret itself).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    #[serde(skip)]
    pub token_hash: String,
    pub user_id: i64,
    /// JSON array of permission names the token may use (a subset of its user's).
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const TOKEN_COLS: &str =
    "id, name, prefix, token_hash, user_id, scopes, created_at, expires_at, revoked_at, last_used_at";

/// Creates a session row.
pub async fn insert_session(conn: &mut Conn<'_>, s: &Session) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6)")
        .bind(&s.id_hash).bind(s.user_id).bind(&s.csrf_token).bind(s.created_at).bind(s.last_seen_at).bind(s.expires_at)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes every session of a user (password change, deactivation).
pub async fn delete_user_sessions(conn: &mut Conn<'_>, user_id: i64) -> StoreResult<u64> {
    Ok(
        on_conn!(conn, c => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id).execute(&mut **c).await.map(|r| r.rows_affected()))?,
    )
}

/// Records a failed login; returns the updated counter. The window restarts when it has passed.
pub async fn record_login_failure(
    conn: &mut Conn<'_>,
    username: &str,
    now: i64,
    window_us: i64,
    max_failures: i64,
    lockout_us: i64,
) -> StoreResult<Throttle> {
    let cur: Option<Throttle> = on_conn!(conn, c => sqlx::query_as(
        "SELECT username, failures, window_start, locked_until FROM login_throttle WHERE username = $1")
        .bind(username).fetch_optional(&mut **c).await)?;
    let (failures, window_start) = match &cur {
        Some(t) if now - t.window_start < window_us => (t.failures + 1, t.window_start),
        _ => (1, now),
    };
    let locked_until = if failures >= max_failures {
        Some(now + lockout_us)
    } else {
        cur.as_ref().and_then(|t| t.locked_until)
    };
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO login_throttle (username, failures, window_start, locked_until) VALUES ($1,$2,$3,$4)
         ON CONFLICT (username) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until")
        .bind(username).bind(failures).bind(window_start).bind(locked_until).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(Throttle {
        username: username.to_string(),
        failures,
        window_start,
        locked_until,
    })
}

/// Clears the failure counter after a successful login.
pub async fn clear_login_failures(conn: &mut Conn<'_>, username: &str) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("DELETE FROM login_throttle WHERE username = $1")
        .bind(username).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Stores a new API token.
pub async fn insert_token(conn: &mut Conn<'_>, t: &ApiToken) -> StoreResult<ApiToken> {
    let sql = format!(
        "INSERT INTO api_tokens (name, prefix, token_hash, user_id, scopes, created_at, expires_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING {TOKEN_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&t.name).bind(&t.prefix).bind(&t.token_hash).bind(t.user_id).bind(&t.scopes)
        .bind(t.created_at).bind(t.expires_at).fetch_one(&mut **c).await)?)
}

/// Marks a token revoked; returns the token as it was.
pub async fn revoke_token(conn: &mut Conn<'_>, id: i64, now: i64) -> StoreResult<ApiToken> {
    let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1");
    let t: Option<ApiToken> =
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?;
    let t = t.ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
    on_conn!(conn, c => sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .bind(now).bind(id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(t)
}

impl Store {
    /// A live (unexpired) session by id hash.
    pub async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash).bind(now).fetch_optional(p).await)?)
    }

    /// Extends a session's idle deadline (never beyond its absolute limit, enforced by the caller).
    pub async fn touch_session(&self, id_hash: &str, now: i64, expires_at: i64) -> StoreResult<()> {
        let id = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                on_conn!(c, c => sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3")
                    .bind(now).bind(expires_at).bind(&id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
                Ok(())
            })
        })
        .await
    }

    /// Deletes one session (logout).
    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let id = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                on_conn!(c, c => sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(&id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
                Ok(())
            })
        })
        .await
    }

    /// The throttle row of a username.
    pub async fn throttle(&self, username: &str) -> StoreResult<Option<Throttle>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT username, failures, window_start, locked_until FROM login_throttle WHERE username = $1")
            .bind(username).fetch_optional(p).await)?)
    }

    /// A token by the hash of its secret.
    pub async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(hash).fetch_optional(p).await)?)
    }

    /// Tokens, optionally of one user, newest first.
    pub async fn tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM api_tokens WHERE ($1 = FALSE OR user_id = $2) ORDER BY id DESC"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql)
            .bind(user_id.is_some()).bind(user_id.unwrap_or(0)).fetch_all(p).await)?)
    }

    /// Records when a token was last used (best effort, at most once a minute per token).
    pub async fn token_used(&self, id: i64, now: i64) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                on_conn!(c, c => sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
                    .bind(now).bind(id).bind(now - 60_000_000).execute(&mut **c).await.map(|r| r.rows_affected()))?;
                Ok(())
            })
        })
        .await
    }
}
