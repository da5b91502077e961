//! A short-lived cache of API-token principals, so a busy integration client does not cost six reads per
//! request. An entry lives at most [`TTL_US`]; in this process it is dropped at once when a token is revoked, a
//! user or role changes, or the policy version changes. Changes made by another instance or the CLI take
//! effect within the TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::authz::Principal;

/// How long a cached principal is trusted.
pub const TTL_US: i64 = 2_000_000;
/// More entries than this and the cache starts afresh (tokens are few; this bounds memory).
const MAX_ENTRIES: usize = 4096;

struct Entry {
    principal: Principal,
    expires_at: Option<i64>,
    cached_at: i64,
    generation: u64,
    policy_id: i64,
}

/// Token-hash → principal.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, Entry>>,
    generation: AtomicU64,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache").finish_non_exhaustive()
    }
}

impl AuthCache {
    /// The cached principal of a token hash if it is still valid at `now` under policy `policy_id`.
    pub fn get(&self, token_hash: &str, now: i64, policy_id: i64) -> Option<Principal> {
        let gen = self.generation.load(Ordering::Acquire);
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = map.get(token_hash)?;
        let fresh = now >= e.cached_at
            && now - e.cached_at < TTL_US
            && e.generation == gen
            && e.policy_id == policy_id
            && e.expires_at.is_none_or(|x| x > now);
        fresh.then(|| e.principal.clone())
    }

    /// Remembers a principal read at `now`; `generation` is the value read before the database was.
    pub fn put(
        &self,
        token_hash: String,
        principal: Principal,
        expires_at: Option<i64>,
        now: i64,
        generation: u64,
        policy_id: i64,
    ) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            token_hash,
            Entry {
                principal,
                expires_at,
                cached_at: now,
                generation,
                policy_id,
            },
        );
    }

    /// The current generation; read it before loading from the database and pass it to [`AuthCache::put`], so a
    /// change that lands in between is never cached as current.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets every entry: called after any change to tokens, users or roles.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{AuthVia, Scope};

    fn who() -> Principal {
        Principal {
            user_id: 7,
            username: "preproc".into(),
            org_id: 1,
            locale: "zh-CN".into(),
            permissions: Default::default(),
            roles: vec![],
            scope: Scope::Province,
            via: AuthVia::Token { id: 3 },
        }
    }

    #[test]
    fn hit_within_ttl_miss_after_ttl_expiry_policy_change_or_invalidation() {
        let c = AuthCache::default();
        let g = c.generation();
        c.put("h".into(), who(), Some(10_000_000), 1_000, g, 5);
        assert!(c.get("h", 1_000 + TTL_US - 1, 5).is_some());
        assert!(c.get("h", 1_000 + TTL_US, 5).is_none(), "TTL");
        assert!(c.get("h", 2_000, 6).is_none(), "policy version changed");
        assert!(c.get("h", 500, 5).is_none(), "clock went backwards");
        c.put("x".into(), who(), Some(3_000), 1_000, g, 5);
        assert!(c.get("x", 3_000, 5).is_none(), "token expired");
        c.invalidate();
        assert!(c.get("h", 2_000, 5).is_none(), "invalidated");
    }

    #[test]
    fn an_entry_read_before_an_invalidation_is_never_served() {
        let c = AuthCache::default();
        let g = c.generation();
        // A revoke lands between reading the token and caching it.
        c.invalidate();
        c.put("h".into(), who(), None, 1_000, g, 5);
        assert!(c.get("h", 1_001, 5).is_none());
    }
}
