//! Rendering the zone as RFC 1035 master-file text: the only place names,
//! records and serials become text.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use crate::name::{Label, Mailbox, Origin};
use crate::records::{Record, RecordData, VmAddresses};
use crate::reverse::{Ptr, ReversePrefix};
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

/// The serial-dependent head of the file: comment, `$ORIGIN`, `$TTL` and SOA.
pub fn render_header(
    settings: &ZoneSettings,
    serial: Serial,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    write_header(settings, &settings.origin, serial, out)
}

/// The head of the reverse zone `origin` ([`ReversePrefix::origin`]): like the
/// forward zone's, with the forward zone's name server `ns.<origin>` as SOA MNAME.
pub fn render_reverse_header(
    settings: &ZoneSettings,
    origin: &Origin,
    serial: Serial,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    write_header(settings, origin, serial, out)
}

pub(crate) fn write_header(
    settings: &ZoneSettings,
    origin: &Origin,
    serial: Serial,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    write!(
        out,
        "; Written by status-monitor; every change gets a new serial. Do not edit.\n\
         $ORIGIN {origin}\n\
         $TTL {ttl}\n\
         @\tIN\tSOA\tns.{forward} {rname} {serial} {refresh} {retry} {expire} {negative}\n",
        forward = settings.origin,
        ttl = settings.record_ttl,
        rname = settings.rname,
        refresh = settings.refresh,
        retry = settings.retry,
        expire = settings.expire,
        negative = settings.negative_ttl,
    )
}

/// Everything after the SOA: name server, glue, then the VMs' records in the order
/// given (the caller iterates VMs by namespace then name, which with
/// [`VmAddresses::records`] is canonical DNS order).
pub fn render_body<'a>(
    settings: &ZoneSettings,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    render_parent_body(settings, std::iter::empty(), vms, out)
}

/// The body of `vm.<DOMAIN>` when namespaces have zones of their own: name
/// server and glue, one delegation per namespace zone in `delegated` (only with
/// a name server to delegate to), then the records of the VMs kept here.
pub(crate) fn render_parent_body<'a>(
    settings: &ZoneSettings,
    delegated: impl IntoIterator<Item = &'a Label>,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    if !settings.name_servers.is_empty() {
        writeln!(out, "@\tIN\tNS\tns.{origin}", origin = settings.origin)?;
    }
    for address in &settings.name_servers {
        let rtype = if address.is_ipv4() { "A" } else { "AAAA" };
        writeln!(out, "ns\tIN\t{rtype}\t{address}")?;
    }
    if !settings.name_servers.is_empty() {
        for namespace in delegated {
            writeln!(
                out,
                "{namespace}\tIN\tNS\tns.{origin}",
                origin = settings.origin
            )?;
        }
    }
    for vm in vms {
        vm.try_for_each_record(|record| push_record(out, &record, Owner::InParent))?;
    }
    Ok(())
}

/// The body of a namespace's zone `<namespace>.vm.<DOMAIN>`: its name server
/// (whose address is in the parent zone), then the records of `vms`, all of
/// that namespace, named relative to the zone.
pub(crate) fn render_namespace_body<'a>(
    settings: &ZoneSettings,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    if !settings.name_servers.is_empty() {
        writeln!(out, "@\tIN\tNS\tns.{origin}", origin = settings.origin)?;
    }
    for vm in vms {
        vm.try_for_each_record(|record| push_record(out, &record, Owner::InNamespaceZone))?;
    }
    Ok(())
}

/// Everything after the SOA of a reverse zone: the name server (its address is
/// in the forward zone), then one PTR per address in `ptrs`, which the caller
/// sorts by [`Ptr::sort_key`].
pub fn render_reverse_body(
    settings: &ZoneSettings,
    prefix: &ReversePrefix,
    ptrs: &[Ptr<'_>],
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    // The forward origin once as text, not formatted again for every PTR.
    let forward = settings.origin.to_string();
    if !settings.name_servers.is_empty() {
        writeln!(out, "@\tIN\tNS\tns.{forward}")?;
    }
    for ptr in ptrs {
        prefix.write_relative_owner(ptr.address, out)?;
        out.write_str("\tIN\tPTR\t")?;
        out.write_str(ptr.interface.as_str())?;
        out.write_char('.')?;
        out.write_str(ptr.vm.name().as_str())?;
        out.write_char('.')?;
        out.write_str(ptr.vm.namespace().as_str())?;
        out.write_char('.')?;
        out.write_str(&forward)?;
        out.write_char('\n')?;
    }
    Ok(())
}

/// Which zone a record line is written in, so relative to which origin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// `vm.<DOMAIN>`: `<iface>.<vm>.<namespace>`
    InParent,
    /// `<namespace>.vm.<DOMAIN>`: `<iface>.<vm>`
    InNamespaceZone,
}

/// One record line, written piece by piece: this runs 600k times for 100k VMs,
/// and `write!` costs several times more than `write_str`.
fn push_record(out: &mut (impl Write + ?Sized), record: &Record<'_>, zone: Owner) -> fmt::Result {
    let owner = record.owner;
    if let Some(interface) = owner.interface {
        out.write_str(interface.as_str())?;
        out.write_char('.')?;
    }
    out.write_str(owner.vm.as_str())?;
    if zone == Owner::InParent {
        out.write_char('.')?;
        out.write_str(owner.namespace.as_str())?;
    }
    match record.data {
        RecordData::A(address) => {
            out.write_str("\tIN\tA\t")?;
            push_ipv4(out, address)?;
        }
        RecordData::Aaaa(address) => {
            out.write_str("\tIN\tAAAA\t")?;
            // RFC 5952 text (zero compression) is subtle: std's Display has it right.
            write!(out, "{address}")?;
        }
    }
    out.write_char('\n')
}

fn push_ipv4(out: &mut (impl Write + ?Sized), address: Ipv4Addr) -> fmt::Result {
    let mut text = AsciiText::<15>::new();
    for (i, octet) in address.octets().into_iter().enumerate() {
        if i > 0 {
            text.push(b'.');
        }
        text.push_decimal(octet);
    }
    text.write_to(out)
}

/// Short ASCII text built on the stack, for the addresses and reverse names
/// the render loops write hundreds of thousands of times, where `write!` and
/// allocation cost more than the text itself.
pub(crate) struct AsciiText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> AsciiText<N> {
    pub(crate) fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Appends one ASCII byte; beyond `N` bytes the text is cut, which the
    /// callers' sizes rule out.
    pub(crate) fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Appends `value` in decimal, without leading zeros.
    pub(crate) fn push_decimal(&mut self, value: u8) {
        if value >= 100 {
            self.push(b'0' + value / 100);
        }
        if value >= 10 {
            self.push(b'0' + value / 10 % 10);
        }
        self.push(b'0' + value % 10);
    }

    pub(crate) fn write_to(&self, out: &mut (impl Write + ?Sized)) -> fmt::Result {
        // Only ASCII was pushed.
        out.write_str(std::str::from_utf8(&self.bytes[..self.len]).map_err(|_| fmt::Error)?)
    }
}

/// The whole zone file.
pub fn render_zone<'a>(
    settings: &ZoneSettings,
    serial: Serial,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = render_header(settings, serial, &mut out);
    let _ = render_body(settings, vms, &mut out);
    out
}
