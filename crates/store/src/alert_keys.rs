//! The SQLite writer's directory of alert dedup keys: key → alert id, in memory (migration 0030).
//!
//! On SQLite the `dedup_key` column has no index: each new alert's key landed on a random leaf of one, which
//! cost two B-tree descents and one more WAL page per alert, and intake slowed as the table grew
//! (bench/RESULTS.md, session 20). The writer connection finds alerts by key here instead and reads the row by id.
//!
//! Why it stays right:
//! - **Rows committed by anyone** (this process's earlier transactions, or another process on the same file,
//!   such as a CLI command): the first use in each write transaction reads the rows with an id above the highest
//!   one learned so far. The writer holds the write lock for the whole transaction, so nothing else commits
//!   meanwhile; ids come from AUTOINCREMENT, so a row committed later always has a higher id than any seen.
//! - **Rows this transaction inserted**: [`AlertKeys::record`] notes them at once. If their savepoint or
//!   transaction is rolled back the entry is stale; every hit is checked against the row's own key, so a stale
//!   entry reads as "no such alert". The high-water mark only ever comes from committed rows, so an id handed out
//!   again after a rollback is still learned.
//! - **Hash collisions** (two keys with the same 64-bit hash, or a stale entry in the way): the later key goes to
//!   a small exact map that is looked at first.

use std::collections::HashMap;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::raw::RawSqlite;
use crate::StoreResult;

/// The directory; lives with the writer's raw handle.
#[derive(Default)]
pub(crate) struct AlertKeys {
    /// Key hash → id of the alert that took the slot first.
    by_hash: FxHashMap<u64, i64>,
    /// Keys whose hash slot holds another id.
    collided: HashMap<Box<str>, i64>,
    /// Every committed alert with an id up to this one is in the directory.
    known_max: i64,
    /// The write transaction whose start the directory was brought up to date for (0: never).
    synced_txn: u64,
}

fn hash(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl AlertKeys {
    /// Learns the rows committed since the last transaction that used the directory; `txn` identifies the
    /// writer's current transaction. Must run before this transaction inserts an alert (see the module notes).
    pub(crate) fn catch_up(&mut self, raw: &mut RawSqlite, txn: u64) -> StoreResult<()> {
        if self.synced_txn == txn {
            return Ok(());
        }
        let mut max = self.known_max;
        raw.query(
            "SELECT id, dedup_key FROM alerts WHERE id > $1 ORDER BY id",
            &[self.known_max.into()],
            |r| {
                let id = r.int(0);
                self.learn(r.text_bytes(1), id);
                max = max.max(id);
            },
        )?;
        self.known_max = max;
        self.synced_txn = txn;
        Ok(())
    }

    fn learn(&mut self, key: &[u8], id: i64) {
        match self.by_hash.entry(hash(key)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(o) if *o.get() == id => {}
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided
                    .insert(String::from_utf8_lossy(key).into(), id);
            }
        }
    }

    /// The id the directory holds for `key`, which the caller must check against the row's own key.
    pub(crate) fn candidate(&self, key: &str) -> Option<i64> {
        if !self.collided.is_empty() {
            if let Some(id) = self.collided.get(key) {
                return Some(*id);
            }
        }
        self.by_hash.get(&hash(key.as_bytes())).copied()
    }

    /// Notes an alert this transaction has just inserted.
    pub(crate) fn record(&mut self, key: &str, id: i64) {
        self.learn(key.as_bytes(), id);
    }

    /// Keys held (for tests and the memory figures).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_key_in_an_occupied_slot_is_found_exactly() {
        let mut k = AlertKeys::default();
        k.record("am:a", 1);
        // A stale or colliding holder of the slot: force "am:b" into the same slot.
        k.by_hash.insert(hash(b"am:b"), 7);
        k.record("am:b", 2);
        assert_eq!(k.candidate("am:a"), Some(1));
        assert_eq!(k.candidate("am:b"), Some(2));
        assert_eq!(k.candidate("am:c"), None);
        // Learning the same row again changes nothing.
        k.record("am:a", 1);
        assert_eq!(k.len(), 3);
    }

    /// Migration 0030 rebuilds `alerts` on a database that has alerts and history: rows, ids and references stay,
    /// foreign keys hold, and ids now come from AUTOINCREMENT.
    #[tokio::test]
    async fn migration_0030_keeps_the_alerts_and_their_history() {
        use sqlx::sqlite::SqliteConnectOptions;
        use sqlx::{ConnectOptions, Connection};
        use std::str::FromStr;
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::StoreConfig::sqlite_in(dir.path());
        let opts = SqliteConnectOptions::from_str(&cfg.url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let mut c = opts.connect().await.unwrap();
        let before = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(
                crate::SQLITE_MIGRATIONS
                    .migrations
                    .iter()
                    .filter(|m| m.version < 30)
                    .cloned()
                    .collect(),
            ),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        before.run(&mut c).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO alerts (dedup_key, source, state, labels, annotations, group_key, starts_at, first_seen, last_seen, updated_at, notified_at)
                 VALUES ('am:1', 'alertmanager', 'firing', '{}', '{}', 'g', 1, 1, 1, 1, NULL),
                        ('am:2', 'alertmanager', 'resolved', '{}', '{}', 'g', 1, 1, 1, 1, 5);
             INSERT INTO alert_events (alert_id, at, kind, actor, data) VALUES (2, 1, 'fired', 'x', '{}');",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        let store = crate::Store::open(&cfg).await.unwrap();
        let a = store.alert_by_key("am:2").await.unwrap().unwrap();
        assert_eq!(
            (a.id, a.state.as_str(), a.notified_at),
            (2, "resolved", Some(5))
        );
        assert_eq!(store.alert_events(2).await.unwrap().len(), 1);
        store.close().await;
        let mut c = opts.connect().await.unwrap();
        let unique: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_index_list('alerts') WHERE \"unique\" = 1",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(unique, 0);
        let fk = sqlx::raw_sql(
            "INSERT INTO alert_events (alert_id, at, kind, actor, data) VALUES (99, 1, 'fired', 'x', '{}')",
        )
        .execute(&mut c)
        .await;
        assert!(fk.is_err(), "the reference to alerts still holds");
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'alerts'")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(seq, 2);
    }
}
