//! The one record model: every record a zone holds, from a VM's A to the
//! catalog's TXT, is an owner, a TTL and typed data. Nothing here is text:
//! [`crate::render::write_record`] is the one writer.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::name::{Label, Mailbox, Origin};
use crate::reverse::ReversePrefix;
use crate::serial::Serial;

/// Up to four labels, most specific first (`nic1`, `vm1`, `tenant`): a name
/// below some origin. Labels are borrowed, so a record costs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labels<'a> {
    labels: [&'a str; 4],
    len: u8,
}

impl<'a> Labels<'a> {
    /// No label: the origin itself.
    pub const NONE: Labels<'static> = Labels {
        labels: [""; 4],
        len: 0,
    };

    /// Validated labels, most specific first; at most four are kept (the
    /// deepest name any zone holds is `<interface>.<vmi>.<namespace>`).
    pub fn new(labels: &[&'a Label]) -> Self {
        let mut out = Labels {
            labels: [""; 4],
            len: 0,
        };
        for label in labels.iter().take(4) {
            out.labels[usize::from(out.len)] = label.as_str();
            out.len += 1;
        }
        out
    }

    /// Labels this crate writes itself (`ns`, `version`, `zones`, member ids),
    /// each a valid label by construction.
    pub(crate) fn fixed(labels: &[&'a str]) -> Self {
        let mut out = Labels {
            labels: [""; 4],
            len: 0,
        };
        for label in labels.iter().take(4) {
            out.labels[usize::from(out.len)] = label;
            out.len += 1;
        }
        out
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + DoubleEndedIterator + '_ {
        self.labels[..usize::from(self.len)].iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The same name with its least specific label dropped: a name of the
    /// parent zone (`nic1.vm1.tenant`) as its namespace zone holds it
    /// (`nic1.vm1`).
    pub fn without_last(mut self) -> Self {
        self.len = self.len.saturating_sub(1);
        self
    }
}

/// A record's owner, relative to the origin of the zone that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// `@`: the origin.
    Apex,
    /// A name below the origin.
    Below(Labels<'a>),
    /// The name of `address` in the reverse zone of `prefix`: its digits after
    /// the prefix, least significant first.
    Reverse(&'a ReversePrefix, IpAddr),
}

/// An absolute name in a record's data: `labels` below `origin` (the root
/// when `None`), as `ns.vm.example.com.` or `invalid.`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name<'a> {
    pub labels: Labels<'a>,
    pub origin: Option<&'a Origin>,
}

/// The fields of an SOA record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Soa<'a> {
    pub mname: Name<'a>,
    pub rname: &'a Mailbox,
    pub serial: Serial,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// RFC 2308: the negative-caching TTL.
    pub minimum: u32,
}

/// The types of record the zones hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Ns,
    Ptr,
    Soa,
    Txt,
}

impl RecordType {
    pub const ALL: [RecordType; 7] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Ns,
        RecordType::Ptr,
        RecordType::Soa,
        RecordType::Txt,
    ];

    /// The mnemonic of RFC 1035 and RFC 3596: `A`, `AAAA`, …
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Ns => "NS",
            RecordType::Ptr => "PTR",
            RecordType::Soa => "SOA",
            RecordType::Txt => "TXT",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordData<'a> {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Name<'a>),
    Ns(Name<'a>),
    Ptr(Name<'a>),
    Soa(Soa<'a>),
    /// One character-string (RFC 1035 §3.3.14), written quoted and escaped.
    Txt(&'a str),
}

impl RecordData<'_> {
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Cname(_) => RecordType::Cname,
            RecordData::Ns(_) => RecordType::Ns,
            RecordData::Ptr(_) => RecordType::Ptr,
            RecordData::Soa(_) => RecordType::Soa,
            RecordData::Txt(_) => RecordType::Txt,
        }
    }

    /// The address of an A or AAAA record.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            RecordData::A(a) => Some(IpAddr::V4(*a)),
            RecordData::Aaaa(a) => Some(IpAddr::V6(*a)),
            _ => None,
        }
    }
}

impl From<IpAddr> for RecordData<'_> {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(a) => RecordData::A(a),
            IpAddr::V6(a) => RecordData::Aaaa(a),
        }
    }
}

/// One resource record: owner, TTL (`None`: the zone's `$TTL`) and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub owner: Owner<'a>,
    pub ttl: Option<u32>,
    pub data: RecordData<'a>,
}

impl<'a> Record<'a> {
    /// A record with the zone's default TTL.
    pub fn new(owner: Owner<'a>, data: RecordData<'a>) -> Self {
        Self {
            owner,
            ttl: None,
            data,
        }
    }
}

/// Record counts by type, for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordCounts([usize; RecordType::ALL.len()]);

impl RecordCounts {
    pub fn get(&self, record_type: RecordType) -> usize {
        self.0[record_type as usize]
    }

    pub fn count(&mut self, record_type: RecordType) {
        self.0[record_type as usize] += 1;
    }

    pub fn add(&mut self, other: &RecordCounts) {
        for (total, n) in self.0.iter_mut().zip(other.0) {
            *total += n;
        }
    }

    pub fn subtract(&mut self, other: &RecordCounts) {
        for (total, n) in self.0.iter_mut().zip(other.0) {
            *total = total.saturating_sub(n);
        }
    }

    /// Each type with its count, in [`RecordType::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (RecordType, usize)> + '_ {
        RecordType::ALL.into_iter().zip(self.0)
    }
}
