//! Organisations and systems by key, kept in memory once read. Both tables are insert-only (no statement
//! updates or deletes a row), so a row read once stays true for the life of the process, in every instance:
//! only hits are remembered, and a key not found is always looked up again (it may have been added since).
//! The incident create path looked both up on every request, two reader round trips per ticket.

use std::collections::HashMap;
use std::sync::RwLock;

use tianshu_store::identity::{Org, System};
use tianshu_store::{Store, StoreResult};

/// More entries than this and a map starts afresh (both tables are small; this bounds memory).
const MAX_ENTRIES: usize = 50_000;

/// Key → row, for organisations and systems.
#[derive(Debug, Default)]
pub struct Directory {
    orgs: RwLock<HashMap<String, Org>>,
    systems: RwLock<HashMap<String, System>>,
}

fn hit<T: Clone>(map: &RwLock<HashMap<String, T>>, key: &str) -> Option<T> {
    map.read()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
}

fn fill<T>(map: &RwLock<HashMap<String, T>>, rows: impl IntoIterator<Item = (String, T)>) {
    let mut m = map.write().unwrap_or_else(|e| e.into_inner());
    if m.len() > MAX_ENTRIES {
        m.clear();
    }
    m.extend(rows);
}

impl Directory {
    /// The organisation with `key`, if it exists.
    pub async fn org_by_key(&self, store: &Store, key: &str) -> StoreResult<Option<Org>> {
        if let Some(o) = hit(&self.orgs, key) {
            return Ok(Some(o));
        }
        let found = store.org_by_key(key).await?;
        if let Some(o) = &found {
            fill(&self.orgs, [(o.key.clone(), o.clone())]);
        }
        Ok(found)
    }

    /// The system with `key`, if it exists. A miss reads the whole (short) list once, so the next keys hit.
    pub async fn system_by_key(&self, store: &Store, key: &str) -> StoreResult<Option<System>> {
        if let Some(s) = hit(&self.systems, key) {
            return Ok(Some(s));
        }
        let all = store.systems().await?;
        let found = all.iter().find(|s| s.key == key).cloned();
        fill(&self.systems, all.into_iter().map(|s| (s.key.clone(), s)));
        Ok(found)
    }
}
