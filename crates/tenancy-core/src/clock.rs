//! Where stores get the time (the system clock by default, or an injected one), and the one
//! normal form of every timestamp the tenancy layer stores.
//!
//! A stored timestamp is in UTC, in whole microseconds (PostgreSQL's `timestamptz` precision),
//! and within [`MIN_TIMESTAMP`]`..=`[`MAX_TIMESTAMP`], a range both PostgreSQL and the `time`
//! crate hold. Timestamps a caller supplies go through [`normalize_timestamp`], which refuses a
//! value outside the range; the clocks here pass their readings through [`clamp_timestamp`].
//! So every store writes, returns and reads back the same values, and tests can move time with
//! a [`ManualClock`].

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use time::macros::datetime;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::error::{PreconditionReason, Result, TenancyError};

/// The earliest timestamp the tenancy layer stores: `0001-01-01T00:00:00Z`.
///
/// PostgreSQL reaches back to 4713 BC, but years before 1 are written differently by
/// PostgreSQL (1 BC) and by ISO 8601 and the `time` crate (year 0), so the range starts at the
/// first year on which they agree.
pub const MIN_TIMESTAMP: OffsetDateTime = datetime!(0001-01-01 00:00:00 UTC);

/// The latest timestamp the tenancy layer stores: `9999-12-31T23:59:59.999999Z`.
///
/// PostgreSQL goes further, but the `time` crate (without its `large-dates` feature) cannot
/// hold a later UTC date, so a later value could be written and never read back.
pub const MAX_TIMESTAMP: OffsetDateTime = datetime!(9999-12-31 23:59:59.999_999 UTC);

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time in its normal form: UTC, truncated to whole microseconds, within
    /// [`MIN_TIMESTAMP`]`..=`[`MAX_TIMESTAMP`]. Stores write it as it is, so an implementation
    /// should return its reading through [`clamp_timestamp`].
    fn now(&self) -> OffsetDateTime;
}

/// Truncates `at` to whole microseconds (the precision of PostgreSQL timestamps), toward the
/// past. The offset is kept; [`normalize_timestamp`] also converts to UTC and checks the range.
pub fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

/// Brings a caller-supplied timestamp into the stored form: truncated to whole microseconds
/// toward the past, then converted to UTC (the same instant).
///
/// ```
/// use flametrench_tenancy_core::normalize_timestamp;
/// use time::macros::datetime;
///
/// let at = normalize_timestamp(datetime!(2030-06-01 14:00:00.123_456_789 +02:00))?;
/// assert_eq!(at, datetime!(2030-06-01 12:00:00.123_456 UTC));
/// assert!(at.offset().is_utc());
///
/// let error = normalize_timestamp(datetime!(-9999-01-01 00:00 UTC)).unwrap_err();
/// assert_eq!(error.code(), "precondition.timestamp_out_of_range");
/// # Ok::<(), flametrench_tenancy_core::TenancyError>(())
/// ```
///
/// # Errors
///
/// `precondition.timestamp_out_of_range` when the truncated instant is before
/// [`MIN_TIMESTAMP`] or after [`MAX_TIMESTAMP`].
pub fn normalize_timestamp(at: OffsetDateTime) -> Result<OffsetDateTime> {
    let out_of_range = || TenancyError::precondition(PreconditionReason::TimestampOutOfRange);
    // Offsets are whole seconds, so truncating the local fraction truncates the instant. The
    // comparisons are by instant and never convert, so an offset whose UTC date the `time`
    // crate cannot represent is refused here rather than reaching a converting call.
    let truncated = truncate_to_micros(at);
    if truncated < MIN_TIMESTAMP || truncated > MAX_TIMESTAMP {
        return Err(out_of_range());
    }
    truncated
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(out_of_range)
}

/// Like [`normalize_timestamp`], but a value outside the range becomes the nearest bound
/// instead of an error: for clocks, whose readings cannot fail.
pub fn clamp_timestamp(at: OffsetDateTime) -> OffsetDateTime {
    match normalize_timestamp(at) {
        Ok(normalized) => normalized,
        Err(_) if at < MIN_TIMESTAMP => MIN_TIMESTAMP,
        Err(_) => MAX_TIMESTAMP,
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        clamp_timestamp(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until moved; clones share the same time.
///
/// Every time it is given is kept in the normal form of [`Clock::now`]: converted to UTC,
/// truncated to microseconds, and held within [`MIN_TIMESTAMP`]`..=`[`MAX_TIMESTAMP`] (a time
/// outside becomes the nearest bound, as [`advance`](Self::advance) saturates).
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
    /// A clock showing `at`, normalized (see [`clamp_timestamp`]).
    pub fn new(at: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(clamp_timestamp(at))),
        }
    }

    /// A clock showing the current system time.
    pub fn starting_now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Moves the clock by `by` (which may be negative), stopping at the range's bounds.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = clamp_timestamp(now.saturating_add(by));
    }

    /// Sets the clock to `at`, normalized (see [`clamp_timestamp`]).
    pub fn set(&self, at: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = clamp_timestamp(at);
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
    use time::macros::offset;
    use time::{Date, PrimitiveDateTime, Time};

    const MICRO: Duration = Duration::microseconds(1);
    const NANO: Duration = Duration::nanoseconds(1);

    fn code(result: Result<OffsetDateTime>) -> &'static str {
        result.map_or_else(|error| error.code(), |_| "ok")
    }

    #[test]
    fn truncates_to_micros() {
        let at = OffsetDateTime::UNIX_EPOCH + Duration::nanoseconds(1_234_567);
        assert_eq!(truncate_to_micros(at).nanosecond(), 1_234_000);
        assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
        assert!(SystemClock.now().offset().is_utc());
    }

    #[test]
    fn nanoseconds_truncate_toward_the_past() {
        let at = datetime!(2030-01-02 03:04:05.123_456_789 UTC);
        assert_eq!(
            normalize_timestamp(at).unwrap(),
            datetime!(2030-01-02 03:04:05.123_456 UTC)
        );
        // Before 1970 and before 2000 too: toward the past, never toward an epoch.
        let early = datetime!(1969-12-31 23:59:59.999_999_999 UTC);
        assert_eq!(
            normalize_timestamp(early).unwrap(),
            datetime!(1969-12-31 23:59:59.999_999 UTC)
        );
        let whole = datetime!(2030-01-02 03:04:05.123_456 UTC);
        assert_eq!(normalize_timestamp(whole).unwrap(), whole);
    }

    #[test]
    fn offsets_become_utc_at_the_same_instant() {
        let at = datetime!(2030-01-01 00:30:00.000_000_5 +05:30);
        let normalized = normalize_timestamp(at).unwrap();
        assert!(normalized.offset().is_utc());
        assert_eq!(normalized, datetime!(2029-12-31 19:00:00 UTC));
        assert_eq!(normalized.unix_timestamp(), at.unix_timestamp());
        let west = datetime!(2030-01-01 00:00:00 -23:59:59);
        assert_eq!(
            normalize_timestamp(west).unwrap(),
            datetime!(2030-01-01 23:59:59 UTC)
        );
    }

    #[test]
    fn bounds_are_in_range_and_one_microsecond_beyond_is_not() {
        assert_eq!(normalize_timestamp(MIN_TIMESTAMP).unwrap(), MIN_TIMESTAMP);
        assert_eq!(normalize_timestamp(MAX_TIMESTAMP).unwrap(), MAX_TIMESTAMP);
        assert_eq!(
            code(normalize_timestamp(MIN_TIMESTAMP - MICRO)),
            "precondition.timestamp_out_of_range"
        );
        // One nanosecond before the lower bound truncates to a microsecond before it.
        assert_eq!(
            code(normalize_timestamp(MIN_TIMESTAMP - NANO)),
            "precondition.timestamp_out_of_range"
        );
        // Up to 999 ns after the upper bound truncate back onto it.
        assert_eq!(
            normalize_timestamp(MAX_TIMESTAMP + Duration::nanoseconds(999)).unwrap(),
            MAX_TIMESTAMP
        );
        // One microsecond after the upper bound is 10000-01-01T00:00:00Z, which the `time`
        // crate can only express with an offset west of UTC.
        let beyond = datetime!(9999-12-31 23:00:00 -01:00);
        assert_eq!(beyond - MAX_TIMESTAMP, MICRO);
        assert_eq!(
            code(normalize_timestamp(beyond)),
            "precondition.timestamp_out_of_range"
        );
        // The bounds given in another offset are the same instants.
        let min_east = datetime!(0001-01-01 02:00:00 +02:00);
        assert_eq!(normalize_timestamp(min_east).unwrap(), MIN_TIMESTAMP);
        let max_west = datetime!(9999-12-31 22:59:59.999_999_999 -01:00);
        assert_eq!(normalize_timestamp(max_west).unwrap(), MAX_TIMESTAMP);
    }

    #[test]
    fn extremes_are_refused_without_panicking() {
        let extremes = [
            datetime!(-9999-01-01 00:00:00 UTC),
            PrimitiveDateTime::MIN.assume_utc(),
            PrimitiveDateTime::MIN.assume_offset(offset!(+25:59:59)),
            PrimitiveDateTime::MAX.assume_offset(offset!(-25:59:59)),
            PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT).assume_offset(offset!(-25:59:59)),
            datetime!(0000-12-31 23:59:59.999_999_999 UTC),
        ];
        for at in extremes {
            assert_eq!(
                code(normalize_timestamp(at)),
                "precondition.timestamp_out_of_range",
                "{at}"
            );
            let clamped = clamp_timestamp(at);
            assert!(clamped == MIN_TIMESTAMP || clamped == MAX_TIMESTAMP, "{at}");
        }
        // The latest values the `time` crate holds in UTC, or east of it, are in range.
        assert_eq!(
            normalize_timestamp(PrimitiveDateTime::MAX.assume_utc()).unwrap(),
            MAX_TIMESTAMP
        );
        let east =
            PrimitiveDateTime::new(Date::MAX, Time::MIDNIGHT).assume_offset(offset!(+25:59:59));
        assert_eq!(
            normalize_timestamp(east).unwrap(),
            datetime!(9999-12-29 22:00:01 UTC)
        );
        assert_eq!(
            clamp_timestamp(PrimitiveDateTime::MIN.assume_utc()),
            MIN_TIMESTAMP
        );
        assert_eq!(
            clamp_timestamp(PrimitiveDateTime::MAX.assume_offset(offset!(-25:59:59))),
            MAX_TIMESTAMP
        );
    }

    #[test]
    fn manual_clock_keeps_the_normal_form() {
        let clock = ManualClock::new(datetime!(2030-01-01 12:00:00.000_000_999 +01:00));
        assert_eq!(clock.now(), datetime!(2030-01-01 11:00:00 UTC));
        assert!(clock.now().offset().is_utc());
        clock.set(datetime!(-9999-01-01 00:00 UTC));
        assert_eq!(clock.now(), MIN_TIMESTAMP);
        clock.advance(-Duration::days(1));
        assert_eq!(clock.now(), MIN_TIMESTAMP);
        clock.set(MAX_TIMESTAMP - Duration::seconds(1));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), MAX_TIMESTAMP);
        clock.advance(Duration::nanoseconds(-1_500));
        assert_eq!(clock.now(), MAX_TIMESTAMP - Duration::microseconds(2));
    }
}
