//! Saved views: a user's named filter sets for a console list page.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// One saved view.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct SavedView {
    pub id: i64,
    pub user_id: i64,
    /// The list page it belongs to, e.g. `incidents`.
    pub page: String,
    pub name: String,
    /// The page's query string, without the leading `?`.
    pub query: String,
    pub created_at: i64,
}

const COLS: &str = "id, user_id, page, name, query, created_at";

/// Saves a view; a name the user already has on that page is a conflict.
pub async fn insert(
    conn: &mut Conn<'_>,
    user_id: i64,
    page: &str,
    name: &str,
    query: &str,
    now: i64,
) -> StoreResult<SavedView> {
    let sql = format!(
        "INSERT INTO saved_views (user_id, page, name, query, created_at) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (user_id, page, name) DO NOTHING RETURNING {COLS}"
    );
    let row: Option<SavedView> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(user_id).bind(page).bind(name).bind(query).bind(now).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Conflict {
        field: "name".into(),
        message: format!("a view named {name:?} already exists on this page"),
    })
}

/// Counts a user's views on a page (the service caps them).
pub async fn count_in_tx(conn: &mut Conn<'_>, user_id: i64, page: &str) -> StoreResult<i64> {
    let (n,): (i64,) = on_conn!(conn, c => sqlx::query_as(
        "SELECT COUNT(*) FROM saved_views WHERE user_id = $1 AND page = $2")
        .bind(user_id).bind(page).fetch_one(&mut **c).await)?;
    Ok(n)
}

/// Deletes one of the user's views; false when the user has no view with that id.
pub async fn delete(conn: &mut Conn<'_>, user_id: i64, id: i64) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query("DELETE FROM saved_views WHERE id = $1 AND user_id = $2")
        .bind(id).bind(user_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

impl Store {
    /// A user's views of one page, by name.
    pub async fn saved_views(&self, user_id: i64, page: &str) -> StoreResult<Vec<SavedView>> {
        let sql = format!(
            "SELECT {COLS} FROM saved_views WHERE user_id = $1 AND page = $2 ORDER BY name, id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(user_id).bind(page).fetch_all(p).await)?)
    }
}
