//! The SOA serial, its RFC 1982 arithmetic, and where the serial of new
//! content comes from: this process's clock ([`ClockSerials`]), or grants from
//! a ledger that replicas share ([`SerialGrants`]), so that one serial of a
//! zone means one content whichever replica a secondary asks.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::name::Origin;

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

/// The greatest of `serials` in RFC 1982 terms (the first of two that the RFC
/// cannot order).
pub fn latest(serials: impl IntoIterator<Item = Option<Serial>>) -> Option<Serial> {
    serials
        .into_iter()
        .flatten()
        .fold(None, |latest, serial| match latest {
            Some(latest) if !serial.is_after(latest) => Some(latest),
            _ => Some(serial),
        })
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

/// What a zone holds, its serial aside: the first 16 octets of the SHA-256 of
/// its text as written with serial 0. Every replica that would write the same
/// file computes the same digest, and no tenant can craft two contents with one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentDigest([u8; 16]);

impl ContentDigest {
    pub const fn new(octets: [u8; 16]) -> Self {
        Self(octets)
    }

    /// Reads back [`Self`]'s `Display` form: 32 lowercase hex digits.
    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut octets = [0; 16];
        for (octet, pair) in octets.iter_mut().zip(hex.as_bytes().chunks(2)) {
            // Checked above: two hex digits.
            *octet = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Self(octets))
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|octet| write!(f, "{octet:02x}"))
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentDigest({self})")
    }
}

/// A zone's content digest, worked out (the zone rendered) only when a serial
/// source asks for it: the clock never does, so a write renders the zone once.
pub struct Content<'a> {
    digest: &'a mut dyn FnMut() -> Option<ContentDigest>,
}

impl<'a> Content<'a> {
    pub fn new(digest: &'a mut dyn FnMut() -> Option<ContentDigest>) -> Self {
        Self { digest }
    }

    /// `None` when the zone's text could not be rendered.
    pub fn digest(&mut self) -> Option<ContentDigest> {
        (self.digest)()
    }
}

/// Where the serial of a zone's new content comes from.
pub trait SerialSource {
    /// The serial to write `content` of `zone` with, greater than `previous`
    /// (the zone's last serial here). `None` when it is not known yet: the
    /// zone is then not written, and the publish says it awaits a serial.
    fn serial_for(
        &mut self,
        zone: &Origin,
        content: &mut Content<'_>,
        previous: Option<Serial>,
    ) -> Option<Serial>;

    /// Whether the zone file a previous run left, holding exactly `content`
    /// at `serial`, may be kept as it is.
    fn keeps(&mut self, zone: &Origin, content: &mut Content<'_>, serial: Serial) -> bool;
}

/// Serials from this process alone, `max(previous + 1, now)`: right when one
/// writer serves each zone to secondaries.
#[derive(Clone, Copy, Debug)]
pub struct ClockSerials {
    now: SystemTime,
}

impl ClockSerials {
    pub fn at(now: SystemTime) -> Self {
        Self { now }
    }
}

impl SerialSource for ClockSerials {
    fn serial_for(
        &mut self,
        _zone: &Origin,
        _content: &mut Content<'_>,
        previous: Option<Serial>,
    ) -> Option<Serial> {
        Some(Serial::next(previous, self.now))
    }

    fn keeps(&mut self, _zone: &Origin, _content: &mut Content<'_>, _serial: Serial) -> bool {
        true
    }
}

/// A zone's content that needs a serial from the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialRequest {
    pub zone: Origin,
    pub content: ContentDigest,
    /// The zone's last serial here: the grant must not be below it.
    pub previous: Option<Serial>,
}

impl SerialRequest {
    /// The serial a ledger grants this request, given the ledger's entry for
    /// the zone (its latest serial and the content it was granted for) and
    /// the ledger's floor (the greatest serial of entries it dropped). The
    /// entry's serial when the content is the same and not behind this
    /// replica; else the next serial after all three, which the ledger must
    /// then store as the zone's entry. Every serial is granted for one
    /// content only: a new grant is always above every earlier one.
    pub fn grant(
        &self,
        entry: Option<(Serial, ContentDigest)>,
        floor: Option<Serial>,
        now: SystemTime,
    ) -> Serial {
        match (entry, self.previous) {
            (Some((serial, content)), previous)
                if content == self.content && previous.is_none_or(|p| !p.is_after(serial)) =>
            {
                serial
            }
            (entry, previous) => Serial::next(
                latest([entry.map(|(serial, _)| serial), previous, floor]),
                now,
            ),
        }
    }
}

/// Serials granted by a ledger the replicas share. A zone whose content has no
/// grant yet is not written; its [`SerialRequest`] waits in
/// [`Self::take_requests`] for the ledger, and the next publish writes it.
#[derive(Debug, Default)]
pub struct SerialGrants {
    granted: HashMap<Origin, (ContentDigest, Serial)>,
    requests: HashMap<Origin, SerialRequest>,
}

impl SerialGrants {
    /// From now on `content` of `zone` is written with `serial`.
    pub fn grant(&mut self, zone: Origin, content: ContentDigest, serial: Serial) {
        self.granted.insert(zone, (content, serial));
    }

    /// The contents the last publish could not write for want of a serial.
    pub fn take_requests(&mut self) -> Vec<SerialRequest> {
        std::mem::take(&mut self.requests).into_values().collect()
    }

    fn granted(
        &mut self,
        zone: &Origin,
        content: &mut Content<'_>,
        previous: Option<Serial>,
    ) -> Option<Serial> {
        let content = content.digest()?;
        match self.granted.get(zone) {
            Some((granted, serial)) if *granted == content => Some(*serial),
            _ => {
                let request = SerialRequest {
                    zone: zone.clone(),
                    content,
                    previous,
                };
                self.requests.insert(zone.clone(), request);
                None
            }
        }
    }
}

impl SerialSource for SerialGrants {
    fn serial_for(
        &mut self,
        zone: &Origin,
        content: &mut Content<'_>,
        previous: Option<Serial>,
    ) -> Option<Serial> {
        self.granted(zone, content, previous)
    }

    fn keeps(&mut self, zone: &Origin, content: &mut Content<'_>, serial: Serial) -> bool {
        self.granted(zone, content, Some(serial)) == Some(serial)
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

    #[test]
    fn latest_is_the_greatest_in_rfc1982_terms() {
        let s = |v| Some(Serial::new(v));
        assert_eq!(latest([None, s(5), None, s(9), s(7)]), s(9));
        assert_eq!(latest([s(u32::MAX), s(3)]), s(3), "3 came after the wrap");
        assert_eq!(latest([None, None]), None);
    }

    #[test]
    fn content_digests_read_back_what_they_print() {
        let digest = ContentDigest::new([0xab; 16]);
        assert_eq!(digest.to_string(), "ab".repeat(16));
        assert_eq!(ContentDigest::parse(&digest.to_string()), Some(digest));
        assert_eq!(ContentDigest::parse("ab"), None);
        assert_eq!(ContentDigest::parse(&"AB".repeat(16)), None);
        assert_eq!(ContentDigest::parse(&"zz".repeat(16)), None);
    }

    #[test]
    fn a_ledger_grants_each_serial_to_one_content() {
        let zone = Origin::parse("lab.vm.example.com").unwrap();
        let (one, two) = (ContentDigest::new([1; 16]), ContentDigest::new([2; 16]));
        let request = |content, previous: Option<u32>| SerialRequest {
            zone: zone.clone(),
            content,
            previous: previous.map(Serial::new),
        };
        let now = at(1_800_000_000);
        // No entry: the clock.
        assert_eq!(
            request(one, None).grant(None, None, now).get(),
            1_800_000_000
        );
        // The same content as the entry: its serial, whoever asks.
        let entry = Some((Serial::new(1_800_000_005), one));
        assert_eq!(
            request(one, None).grant(entry, None, now).get(),
            1_800_000_005
        );
        assert_eq!(
            request(one, Some(1_800_000_005))
                .grant(entry, None, now)
                .get(),
            1_800_000_005
        );
        // Other content: after the entry, even with the clock behind.
        assert_eq!(
            request(two, Some(1_700_000_000))
                .grant(entry, None, now)
                .get(),
            1_800_000_006
        );
        // This replica is ahead of the entry (a ledger that was reset): after it.
        assert_eq!(
            request(one, Some(1_800_000_009))
                .grant(entry, None, now)
                .get(),
            1_800_000_010
        );
        // A dropped entry left its serial in the floor: never granted again.
        let floor = Some(Serial::new(1_800_000_020));
        assert_eq!(
            request(one, None).grant(None, floor, now).get(),
            1_800_000_021
        );
    }

    #[test]
    fn grants_serve_only_the_content_they_were_given_for() {
        let zone = Origin::parse("lab.vm.example.com").unwrap();
        let (one, two) = (ContentDigest::new([1; 16]), ContentDigest::new([2; 16]));
        let (mut render_one, mut render_two) = (|| Some(one), || Some(two));
        let mut grants = SerialGrants::default();
        let mut content_one = Content::new(&mut render_one);
        assert_eq!(grants.serial_for(&zone, &mut content_one, None), None);
        assert_eq!(
            grants.take_requests(),
            [SerialRequest {
                zone: zone.clone(),
                content: one,
                previous: None
            }]
        );
        grants.grant(zone.clone(), one, Serial::new(7));
        assert_eq!(
            grants.serial_for(&zone, &mut content_one, None),
            Some(Serial::new(7))
        );
        assert!(grants.keeps(&zone, &mut content_one, Serial::new(7)));
        assert!(!grants.keeps(&zone, &mut content_one, Serial::new(6)));
        let mut content_two = Content::new(&mut render_two);
        assert_eq!(
            grants.serial_for(&zone, &mut content_two, Some(Serial::new(7))),
            None
        );
        assert_eq!(grants.take_requests().len(), 1);
        assert!(grants.take_requests().is_empty());
    }

    #[test]
    fn the_clock_never_renders_the_content_and_grants_need_it() {
        let zone = Origin::parse("lab.vm.example.com").unwrap();
        let mut asked = 0;
        let mut unrenderable = || {
            asked += 1;
            None
        };
        let mut content = Content::new(&mut unrenderable);
        let mut clock = ClockSerials::at(at(1_800_000_000));
        assert_eq!(
            clock.serial_for(&zone, &mut content, None),
            Some(Serial::new(1_800_000_000))
        );
        assert!(clock.keeps(&zone, &mut content, Serial::new(5)));
        let mut grants = SerialGrants::default();
        assert_eq!(grants.serial_for(&zone, &mut content, None), None);
        assert!(grants.take_requests().is_empty(), "no content, no request");
        assert_eq!(asked, 1, "only the grants asked");
    }
}
