//! Where stores get the time: the system clock by default, or an injected one.
//!
//! Every timestamp a store writes comes from its [`Clock`], truncated to whole microseconds
//! (PostgreSQL's `timestamptz` precision), so every store writes the same values and tests can
//! move time with a [`ManualClock`].

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time, in UTC, truncated to microseconds.
    fn now(&self) -> OffsetDateTime;
}

/// Truncates `at` to whole microseconds (the precision of PostgreSQL timestamps).
pub fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until moved; clones share the same time.
///
/// ```
/// use flametrench_tenancy_core::{Clock, ManualClock};
/// use time::Duration;
///
/// let clock = ManualClock::starting_now();
/// let before = clock.now();
/// clock.advance(Duration::seconds(90));
/// assert_eq!(clock.now() - before, Duration::seconds(90));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock showing `at` (truncated to microseconds).
    pub fn new(at: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(truncate_to_micros(at))),
        }
    }

    /// A clock showing the current system time.
    pub fn starting_now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Moves the clock by `by` (which may be negative).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = truncate_to_micros(now.saturating_add(by));
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = truncate_to_micros(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A shared clock handle, as stores hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The default clock handle: the system clock.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_micros() {
        let at = OffsetDateTime::UNIX_EPOCH + Duration::nanoseconds(1_234_567);
        assert_eq!(truncate_to_micros(at).nanosecond(), 1_234_000);
        assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
    }
}
