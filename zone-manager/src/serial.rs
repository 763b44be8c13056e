//! The SOA serial and its RFC 1982 arithmetic.

use std::cmp::Ordering;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A zone serial number. Ordered by RFC 1982 serial arithmetic, not by `u32`:
/// `4294967295 < 0` because the serial wrapped. CoreDNS reloads a zone only when
/// the serial changes, and secondaries transfer it only when it grows.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial(u32);

impl Serial {
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The serial for new content: `max(previous + 1, now)` in RFC 1982 terms.
    /// Unix time keeps serials growing across restarts even when the previous
    /// zone file was lost; `previous + 1` keeps them growing when the clock
    /// is behind or several changes land in one second.
    pub fn next(previous: Option<Serial>, now: SystemTime) -> Serial {
        let clock = Serial(unix_seconds(now));
        match previous {
            None => clock,
            Some(previous) => {
                let bumped = Serial(previous.0.wrapping_add(1));
                if clock.rfc1982_cmp(bumped) == Some(Ordering::Greater) {
                    clock
                } else {
                    bumped
                }
            }
        }
    }

    /// RFC 1982 comparison; `None` when the two are exactly 2^31 apart, where
    /// the RFC leaves the order undefined.
    pub fn rfc1982_cmp(self, other: Serial) -> Option<Ordering> {
        const HALF: u32 = 1 << 31;
        let (a, b) = (self.0, other.0);
        if a == b {
            Some(Ordering::Equal)
        } else if (a < b && b - a < HALF) || (a > b && a - b > HALF) {
            Some(Ordering::Less)
        } else if (a < b && b - a > HALF) || (a > b && a - b < HALF) {
            Some(Ordering::Greater)
        } else {
            None
        }
    }

    /// `self` is greater than `other` in RFC 1982 arithmetic.
    pub fn is_after(self, other: Serial) -> bool {
        self.rfc1982_cmp(other) == Some(Ordering::Greater)
    }
}

fn unix_seconds(now: SystemTime) -> u32 {
    // Serials are 32 bits; truncation after 2106 is what RFC 1982 wrapping expects.
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn first_serial_is_the_clock() {
        assert_eq!(Serial::next(None, at(1_700_000_000)).get(), 1_700_000_000);
    }

    #[test]
    fn next_takes_the_clock_when_it_is_ahead() {
        let previous = Serial::new(1_700_000_000);
        assert_eq!(
            Serial::next(Some(previous), at(1_700_000_500)).get(),
            1_700_000_500
        );
    }

    #[test]
    fn next_increments_within_one_second_or_when_the_clock_is_behind() {
        let previous = Serial::new(1_700_000_000);
        assert_eq!(
            Serial::next(Some(previous), at(1_700_000_000)).get(),
            1_700_000_001
        );
        assert_eq!(
            Serial::next(Some(previous), at(1_600_000_000)).get(),
            1_700_000_001
        );
        // A date-style serial from another tool is far ahead of the clock: keep counting.
        let dated = Serial::new(2_026_112_101);
        assert_eq!(
            Serial::next(Some(dated), at(1_790_000_000)).get(),
            2_026_112_102
        );
    }

    #[test]
    fn next_wraps_and_stays_greater_in_rfc1982_terms() {
        let previous = Serial::new(u32::MAX);
        let next = Serial::next(Some(previous), at(0));
        assert_eq!(next.get(), 0);
        assert!(next.is_after(previous));
    }

    #[test]
    fn rfc1982_ordering() {
        assert!(Serial::new(2).is_after(Serial::new(1)));
        assert!(!Serial::new(1).is_after(Serial::new(2)));
        assert!(Serial::new(0).is_after(Serial::new(u32::MAX)));
        assert!(Serial::new(5).is_after(Serial::new(u32::MAX - 5)));
        assert_eq!(Serial::new(0).rfc1982_cmp(Serial::new(1 << 31)), None);
        assert_eq!(
            Serial::new(7).rfc1982_cmp(Serial::new(7)),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn many_nexts_always_grow() {
        let mut serial = Serial::new(u32::MAX - 3);
        for _ in 0..10 {
            let next = Serial::next(Some(serial), at(10));
            assert!(next.is_after(serial), "{next:?} after {serial:?}");
            serial = next;
        }
    }
}
