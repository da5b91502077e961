//! Per-instance request rate limits (the pack's `rate_limit.requests_per_minute`).
//!
//! Counting in memory keeps a durable write off every authenticated request; the price is that each instance
//! counts on its own, so N instances admit up to N × the limit per key. Login throttling and lockout, which
//! must hold across instances and restarts, stay in the database (`security::throttle`).

use std::collections::HashMap;
use std::sync::Mutex;

/// Fixed one-window counters per key (token or client address).
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, i64)>>,
}

/// Beyond this many keys, windows that have ended are dropped on the next hit.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    /// Counts one request of `key` at `now` in windows of `window_us`; returns the count in the current window.
    pub fn hit(&self, key: &str, now: i64, window_us: i64) -> i64 {
        let start = now - now.rem_euclid(window_us.max(1));
        // A poisoned lock only means another request panicked mid-count; the counts are still usable.
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() > PRUNE_ABOVE {
            w.retain(|_, (s, _)| *s >= start);
        }
        let e = w.entry(key.to_string()).or_insert((start, 0));
        if e.0 != start {
            *e = (start, 0);
        }
        e.1 += 1;
        e.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_restarts_with_each_window() {
        let l = RateLimiter::default();
        let min = 60_000_000;
        assert_eq!(l.hit("a", 1, min), 1);
        assert_eq!(l.hit("a", 2, min), 2);
        assert_eq!(l.hit("b", 3, min), 1);
        assert_eq!(l.hit("a", min + 1, min), 1);
    }

    #[test]
    fn ended_windows_are_pruned_when_the_map_grows() {
        let l = RateLimiter::default();
        let min = 60_000_000;
        for i in 0..=PRUNE_ABOVE {
            l.hit(&format!("k{i}"), 0, min);
        }
        l.hit("late", min, min);
        assert_eq!(l.windows.lock().unwrap().len(), 1);
    }
}
