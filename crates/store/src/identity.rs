//! Organisations, roles and users.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A node of the organisation tree: province centre → branches → teams; vendors stand apart.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Org {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<i64>,
    /// The branch this organisation belongs to (itself for a branch); none for province and vendors.
    pub region_id: Option<i64>,
    pub created_at: i64,
}

/// Input for [`insert_org`].
#[derive(Debug, Clone)]
pub struct NewOrg {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<i64>,
}

/// A role as stored (seeded from the policy pack).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Role {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub scope: String,
    pub permissions: Vec<String>,
}

/// A person or service account.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub org_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: String,
    pub province_scope: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Input for [`insert_user`].
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub org_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: String,
    pub province_scope: bool,
    pub password_hash: Option<String>,
}

const USER_COLS: &str = "id, username, display_name, org_id, email, phone, locale, province_scope, active, version, created_at, updated_at";
const ORG_COLS: &str = "id, key, name, kind, parent_id, region_id, created_at";

/// Inserts an organisation, deriving its region from its parent.
pub async fn insert_org(conn: &mut Conn<'_>, o: NewOrg, now: i64) -> StoreResult<Org> {
    let parent_region: Option<i64> = match o.parent_id {
        Some(pid) => {
            let r: Option<(Option<i64>,)> = on_conn!(conn, c => sqlx::query_as(
                "SELECT region_id FROM organizations WHERE id = $1").bind(pid).fetch_optional(&mut **c).await)?;
            match r {
                Some((reg,)) => reg,
                None => {
                    return Err(StoreError::Conflict {
                        field: "parent".into(),
                        message: format!("organisation {pid} does not exist"),
                    })
                }
            }
        }
        None => None,
    };
    let sql = format!(
        "INSERT INTO organizations (key, name, kind, parent_id, region_id, created_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING {ORG_COLS}"
    );
    let region = if o.kind == "team" {
        parent_region
    } else {
        None
    };
    let mut org: Org = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&o.key).bind(&o.name).bind(&o.kind).bind(o.parent_id).bind(region).bind(now)
        .fetch_one(&mut **c).await)?;
    if org.kind == "branch" {
        on_conn!(conn, c => sqlx::query("UPDATE organizations SET region_id = id WHERE id = $1")
            .bind(org.id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
        org.region_id = Some(org.id);
    }
    Ok(org)
}

/// Replaces a role's definition and permissions (used when seeding from the policy pack).
pub async fn upsert_role(conn: &mut Conn<'_>, r: &Role) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO roles (key, name_zh, name_en, scope) VALUES ($1,$2,$3,$4)
         ON CONFLICT (key) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, scope = excluded.scope")
        .bind(&r.key).bind(&r.name_zh).bind(&r.name_en).bind(&r.scope).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    on_conn!(conn, c => sqlx::query("DELETE FROM role_permissions WHERE role_key = $1")
        .bind(&r.key).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    for p in &r.permissions {
        on_conn!(conn, c => sqlx::query("INSERT INTO role_permissions (role_key, permission) VALUES ($1,$2)")
            .bind(&r.key).bind(p).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Inserts a user.
pub async fn insert_user(conn: &mut Conn<'_>, u: NewUser, now: i64) -> StoreResult<User> {
    let sql = format!(
        "INSERT INTO users (username, display_name, org_id, email, phone, locale, province_scope, password_hash, active, version, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,TRUE,1,$9,$9) RETURNING {USER_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&u.username).bind(&u.display_name).bind(u.org_id).bind(&u.email).bind(&u.phone)
        .bind(&u.locale).bind(u.province_scope).bind(&u.password_hash).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// Replaces the roles of a user.
pub async fn set_user_roles(
    conn: &mut Conn<'_>,
    user_id: i64,
    roles: &[String],
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    for r in roles {
        let res = on_conn!(conn, c => sqlx::query("INSERT INTO user_roles (user_id, role_key) VALUES ($1,$2)")
            .bind(user_id).bind(r).execute(&mut **c).await.map(|r| r.rows_affected()));
        if let Err(e) = res {
            return Err(match StoreError::from(e) {
                StoreError::Conflict { .. } => StoreError::Conflict {
                    field: "roles".into(),
                    message: format!("unknown role '{r}'"),
                },
                other => other,
            });
        }
    }
    Ok(())
}

/// Sets a user's password hash and bumps the version.
pub async fn set_password(
    conn: &mut Conn<'_>,
    user_id: i64,
    hash: &str,
    now: i64,
) -> StoreResult<()> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE users SET password_hash = $1, version = version + 1, updated_at = $2 WHERE id = $3")
        .bind(hash).bind(now).bind(user_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("user {user_id}")));
    }
    Ok(())
}

/// The mutable profile fields of a user.
#[derive(Debug, Clone)]
pub struct UserChanges {
    pub display_name: String,
    pub locale: String,
    pub active: bool,
    pub province_scope: bool,
}

/// Changes mutable profile fields if the stored version still equals `expected_version`.
pub async fn update_user(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    ch: &UserChanges,
    now: i64,
) -> StoreResult<User> {
    let UserChanges {
        display_name,
        locale,
        active,
        province_scope,
    } = ch;
    let sql = format!(
        "UPDATE users SET display_name = $1, locale = $2, active = $3, province_scope = $4, version = version + 1, updated_at = $5
         WHERE id = $6 AND version = $7 RETURNING {USER_COLS}"
    );
    let row: Option<User> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(display_name).bind(locale).bind(active).bind(province_scope).bind(now).bind(id).bind(expected_version)
        .fetch_optional(&mut **c).await)?;
    match row {
        Some(u) => Ok(u),
        None => {
            let exists: Option<(i64,)> = on_conn!(conn, c => sqlx::query_as("SELECT id FROM users WHERE id = $1")
                .bind(id).fetch_optional(&mut **c).await)?;
            Err(if exists.is_some() {
                StoreError::Stale(format!("user {id}"))
            } else {
                StoreError::NotFound(format!("user {id}"))
            })
        }
    }
}

/// A user read inside a transaction (for before-images).
pub async fn user_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

impl Store {
    /// All organisations ordered by id.
    pub async fn orgs(&self) -> StoreResult<Vec<Org>> {
        let sql = format!("SELECT {ORG_COLS} FROM organizations ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// One organisation by key.
    pub async fn org_by_key(&self, key: &str) -> StoreResult<Option<Org>> {
        let sql = format!("SELECT {ORG_COLS} FROM organizations WHERE key = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(key).fetch_optional(p).await)?)
    }

    /// One organisation by id.
    pub async fn org(&self, id: i64) -> StoreResult<Option<Org>> {
        let sql = format!("SELECT {ORG_COLS} FROM organizations WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// All roles with their permissions.
    pub async fn roles(&self) -> StoreResult<Vec<Role>> {
        let rows: Vec<(String, String, String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT key, name_zh, name_en, scope FROM roles ORDER BY key").fetch_all(p).await)?;
        let perms: Vec<(String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT role_key, permission FROM role_permissions ORDER BY role_key, permission").fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|(key, name_zh, name_en, scope)| {
                let permissions = perms
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, p)| p.clone())
                    .collect();
                Role {
                    key,
                    name_zh,
                    name_en,
                    scope,
                    permissions,
                }
            })
            .collect())
    }

    /// One user by id.
    pub async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// One user by login name.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(username).fetch_optional(p).await)?)
    }

    /// The stored password hash of a user, if any.
    pub async fn password_hash(&self, user_id: i64) -> StoreResult<Option<String>> {
        let r: Option<(Option<String>,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT password_hash FROM users WHERE id = $1").bind(user_id).fetch_optional(p).await)?;
        Ok(r.and_then(|(h,)| h))
    }

    /// Users with id greater than `after_id`, filtered by org region when given.
    pub async fn users_page(
        &self,
        after_id: i64,
        limit: i64,
        region_id: Option<i64>,
        q: Option<&str>,
    ) -> StoreResult<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE id > $1
               AND ($2 = FALSE OR org_id IN (SELECT id FROM organizations WHERE region_id = $3))
               AND ($4 = '' OR username LIKE $5 OR display_name LIKE $5)
             ORDER BY id LIMIT $6"
        );
        let q = q.unwrap_or("").to_string();
        let like = format!("%{}%", q.replace(['%', '_'], ""));
        Ok(on_pool!(self, p => sqlx::query_as(&sql)
            .bind(after_id).bind(region_id.is_some()).bind(region_id.unwrap_or(0))
            .bind(&q).bind(&like).bind(limit)
            .fetch_all(p).await)?)
    }

    /// Role keys of a user.
    pub async fn user_roles(&self, user_id: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT role_key FROM user_roles WHERE user_id = $1 ORDER BY role_key").bind(user_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    /// The union of permissions and the widest scope granted by a user's roles.
    pub async fn user_grants(&self, user_id: i64) -> StoreResult<(Vec<String>, Vec<String>)> {
        let perms: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT DISTINCT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_key = ur.role_key
             WHERE ur.user_id = $1 ORDER BY rp.permission").bind(user_id).fetch_all(p).await)?;
        let scopes: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT DISTINCT r.scope FROM user_roles ur JOIN roles r ON r.key = ur.role_key WHERE ur.user_id = $1")
            .bind(user_id).fetch_all(p).await)?;
        Ok((
            perms.into_iter().map(|(p,)| p).collect(),
            scopes.into_iter().map(|(s,)| s).collect(),
        ))
    }

    /// Number of users (used to decide whether demo data is present).
    pub async fn user_count(&self) -> StoreResult<i64> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await)?,
        )
    }
}

/// A monitored business-support system.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct System {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub owner_org_id: Option<i64>,
    pub vendor_org_id: Option<i64>,
    pub created_at: i64,
}

/// Inserts a monitored system.
pub async fn insert_system(
    conn: &mut Conn<'_>,
    key: &str,
    name: &str,
    owner_org_id: Option<i64>,
    vendor_org_id: Option<i64>,
    now: i64,
) -> StoreResult<System> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "INSERT INTO systems (key, name, owner_org_id, vendor_org_id, created_at) VALUES ($1,$2,$3,$4,$5)
         RETURNING id, key, name, owner_org_id, vendor_org_id, created_at")
        .bind(key).bind(name).bind(owner_org_id).bind(vendor_org_id).bind(now)
        .fetch_one(&mut **c).await)?)
}

impl Store {
    /// All monitored systems.
    pub async fn systems(&self) -> StoreResult<Vec<System>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, key, name, owner_org_id, vendor_org_id, created_at FROM systems ORDER BY id").fetch_all(p).await)?)
    }
}

/// Sets a user's preferred console language.
pub async fn set_locale(conn: &mut Conn<'_>, id: i64, locale: &str, now: i64) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("UPDATE users SET locale = $1, updated_at = $2 WHERE id = $3")
        .bind(locale).bind(now).bind(id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

impl Store {
    /// Role keys of every user with an id in `[first, last]`, as `(user_id, role_key)` pairs.
    ///
    /// One query for a whole page of users instead of one per user.
    pub async fn user_roles_in_range(
        &self,
        first: i64,
        last: i64,
    ) -> StoreResult<Vec<(i64, String)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT user_id, role_key FROM user_roles WHERE user_id >= $1 AND user_id <= $2 ORDER BY user_id, role_key")
            .bind(first).bind(last).fetch_all(p).await)?)
    }
}
