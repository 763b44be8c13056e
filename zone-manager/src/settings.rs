//! Everything about a zone that is not a VM's: apex, SOA timers, TTLs and
//! the name server.

use std::net::IpAddr;

use crate::name::{Mailbox, Origin};
use crate::record::{Labels, Name, Soa};
use crate::serial::Serial;

/// Everything about the zone that is not a VM: apex, SOA and name server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSettings {
    pub origin: Origin,
    /// SOA RNAME: the responsible person's mailbox.
    pub rname: Mailbox,
    /// `$TTL`: the TTL of every record.
    pub record_ttl: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// SOA MINIMUM, which RFC 2308 makes the negative-caching TTL: how long a
    /// resolver remembers that a name does not exist yet.
    pub negative_ttl: u32,
    /// `NAME_SERVER_IP`: with any address, `@ NS ns.<origin>` and one `ns` glue
    /// record per address. Kept as [`Self::set_name_servers`] leaves it: IPv4
    /// before IPv6, each ascending, no duplicates, so that the same addresses
    /// in any order give the same zone.
    name_servers: Vec<IpAddr>,
}

impl ZoneSettings {
    /// Defaults for VMs that come and go: 30 s record TTL and 10 s negative TTL, so
    /// a new or moved VM resolves within seconds; refresh, retry and expire suit a
    /// secondary that follows the zone closely.
    pub const DEFAULT_RECORD_TTL: u32 = 30;
    pub const DEFAULT_REFRESH: u32 = 300;
    pub const DEFAULT_RETRY: u32 = 60;
    pub const DEFAULT_EXPIRE: u32 = 1_209_600;
    pub const DEFAULT_NEGATIVE_TTL: u32 = 10;

    pub fn new(origin: Origin) -> Self {
        Self {
            rname: Mailbox::hostmaster(&origin),
            origin,
            record_ttl: Self::DEFAULT_RECORD_TTL,
            refresh: Self::DEFAULT_REFRESH,
            retry: Self::DEFAULT_RETRY,
            expire: Self::DEFAULT_EXPIRE,
            negative_ttl: Self::DEFAULT_NEGATIVE_TTL,
            name_servers: Vec::new(),
        }
    }

    /// The name server's addresses (the glue of `ns.<origin>`), in canonical order.
    pub fn name_servers(&self) -> &[IpAddr] {
        &self.name_servers
    }

    /// Sets the name server's addresses; duplicates are dropped.
    pub fn set_name_servers(&mut self, addresses: impl IntoIterator<Item = IpAddr>) {
        let mut addresses: Vec<IpAddr> = addresses.into_iter().collect();
        // IpAddr orders every V4 before every V6, then by value: canonical order.
        addresses.sort();
        addresses.dedup();
        self.name_servers = addresses;
    }
}

impl ZoneSettings {
    /// `ns.<origin>`: the name server of every zone, forward or reverse.
    pub fn name_server(&self) -> Name<'_> {
        Name {
            labels: Labels::fixed(&["ns"]),
            origin: Some(&self.origin),
        }
    }

    /// The SOA of a zone with these settings at `serial`.
    pub fn soa(&self, serial: Serial) -> Soa<'_> {
        Soa {
            mname: self.name_server(),
            rname: &self.rname,
            serial,
            refresh: self.refresh,
            retry: self.retry,
            expire: self.expire,
            minimum: self.negative_ttl,
        }
    }
}
