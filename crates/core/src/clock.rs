//! Injectable time source, so SLA and escalation code never calls `Utc::now()` directly.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// A source of the current instant, truncated to whole microseconds (both databases store microseconds).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// Drops sub-microsecond precision so a value read back from the database equals the value written.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }
}

/// A clock that only moves when told to; lock-free so tests can share it across threads.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `start` (truncated to microseconds).
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    /// Moves the clock to `t` (truncated to microseconds); it may go backwards.
    pub fn set(&self, t: DateTime<Utc>) {
        self.micros.store(t.timestamp_micros(), Ordering::SeqCst);
    }

    /// Moves the clock forward (or backward, for a negative `d`) by `d`, saturating at the representable range.
    pub fn advance(&self, d: Duration) {
        let step = d.num_microseconds().unwrap_or(if d < Duration::zero() {
            i64::MIN
        } else {
            i64::MAX
        });
        // fetch_update never fails here because the closure always returns Some.
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(step))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let m = self.micros.load(Ordering::SeqCst);
        // An out-of-range value can only come from a saturating advance; pin it to the epoch rather than panic.
        DateTime::from_timestamp_micros(m).unwrap_or(DateTime::UNIX_EPOCH)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_truncates_to_microseconds_and_moves_only_when_told() {
        let t =
            Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap() + Duration::nanoseconds(1_234_567);
        let c = ManualClock::new(t);
        assert_eq!(c.now().timestamp_subsec_nanos(), 1_234_000);
        assert_eq!(c.now(), c.now());
        c.advance(Duration::minutes(10));
        assert_eq!(c.now() - truncate_to_micros(t), Duration::minutes(10));
        c.set(t);
        assert_eq!(c.now(), truncate_to_micros(t));
    }

    #[test]
    fn system_clock_has_no_sub_microsecond_part() {
        assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn shared_clock_through_arc() {
        let c = Arc::new(ManualClock::new(DateTime::UNIX_EPOCH));
        let shared: Arc<dyn Clock> = c.clone();
        c.advance(Duration::seconds(5));
        assert_eq!(shared.now().timestamp(), 5);
    }
}
