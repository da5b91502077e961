//! Notifications: template overrides, contacts, recipient lists, message review columns of the outbox, and the
//! per-recipient delivery log the worker sends from.
//!
//! Delivering is leased like timers: a worker claims due rows (`lease_owner`, `lease_until`; `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL) and records the outcome with a conditional update on its own lease, so two instances
//! never send the same delivery while both are alive, and a crashed instance's rows are taken over once its
//! lease expires (the receiver can drop that one re-send by the delivery key).

use serde::Serialize;
use serde_json::Value;

use crate::raw::Val;
use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// An operator's override of a pack template.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct TemplateOverride {
    pub id: String,
    pub subject_zh: String,
    pub subject_en: String,
    pub zh: String,
    pub en: String,
    pub version: i64,
    pub updated_by: String,
    pub updated_at: i64,
}

/// A person outside the user directory.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub locale: String,
    pub created_at: i64,
}

/// A recipient list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct RecipientList {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person a message can reach, from the users or the contacts table.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Person {
    /// `user:<id>` or `contact:<id>`: the identity recipients are de-duplicated by.
    pub member: String,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub locale: String,
}

/// An outbox message with the notification columns.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Message {
    pub id: i64,
    pub idempotency_key: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub template: String,
    pub recipients: String,
    pub context: String,
    pub cause: String,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub locale: String,
    pub channels: Option<String>,
    pub drafted_by: Option<String>,
    pub review_outcome: Option<String>,
    pub review_note: Option<String>,
    pub sent_at: Option<i64>,
    pub version: i64,
}

/// One delivery: a message to one recipient on one channel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub outbox_id: i64,
    pub delivery_key: String,
    pub recipient: String,
    pub recipient_name: String,
    pub channel: String,
    pub address: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub digest_key: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Input of [`insert_delivery`].
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub outbox_id: i64,
    pub delivery_key: String,
    pub recipient: String,
    pub recipient_name: String,
    pub channel: String,
    pub address: String,
    /// `pending`, or `skipped` when the recipient has no address on the channel.
    pub state: String,
    pub last_error: Option<String>,
    pub subject: String,
    pub body: String,
    pub now: i64,
}

const MSG_COLS: &str = "id, idempotency_key, subject_kind, subject_id, template, recipients, context, cause, state, created_at, updated_at, attempts, next_attempt_at, last_error, reviewed_by, reviewed_at, locale, channels, drafted_by, review_outcome, review_note, sent_at, version";
/// A [`Message`] from a raw row of [`MSG_COLS`] (the SQLite writer's in-place statements, see `raw`).
fn message_row(r: &crate::raw::Row<'_>) -> Message {
    Message {
        id: r.int(0),
        idempotency_key: r.text(1),
        subject_kind: r.text(2),
        subject_id: r.text(3),
        template: r.text(4),
        recipients: r.text(5),
        context: r.text(6),
        cause: r.text(7),
        state: r.text(8),
        created_at: r.int(9),
        updated_at: r.int(10),
        attempts: r.int(11),
        next_attempt_at: r.opt_int(12),
        last_error: r.opt_text(13),
        reviewed_by: r.opt_text(14),
        reviewed_at: r.opt_int(15),
        locale: r.text(16),
        channels: r.opt_text(17),
        drafted_by: r.opt_text(18),
        review_outcome: r.opt_text(19),
        review_note: r.opt_text(20),
        sent_at: r.opt_int(21),
        version: r.int(22),
    }
}

const DLV_COLS: &str = "id, outbox_id, delivery_key, recipient, recipient_name, channel, address, state, attempts, next_attempt_at, last_error, sent_at, digest_key, subject, body, created_at, updated_at";
fn delivery_row(r: &crate::raw::Row<'_>) -> Delivery {
    Delivery {
        id: r.int(0),
        outbox_id: r.int(1),
        delivery_key: r.text(2),
        recipient: r.text(3),
        recipient_name: r.text(4),
        channel: r.text(5),
        address: r.text(6),
        state: r.text(7),
        attempts: r.int(8),
        next_attempt_at: r.int(9),
        last_error: r.opt_text(10),
        sent_at: r.opt_int(11),
        digest_key: r.opt_text(12),
        subject: r.text(13),
        body: r.text(14),
        created_at: r.int(15),
        updated_at: r.int(16),
    }
}

const TPL_COLS: &str = "id, subject_zh, subject_en, zh, en, version, updated_by, updated_at";

// ---- templates ----

/// The override of template `id`, inside a transaction.
pub async fn template_override_in_tx(
    conn: &mut Conn<'_>,
    id: &str,
) -> StoreResult<Option<TemplateOverride>> {
    let sql = format!("SELECT {TPL_COLS} FROM notify_templates WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Saves an override; `expected_version` 0 creates it, otherwise it must match the stored version.
pub async fn save_template_override(
    conn: &mut Conn<'_>,
    t: &TemplateOverride,
    expected_version: i64,
) -> StoreResult<TemplateOverride> {
    let sql = if expected_version == 0 {
        format!(
            "INSERT INTO notify_templates ({TPL_COLS}) VALUES ($1,$2,$3,$4,$5,1,$6,$7) ON CONFLICT (id) DO NOTHING RETURNING {TPL_COLS}"
        )
    } else {
        format!(
            "UPDATE notify_templates SET subject_zh = $2, subject_en = $3, zh = $4, en = $5, version = version + 1, updated_by = $6, updated_at = $7
             WHERE id = $1 AND version = $8 RETURNING {TPL_COLS}"
        )
    };
    let row: Option<TemplateOverride> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&t.id).bind(&t.subject_zh).bind(&t.subject_en).bind(&t.zh).bind(&t.en).bind(&t.updated_by).bind(t.updated_at)
        .bind(expected_version).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("template {}", t.id)))
}

/// Removes an override (the pack's text applies again); true when one existed.
pub async fn delete_template_override(conn: &mut Conn<'_>, id: &str) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query("DELETE FROM notify_templates WHERE id = $1").bind(id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

// ---- contacts and lists ----

/// Adds an external contact.
pub async fn insert_contact(
    conn: &mut Conn<'_>,
    name: &str,
    mobile: Option<&str>,
    email: Option<&str>,
    locale: &str,
    now: i64,
) -> StoreResult<Contact> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "INSERT INTO notify_contacts (name, mobile, email, locale, created_at) VALUES ($1,$2,$3,$4,$5)
         RETURNING id, name, mobile, email, locale, created_at")
        .bind(name).bind(mobile).bind(email).bind(locale).bind(now).fetch_one(&mut **c).await)?)
}

/// Creates an empty list; a duplicate key is a conflict on `key`.
pub async fn insert_list(
    conn: &mut Conn<'_>,
    key: &str,
    name: &str,
    now: i64,
) -> StoreResult<RecipientList> {
    let row: Option<RecipientList> = on_conn!(conn, c => sqlx::query_as(
        "INSERT INTO notify_lists (key, name, version, created_at, updated_at) VALUES ($1,$2,1,$3,$3)
         ON CONFLICT (key) DO NOTHING RETURNING id, key, name, version, created_at, updated_at")
        .bind(key).bind(name).bind(now).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Conflict {
        field: "key".into(),
        message: format!("a list with key '{key}' already exists"),
    })
}

/// A list by key, inside a transaction.
pub async fn list_in_tx(conn: &mut Conn<'_>, key: &str) -> StoreResult<Option<RecipientList>> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "SELECT id, key, name, version, created_at, updated_at FROM notify_lists WHERE key = $1")
        .bind(key).fetch_optional(&mut **c).await)?)
}

/// Replaces a list's members (`user:<id>` / `contact:<id>`) and bumps its version if it is `expected_version`.
pub async fn set_list_members(
    conn: &mut Conn<'_>,
    list: &RecipientList,
    name: &str,
    members: &[String],
    expected_version: i64,
    now: i64,
) -> StoreResult<RecipientList> {
    let updated: Option<RecipientList> = on_conn!(conn, c => sqlx::query_as(
        "UPDATE notify_lists SET name = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4
         RETURNING id, key, name, version, created_at, updated_at")
        .bind(name).bind(now).bind(list.id).bind(expected_version).fetch_optional(&mut **c).await)?;
    let updated = updated.ok_or_else(|| StoreError::Stale(format!("list {}", list.key)))?;
    on_conn!(conn, c => sqlx::query("DELETE FROM notify_list_members WHERE list_id = $1").bind(list.id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    for m in members {
        let (user_id, contact_id) = parse_member(m)?;
        on_conn!(conn, c => sqlx::query(
            "INSERT INTO notify_list_members (list_id, member, user_id, contact_id) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING")
            .bind(list.id).bind(m).bind(user_id).bind(contact_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    }
    Ok(updated)
}

fn parse_member(m: &str) -> StoreResult<(Option<i64>, Option<i64>)> {
    let bad = || StoreError::Conflict {
        field: "members".into(),
        message: format!("'{m}' is not user:<id> or contact:<id>"),
    };
    let (kind, id) = m.split_once(':').ok_or_else(bad)?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    match kind {
        "user" => Ok((Some(id), None)),
        "contact" => Ok((None, Some(id))),
        _ => Err(bad()),
    }
}

const PERSON_FROM_MEMBERS: &str = "SELECT m.member AS member, COALESCE(u.display_name, k.name) AS name,
        COALESCE(u.phone, k.mobile) AS mobile, COALESCE(u.email, k.email) AS email, COALESCE(u.locale, k.locale) AS locale
     FROM notify_list_members m JOIN notify_lists l ON l.id = m.list_id
     LEFT JOIN users u ON u.id = m.user_id LEFT JOIN notify_contacts k ON k.id = m.contact_id
     WHERE l.key = $1 AND (u.id IS NULL OR u.active) ORDER BY m.member";

impl Store {
    /// Every override, by id.
    pub async fn template_overrides(&self) -> StoreResult<Vec<TemplateOverride>> {
        let sql = format!("SELECT {TPL_COLS} FROM notify_templates ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// The override of template `id`.
    pub async fn template_override(&self, id: &str) -> StoreResult<Option<TemplateOverride>> {
        let sql = format!("SELECT {TPL_COLS} FROM notify_templates WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// A contact by id.
    pub async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, name, mobile, email, locale, created_at FROM notify_contacts WHERE id = $1").bind(id).fetch_optional(p).await)?)
    }

    /// Every contact, by id.
    pub async fn contacts(&self) -> StoreResult<Vec<Contact>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, name, mobile, email, locale, created_at FROM notify_contacts ORDER BY id").fetch_all(p).await)?)
    }

    /// Every list, by key.
    pub async fn recipient_lists(&self) -> StoreResult<Vec<RecipientList>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, key, name, version, created_at, updated_at FROM notify_lists ORDER BY key").fetch_all(p).await)?)
    }

    /// A list by key.
    pub async fn recipient_list(&self, key: &str) -> StoreResult<Option<RecipientList>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, key, name, version, created_at, updated_at FROM notify_lists WHERE key = $1").bind(key).fetch_optional(p).await)?)
    }

    /// The people on list `key` (inactive users left out).
    pub async fn list_people(&self, key: &str) -> StoreResult<Vec<Person>> {
        Ok(on_pool!(self, p => sqlx::query_as(PERSON_FROM_MEMBERS).bind(key).fetch_all(p).await)?)
    }

    /// Active users holding role `role`.
    pub async fn role_people(&self, role: &str) -> StoreResult<Vec<Person>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT 'user:' || CAST(u.id AS TEXT) AS member, u.display_name AS name, u.phone AS mobile, u.email AS email, u.locale AS locale
             FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.role_key = $1 AND u.active ORDER BY u.id")
            .bind(role).fetch_all(p).await)?)
    }

    /// The active user called `username`, as a recipient.
    pub async fn user_person(&self, username: &str) -> StoreResult<Option<Person>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT 'user:' || CAST(u.id AS TEXT) AS member, u.display_name AS name, u.phone AS mobile, u.email AS email, u.locale AS locale
             FROM users u WHERE u.username = $1 AND u.active").bind(username).fetch_optional(p).await)?)
    }

    /// Which of `members` do not exist (unknown user or contact ids).
    pub async fn unknown_members(&self, members: &[String]) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        for m in members {
            let found: Option<i64> = match parse_member(m) {
                Ok((Some(u), _)) => {
                    on_pool!(self, p => sqlx::query_scalar("SELECT id FROM users WHERE id = $1").bind(u).fetch_optional(p).await)?
                }
                Ok((_, Some(k))) => {
                    on_pool!(self, p => sqlx::query_scalar("SELECT id FROM notify_contacts WHERE id = $1").bind(k).fetch_optional(p).await)?
                }
                _ => None,
            };
            if found.is_none() {
                out.push(m.clone());
            }
        }
        Ok(out)
    }

    /// A message by id.
    pub async fn message(&self, id: i64) -> StoreResult<Option<Message>> {
        let sql = format!("SELECT {MSG_COLS} FROM outbox WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Messages newest first before `before_id`, optionally in one state and/or of one subject.
    pub async fn messages_page(
        &self,
        before_id: i64,
        limit: i64,
        state: Option<&str>,
        subject: Option<(&str, &str)>,
    ) -> StoreResult<Vec<Message>> {
        self.messages_page_scoped(before_id, limit, state, subject, None)
            .await
    }

    /// Like [`Store::messages_page`], limited to messages about incidents of one region or assigned to one
    /// organisation when `scope` is given: `(region_id, assignee_org_id)`, either may be absent.
    pub async fn messages_page_scoped(
        &self,
        before_id: i64,
        limit: i64,
        state: Option<&str>,
        subject: Option<(&str, &str)>,
        scope: Option<(Option<i64>, Option<i64>)>,
    ) -> StoreResult<Vec<Message>> {
        // The region's (or organisation's) ticket ids come from the incidents indexes; the outbox is then
        // matched on its (subject_kind, subject_id) index.
        let sql = format!(
            "SELECT {MSG_COLS} FROM outbox WHERE id < $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR (subject_kind = $3 AND subject_id = $4))
               AND ($6 = FALSE OR (subject_kind = 'incident' AND subject_id IN (
                     SELECT CAST(id AS TEXT) FROM incidents WHERE region_id = $7 OR assignee_org_id = $8)))
             ORDER BY id DESC LIMIT $5"
        );
        let (k, i) = subject.unwrap_or(("", ""));
        let (region, org) = scope.unwrap_or((None, None));
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(before_id).bind(state.unwrap_or("")).bind(k).bind(i).bind(limit)
                .bind(scope.is_some()).bind(region.unwrap_or(-1)).bind(org.unwrap_or(-1)).fetch_all(p).await)?,
        )
    }

    /// The delivery log of a message.
    pub async fn deliveries_of(&self, outbox_id: i64) -> StoreResult<Vec<Delivery>> {
        let sql =
            format!("SELECT {DLV_COLS} FROM notify_deliveries WHERE outbox_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(outbox_id).fetch_all(p).await)?)
    }

    /// Leases up to `limit` queued messages (or `sending` ones whose expanding worker died) for expansion.
    pub async fn claim_queued_messages(
        &self,
        owner: &str,
        now: i64,
        lease_us: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let owner = owner.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let lock = if c.is_postgres() {
                    " FOR UPDATE SKIP LOCKED"
                } else {
                    ""
                };
                let sql = format!(
                    "UPDATE outbox SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND (lease_until IS NULL OR lease_until < $3)
                                  ORDER BY id LIMIT $4{lock})
                     RETURNING {MSG_COLS}"
                );
                // In place on the SQLite writer: the worker claims on every pass, and through sqlx each claim was a
                // hand-off to sqlx's thread plus taking the raw handle back for the next job of the batch.
                let mut rows: Vec<Message> = if let Some(r) = c.sqlite_raw().await? {
                    r.query(
                        &sql,
                        &[owner.as_str().into(), (now + lease_us).into(), now.into(), limit.into()],
                        message_row,
                    )?
                } else {
                    on_conn!(c, c => sqlx::query_as(&sql)
                        .bind(&owner).bind(now + lease_us).bind(now).bind(limit).fetch_all(&mut **c).await)?
                };
                rows.sort_by_key(|m| m.id);
                Ok(rows)
            })
        })
        .await
    }

    /// Leases up to `limit` deliveries that are due (pending, or held for a digest whose window has freed).
    pub async fn claim_due_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_us: i64,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>> {
        let owner = owner.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let lock = if c.is_postgres() {
                    " FOR UPDATE SKIP LOCKED"
                } else {
                    ""
                };
                let sql = format!(
                    "UPDATE notify_deliveries SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM notify_deliveries WHERE state IN ('pending','held') AND next_attempt_at <= $3
                                  AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at, id LIMIT $4{lock})
                     RETURNING {DLV_COLS}"
                );
                // In place on the SQLite writer, as the message claim above.
                let mut rows: Vec<Delivery> = if let Some(r) = c.sqlite_raw().await? {
                    r.query(
                        &sql,
                        &[owner.as_str().into(), (now + lease_us).into(), now.into(), limit.into()],
                        delivery_row,
                    )?
                } else {
                    on_conn!(c, c => sqlx::query_as(&sql)
                        .bind(&owner).bind(now + lease_us).bind(now).bind(limit).fetch_all(&mut **c).await)?
                };
                rows.sort_by_key(|d| (d.next_attempt_at, d.id));
                Ok(rows)
            })
        })
        .await
    }

    /// Messages sent (alone or in a digest) to `address` on `channel` since `since`: digests count once.
    pub async fn sent_to_since(
        &self,
        channel: &str,
        address: &str,
        since: i64,
    ) -> StoreResult<(i64, Option<i64>)> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT COUNT(DISTINCT COALESCE(digest_key, delivery_key)), MIN(sent_at) FROM notify_deliveries
             WHERE channel = $1 AND address = $2 AND state IN ('sent','digested') AND sent_at > $3")
            .bind(channel).bind(address).bind(since).fetch_one(p).await)?)
    }

    /// [`Store::sent_to_since`] for many addresses in one query: `(channel, address) → (count, oldest)`;
    /// addresses with nothing sent are absent.
    pub async fn sent_to_since_many(
        &self,
        addresses: &[(String, String)],
        since: i64,
    ) -> StoreResult<std::collections::HashMap<(String, String), (i64, Option<i64>)>> {
        if addresses.is_empty() {
            return Ok(Default::default());
        }
        let list: Vec<&str> = addresses.iter().map(|(_, a)| a.as_str()).collect();
        let json = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        let set = match self.backend() {
            crate::PoolRef::Postgres(_) => "SELECT jsonb_array_elements_text($1::jsonb)",
            crate::PoolRef::Sqlite(_) => "SELECT value FROM json_each($1)",
        };
        let sql = format!(
            "SELECT channel, address, COUNT(DISTINCT COALESCE(digest_key, delivery_key)), MIN(sent_at) FROM notify_deliveries
             WHERE address IN ({set}) AND state IN ('sent','digested') AND sent_at > $2 GROUP BY channel, address"
        );
        let rows: Vec<(String, String, i64, Option<i64>)> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(&json).bind(since).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|(c, a, n, oldest)| ((c, a), (n, oldest)))
            .collect())
    }

    /// Deliveries held for a digest to `address` on `channel`.
    pub async fn held_for(&self, channel: &str, address: &str) -> StoreResult<Vec<Delivery>> {
        let sql = format!("SELECT {DLV_COLS} FROM notify_deliveries WHERE channel = $1 AND address = $2 AND state = 'held' ORDER BY id");
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(channel).bind(address).fetch_all(p).await)?,
        )
    }
}

/// A message inside a transaction, locked until it ends (PostgreSQL `FOR UPDATE`; SQLite's single writer
/// holds every row anyway): one round trip instead of a lock and a read.
pub async fn message_for_update(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<Message>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {MSG_COLS} FROM outbox WHERE id = $1{lock}");
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query_opt(&sql, &[id.into()], message_row);
    }
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// A message inside a transaction.
pub async fn message_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<Message>> {
    let sql = format!("SELECT {MSG_COLS} FROM outbox WHERE id = $1");
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query_opt(&sql, &[id.into()], message_row);
    }
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Fields a review step or an edit changes on a message.
#[derive(Debug, Clone, Default)]
pub struct MessageUpdate {
    pub state: Option<String>,
    pub context: Option<Value>,
    pub recipients: Option<Value>,
    pub channels: Option<Option<Value>>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_outcome: Option<String>,
    pub review_note: Option<String>,
    pub last_error: Option<Option<String>>,
    pub sent_at: Option<i64>,
    /// Clears the lease (expansion done or handed back).
    pub release: bool,
}

/// Applies `u` to message `id` if its version is `version` (or any version when `version` is `None`).
pub async fn update_message(
    conn: &mut Conn<'_>,
    id: i64,
    version: Option<i64>,
    u: MessageUpdate,
    now: i64,
) -> StoreResult<Message> {
    let cur = message_in_tx(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
    if version.is_some_and(|v| v != cur.version) {
        return Err(StoreError::Stale(format!("message {id}")));
    }
    let ctx = u
        .context
        .map(|v| crate::audit::canonical_json(&v))
        .unwrap_or(cur.context);
    let rcp = u
        .recipients
        .map(|v| crate::audit::canonical_json(&v))
        .unwrap_or(cur.recipients);
    let channels = match u.channels {
        Some(c) => c.map(|v| crate::audit::canonical_json(&v)),
        None => cur.channels,
    };
    let last_error = match u.last_error {
        Some(e) => e,
        None => cur.last_error,
    };
    const LEASE: &str = "SELECT lease_owner, lease_until FROM outbox WHERE id = $1";
    let (lease_owner, lease_until): (Option<String>, Option<i64>) = if u.release {
        (None, None)
    } else if let Some(r) = conn.sqlite_raw().await? {
        r.query_opt(LEASE, &[id.into()], |r| (r.opt_text(0), r.opt_int(1)))?
            .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?
    } else {
        on_conn!(conn, c => sqlx::query_as(LEASE).bind(id).fetch_one(&mut **c).await)?
    };
    let sql = format!(
        "UPDATE outbox SET state = $1, context = $2, recipients = $3, channels = $4, reviewed_by = $5, reviewed_at = $6,
         review_outcome = $7, review_note = $8, last_error = $9, sent_at = $10, lease_owner = $11, lease_until = $12,
         updated_at = $13, version = version + 1 WHERE id = $14 AND version = $15 RETURNING {MSG_COLS}"
    );
    if let Some(r) = conn.sqlite_raw().await? {
        let (state, reviewed_by, review_outcome, review_note) = (
            u.state.unwrap_or(cur.state),
            u.reviewed_by.or(cur.reviewed_by),
            u.review_outcome.or(cur.review_outcome),
            u.review_note.or(cur.review_note),
        );
        let row = r.query_opt(
            &sql,
            &[
                (&state).into(),
                (&ctx).into(),
                (&rcp).into(),
                (&channels).into(),
                (&reviewed_by).into(),
                u.reviewed_at.or(cur.reviewed_at).into(),
                (&review_outcome).into(),
                (&review_note).into(),
                (&last_error).into(),
                u.sent_at.or(cur.sent_at).into(),
                (&lease_owner).into(),
                lease_until.into(),
                now.into(),
                id.into(),
                cur.version.into(),
            ],
            message_row,
        )?;
        return row.ok_or_else(|| StoreError::Stale(format!("message {id}")));
    }
    let row: Option<Message> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(u.state.unwrap_or(cur.state)).bind(ctx).bind(rcp).bind(channels)
        .bind(u.reviewed_by.or(cur.reviewed_by)).bind(u.reviewed_at.or(cur.reviewed_at))
        .bind(u.review_outcome.or(cur.review_outcome)).bind(u.review_note.or(cur.review_note))
        .bind(last_error).bind(u.sent_at.or(cur.sent_at)).bind(lease_owner).bind(lease_until)
        .bind(now).bind(id).bind(cur.version).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("message {id}")))
}

/// Sets the notification columns of a freshly inserted outbox row.
pub async fn set_message_meta(
    conn: &mut Conn<'_>,
    id: i64,
    locale: &str,
    channels: Option<&Value>,
    drafted_by: Option<&str>,
) -> StoreResult<()> {
    let channels = channels.map(crate::audit::canonical_json);
    const SQL: &str = "UPDATE outbox SET locale = $1, channels = $2, drafted_by = $3 WHERE id = $4";
    if let Some(r) = conn.sqlite_raw().await? {
        r.exec(
            SQL,
            &[
                locale.into(),
                (&channels).into(),
                drafted_by.map_or(Val::Null, Val::Text),
                id.into(),
            ],
        )?;
        return Ok(());
    }
    on_conn!(conn, c => sqlx::query(SQL)
        .bind(locale).bind(channels).bind(drafted_by).bind(id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records one delivery unless its key exists (re-expansion after a crash adds nothing twice).
pub async fn insert_delivery(conn: &mut Conn<'_>, d: NewDelivery) -> StoreResult<bool> {
    const SQL: &str = "INSERT INTO notify_deliveries (outbox_id, delivery_key, recipient, recipient_name, channel, address, state, attempts,
           next_attempt_at, last_error, subject, body, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,0,$8,$9,$10,$11,$8,$8) ON CONFLICT (delivery_key) DO NOTHING";
    if let Some(r) = conn.sqlite_raw().await? {
        let n = r.exec(
            SQL,
            &[
                d.outbox_id.into(),
                (&d.delivery_key).into(),
                (&d.recipient).into(),
                (&d.recipient_name).into(),
                (&d.channel).into(),
                (&d.address).into(),
                (&d.state).into(),
                d.now.into(),
                (&d.last_error).into(),
                (&d.subject).into(),
                (&d.body).into(),
            ],
        )?;
        return Ok(n == 1);
    }
    let n = on_conn!(conn, c => sqlx::query(SQL)
        .bind(d.outbox_id).bind(&d.delivery_key).bind(&d.recipient).bind(&d.recipient_name).bind(&d.channel).bind(&d.address)
        .bind(&d.state).bind(d.now).bind(&d.last_error).bind(&d.subject).bind(&d.body)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Outcome of one send, recorded by [`record_delivery`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Sent (alone, or inside the digest with this key).
    Sent { digest_key: Option<String> },
    /// Failed; retry at the given time.
    Retry { at: i64, error: String },
    /// Failed for the last time (dead letter).
    Dead { error: String },
    /// Over the rate limit: held for the digest sent at the given time.
    Held { until: i64 },
}

/// state, attempts increment, next attempt, error, sent at, digest key.
type DeliveryColumns<'a> = (
    &'a str,
    i64,
    Option<i64>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
);

/// Records a delivery's outcome if `owner` still holds its lease; false when the lease was lost.
pub async fn record_delivery(
    conn: &mut Conn<'_>,
    id: i64,
    owner: &str,
    outcome: &Outcome,
    now: i64,
) -> StoreResult<bool> {
    let (state, attempts_inc, next, error, sent_at, digest): DeliveryColumns<'_> = match outcome {
        Outcome::Sent { digest_key } => (
            if digest_key.is_some() {
                "digested"
            } else {
                "sent"
            },
            1,
            None,
            None,
            Some(now),
            digest_key.as_deref(),
        ),
        Outcome::Retry { at, error } => ("pending", 1, Some(*at), Some(error), None, None),
        Outcome::Dead { error } => ("dead", 1, None, Some(error), None, None),
        Outcome::Held { until } => ("held", 0, Some(*until), None, None, None),
    };
    const SQL: &str = "UPDATE notify_deliveries SET state = $1, attempts = attempts + $2, next_attempt_at = COALESCE($3, next_attempt_at),
           last_error = COALESCE($4, last_error), sent_at = $5, digest_key = $6, lease_owner = NULL, lease_until = NULL, updated_at = $7
         WHERE id = $8 AND lease_owner = $9 AND state IN ('pending','held')";
    if let Some(r) = conn.sqlite_raw().await? {
        let n = r.exec(
            SQL,
            &[
                state.into(),
                attempts_inc.into(),
                next.into(),
                error.map_or(Val::Null, Val::Text),
                sent_at.into(),
                digest.map_or(Val::Null, Val::Text),
                now.into(),
                id.into(),
                owner.into(),
            ],
        )?;
        return Ok(n == 1);
    }
    let n = on_conn!(conn, c => sqlx::query(SQL)
        .bind(state).bind(attempts_inc).bind(next).bind(error).bind(sent_at).bind(digest).bind(now).bind(id).bind(owner)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Marks held deliveries (not leased by someone else) as sent inside digest `key`; returns how many.
pub async fn mark_digested(
    conn: &mut Conn<'_>,
    ids: &[i64],
    owner: &str,
    key: &str,
    now: i64,
) -> StoreResult<u64> {
    let mut n = 0;
    for id in ids {
        n += on_conn!(conn, c => sqlx::query(
            "UPDATE notify_deliveries SET state = 'digested', attempts = attempts + 1, sent_at = $1, digest_key = $2,
               lease_owner = NULL, lease_until = NULL, updated_at = $1
             WHERE id = $3 AND state = 'held' AND (lease_owner IS NULL OR lease_owner = $4 OR lease_until < $1)")
            .bind(now).bind(key).bind(id).bind(owner).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    }
    Ok(n)
}

/// Counts a message's deliveries by state, inside a transaction.
pub async fn delivery_states(
    conn: &mut Conn<'_>,
    outbox_id: i64,
) -> StoreResult<Vec<(String, i64)>> {
    const SQL: &str =
        "SELECT state, COUNT(*) FROM notify_deliveries WHERE outbox_id = $1 GROUP BY state ORDER BY state";
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query(SQL, &[outbox_id.into()], |r| (r.text(0), r.int(1)));
    }
    Ok(on_conn!(conn, c => sqlx::query_as(SQL)
        .bind(outbox_id).fetch_all(&mut **c).await)?)
}

/// Puts a message's dead deliveries back in the queue (operator retry of a dead letter); returns how many.
pub async fn requeue_dead(conn: &mut Conn<'_>, outbox_id: i64, now: i64) -> StoreResult<u64> {
    Ok(on_conn!(conn, c => sqlx::query(
        "UPDATE notify_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1
         WHERE outbox_id = $2 AND state = 'dead'")
        .bind(now).bind(outbox_id).execute(&mut **c).await.map(|r| r.rows_affected()))?)
}

/// The id of the outbox row with `key`.
pub async fn message_id_by_key(conn: &mut Conn<'_>, key: &str) -> StoreResult<i64> {
    Ok(
        on_conn!(conn, c => sqlx::query_scalar("SELECT id FROM outbox WHERE idempotency_key = $1").bind(key).fetch_one(&mut **c).await)?,
    )
}

/// Points a message at its subject (an ad-hoc message is its own subject, known only after insert).
pub async fn set_subject(
    conn: &mut Conn<'_>,
    id: i64,
    kind: &str,
    subject_id: &str,
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("UPDATE outbox SET subject_kind = $1, subject_id = $2 WHERE id = $3")
        .bind(kind).bind(subject_id).bind(id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// NTF-06: whether the follow-ups of a fault have ended — a message of one of `stopped_by` exists for the
/// subject (drafted, waiting or sent; not rejected, cancelled or failed), or the ticket is resolved, closed or
/// cancelled.
pub async fn follow_up_stopped(
    conn: &mut Conn<'_>,
    subject_kind: &str,
    subject_id: &str,
    stopped_by: &[String],
) -> StoreResult<bool> {
    let templates = serde_json::to_string(stopped_by).unwrap_or_else(|_| "[]".into());
    // The template list travels as one JSON text so the statement is the same on both backends.
    let sql = if conn.is_postgres() {
        "SELECT COUNT(*) FROM outbox WHERE subject_kind = $1 AND subject_id = $2
             AND template IN (SELECT jsonb_array_elements_text($3::jsonb))
             AND state NOT IN ('rejected','cancelled','failed')"
    } else {
        "SELECT COUNT(*) FROM outbox WHERE subject_kind = $1 AND subject_id = $2
             AND template IN (SELECT value FROM json_each($3))
             AND state NOT IN ('rejected','cancelled','failed')"
    };
    let by_message: i64 = on_conn!(conn, c => sqlx::query_scalar(sql)
        .bind(subject_kind).bind(subject_id).bind(&templates).fetch_one(&mut **c).await)?;
    if by_message > 0 {
        return Ok(true);
    }
    if subject_kind != "incident" {
        return Ok(false);
    }
    let Ok(id) = subject_id.parse::<i64>() else {
        return Ok(false);
    };
    let ended: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM incidents WHERE id = $1 AND (resolved_at IS NOT NULL OR closed_at IS NOT NULL OR state IN ('closed','cancelled'))")
        .bind(id).fetch_one(&mut **c).await)?;
    Ok(ended > 0)
}

/// Gives message `to` the language and channels of message `from` (a follow-up goes out like its notice).
pub async fn copy_delivery_settings(conn: &mut Conn<'_>, from: i64, to: i64) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "UPDATE outbox SET locale = (SELECT locale FROM outbox WHERE id = $1), channels = (SELECT channels FROM outbox WHERE id = $1) WHERE id = $2")
        .bind(from).bind(to).execute(&mut **c).await.map(|_| ()))?;
    Ok(())
}
