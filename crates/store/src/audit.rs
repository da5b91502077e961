//! The tamper-evident audit trail.
//!
//! Each entry is appended in the same transaction as the change it records and carries
//! `hash = sha256(prev_hash || canonical_json(entry))`. The chain head (`audit_head`, one row) is
//! locked while appending (`FOR UPDATE` on PostgreSQL; the single writer on SQLite), so several
//! instances still build one chain. Timestamps are UTC microseconds and before/after are stored
//! as canonical JSON text (sorted keys, no spaces), so both backends verify byte for byte.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{on_conn, on_pool, time, Conn, Store, StoreResult};

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the store adds sequence, chain and hash.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// `user:<username>`, `token:<id>`, `system` …
    pub actor: String,
    /// Dotted verb, e.g. `user.create`, `session.login_failed`, `sensitive.read`.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    /// Unix microseconds UTC.
    pub at: i64,
}

/// One stored entry.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// Appends an entry inside the caller's transaction; returns its sequence number.
pub async fn append(conn: &mut Conn<'_>, e: NewAuditEntry) -> StoreResult<i64> {
    // The events queued so far are written before the head is locked: on PostgreSQL every statement after the
    // `FOR UPDATE` until COMMIT keeps all other writers waiting, so the audit entry comes as late as it can.
    conn.flush().await?;
    if let Some(r) = conn.sqlite_raw().await? {
        // The SQLite writer: the same three statements in place (the single writer serialises the head).
        let head = r.query_opt(
            "SELECT seq, hash FROM audit_head WHERE id = 1",
            &[],
            |row| (row.int(0), row.text(1)),
        )?;
        let (head_seq, prev) =
            head.ok_or_else(|| crate::StoreError::NotFound("audit_head".into()))?;
        let (seq, entry, hash) = chained(head_seq, prev, e);
        r.exec(
            "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, before, after, request_id, prev_hash, hash)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            &[
                seq.into(),
                entry.at.into(),
                (&entry.actor).into(),
                (&entry.action).into(),
                (&entry.object_type).into(),
                (&entry.object_id).into(),
                (&entry.before).into(),
                (&entry.after).into(),
                (&entry.request_id).into(),
                (&entry.prev_hash).into(),
                (&hash).into(),
            ],
        )?;
        r.exec(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[seq.into(), (&hash).into()],
        )?;
        return Ok(seq);
    }
    let lock_sql = if conn.is_postgres() {
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    };
    let (head_seq, prev): (i64, String) =
        on_conn!(conn, c => sqlx::query_as(lock_sql).fetch_one(&mut **c).await)?;
    let seq = head_seq + 1;
    let before = e.before.as_ref().map(canonical_json);
    let after = e.after.as_ref().map(canonical_json);
    let entry = AuditEntry {
        seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        object_type: e.object_type,
        object_id: e.object_id,
        before,
        after,
        request_id: e.request_id,
        prev_hash: prev.clone(),
        hash: String::new(),
    };
    let hash = entry_hash(&prev, &entry);
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, before, after, request_id, prev_hash, hash)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
        .bind(seq).bind(entry.at).bind(&entry.actor).bind(&entry.action)
        .bind(&entry.object_type).bind(&entry.object_id).bind(&entry.before).bind(&entry.after)
        .bind(&entry.request_id).bind(&prev).bind(&hash)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    on_conn!(conn, c => sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq).bind(&hash).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(seq)
}

/// The entry that follows the head `(head_seq, prev)`, with its hash.
fn chained(head_seq: i64, prev: String, e: NewAuditEntry) -> (i64, AuditEntry, String) {
    let seq = head_seq + 1;
    let entry = AuditEntry {
        seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        object_type: e.object_type,
        object_id: e.object_id,
        before: e.before.as_ref().map(canonical_json),
        after: e.after.as_ref().map(canonical_json),
        request_id: e.request_id,
        prev_hash: prev.clone(),
        hash: String::new(),
    };
    let hash = entry_hash(&prev, &entry);
    (seq, entry, hash)
}

/// The hash of an entry given the previous hash.
pub fn entry_hash(prev: &str, e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical_entry(e).as_bytes());
    hex::encode(h.finalize())
}

fn canonical_entry(e: &AuditEntry) -> String {
    // Keys in sorted order; before/after are already canonical JSON text and go in raw.
    let s = |v: &str| Value::String(v.to_string()).to_string();
    let raw = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".into());
    let opt = |v: &Option<String>| v.as_deref().map(s).unwrap_or_else(|| "null".into());
    format!(
        "{{\"action\":{},\"actor\":{},\"after\":{},\"at\":{},\"before\":{},\"object_id\":{},\"object_type\":{},\"prev_hash\":{},\"request_id\":{},\"seq\":{}}}",
        s(&e.action),
        s(&e.actor),
        raw(&e.after),
        s(&time::canonical(e.at)),
        raw(&e.before),
        s(&e.object_id),
        s(&e.object_type),
        s(&e.prev_hash),
        opt(&e.request_id),
        e.seq
    )
}

/// JSON with object keys sorted recursively and no insignificant whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write_canonical(v, &mut out);
    // Only serde_json's own output of strings and numbers went in, which is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

// Keys and scalars are written by serde_json straight into the buffer (no `Value` or `String` per key): this runs
// for every alert's labels and annotations and every audit record.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                if let Some(val) = m.get(*k) {
                    write_canonical(val, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifyReport {
    pub entries: i64,
    pub head_seq: i64,
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One defect in the chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifyProblem {
    pub seq: i64,
    pub kind: &'static str,
    pub detail: String,
}

const SELECT_COLS: &str =
    "seq, at, actor, action, object_type, object_id, before, after, request_id, prev_hash, hash";

impl Store {
    /// Appends one entry in its own transaction (for events with no other change, e.g. a login).
    pub async fn audit(&self, e: NewAuditEntry) -> StoreResult<i64> {
        self.write(move |c| Box::pin(async move { append(c, e).await }))
            .await
    }

    /// Entries after `after_seq` in order, at most `limit`, optionally for one object.
    pub async fn audit_page(
        &self,
        after_seq: i64,
        limit: i64,
        object: Option<(&str, &str)>,
    ) -> StoreResult<Vec<AuditEntry>> {
        let (ot, oid) = object.unwrap_or(("", ""));
        let filtered = object.is_some();
        let sql = format!(
            "SELECT {SELECT_COLS} FROM audit_log WHERE seq > $1 AND ($2 = FALSE OR (object_type = $3 AND object_id = $4)) ORDER BY seq LIMIT $5"
        );
        on_pool!(self, p => {
            Ok(sqlx::query_as(&sql).bind(after_seq).bind(filtered).bind(ot).bind(oid).bind(limit)
                .fetch_all(p).await?)
        })
    }

    /// Entries before `before_seq` (or the newest), newest first.
    pub async fn audit_recent(
        &self,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let sql = format!(
            "SELECT {SELECT_COLS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
        );
        let before = before_seq.unwrap_or(i64::MAX);
        on_pool!(self, p => Ok(sqlx::query_as(&sql).bind(before).bind(limit).fetch_all(p).await?))
    }

    /// Walks the whole chain and reports every edited, inserted or deleted entry.
    pub async fn audit_verify(&self) -> StoreResult<VerifyReport> {
        let (head_seq, head_hash): (i64, String) = on_pool!(self, p => sqlx::query_as(
            "SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(p).await)?;
        let mut problems = Vec::new();
        let mut prev_hash = GENESIS.to_string();
        let mut expect_seq = 1i64;
        let mut count = 0i64;
        let mut cursor = 0i64;
        loop {
            let page = self.audit_page(cursor, 1000, None).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                count += 1;
                if e.seq != expect_seq {
                    problems.push(VerifyProblem {
                        seq: expect_seq,
                        kind: "missing",
                        detail: format!("entries {}..{} are missing", expect_seq, e.seq - 1),
                    });
                }
                if e.prev_hash != prev_hash {
                    problems.push(VerifyProblem {
                        seq: e.seq,
                        kind: "broken_link",
                        detail: "prev_hash does not match the hash of the entry before it".into(),
                    });
                }
                let computed = entry_hash(&e.prev_hash, e);
                if computed != e.hash {
                    problems.push(VerifyProblem {
                        seq: e.seq,
                        kind: "altered",
                        detail: "content does not match its hash".into(),
                    });
                }
                prev_hash = e.hash.clone();
                expect_seq = e.seq + 1;
                cursor = e.seq;
            }
        }
        if expect_seq - 1 != head_seq || prev_hash != head_hash {
            problems.push(VerifyProblem {
                seq: head_seq,
                kind: "head_mismatch",
                detail: format!(
                    "the chain ends at {} but the head records {}",
                    expect_seq - 1,
                    head_seq
                ),
            });
        }
        Ok(VerifyReport {
            entries: count,
            head_seq,
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_json;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively_and_escapes_like_serde_json() {
        // Stored hashes depend on this text byte for byte: keys sorted at every depth, no whitespace, strings
        // escaped exactly as serde_json writes them (non-ASCII kept, quotes and control characters escaped).
        let v = json!({
            "zeta": [3, 1.5, null, true, {"b": "\"引号\"", "a": "tab\there"}],
            "alpha": {"y": -7, "x": "广州\n"},
            "Mid": "",
        });
        assert_eq!(
            canonical_json(&v),
            r#"{"Mid":"","alpha":{"x":"广州\n","y":-7},"zeta":[3,1.5,null,true,{"a":"tab\there","b":"\"引号\""}]}"#
        );
        assert_eq!(canonical_json(&json!("plain")), r#""plain""#);
        assert_eq!(canonical_json(&json!({})), "{}");
        assert_eq!(canonical_json(&json!([])), "[]");
    }
}
