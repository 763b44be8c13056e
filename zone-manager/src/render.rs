//! Rendering zones as RFC 1035 master-file text: the one writer, through
//! which every record and every header becomes text.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use crate::ascii_text::AsciiText;
use crate::chosen_names::resolve;
use crate::name::{Label, Origin};
use crate::record::{Labels, Name, Owner, Record, RecordData};
use crate::reverse::{Ptr, ReversePrefix};
use crate::serial::Serial;
use crate::settings::ZoneSettings;
use crate::vm_addresses::VmAddresses;

/// The head of every zone file (forward, namespace, reverse, catalog):
/// comment, `$ORIGIN`, `$TTL` and the SOA, whose MNAME is the forward
/// zone's name server.
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
         $TTL {ttl}\n",
        ttl = settings.record_ttl,
    )?;
    let soa = RecordData::Soa(settings.soa(serial));
    write_record(out, &Record::new(Owner::Apex, soa))
}

/// One record line: `owner [ttl] IN TYPE rdata`. Written piece by piece: this
/// runs 600k times for 100k VMs, and `write!` costs several times more than
/// `write_str`.
pub fn write_record(out: &mut (impl Write + ?Sized), record: &Record<'_>) -> fmt::Result {
    write_owner(out, &record.owner)?;
    if let Some(ttl) = record.ttl {
        write!(out, "\t{ttl}")?;
    }
    out.write_str("\tIN\t")?;
    out.write_str(record.data.record_type().as_str())?;
    out.write_char('\t')?;
    write_rdata(out, &record.data)?;
    out.write_char('\n')
}

/// The data of a record in presentation form.
pub(crate) fn write_rdata(out: &mut (impl Write + ?Sized), data: &RecordData<'_>) -> fmt::Result {
    match data {
        RecordData::A(address) => push_ipv4(out, *address),
        // RFC 5952 text (zero compression) is subtle: std's Display has it right.
        RecordData::Aaaa(address) => write!(out, "{address}"),
        RecordData::Cname(name) | RecordData::Ns(name) | RecordData::Ptr(name) => {
            write_name(out, name)
        }
        RecordData::Soa(soa) => {
            write_name(out, &soa.mname)?;
            write!(
                out,
                " {} {} {} {} {} {}",
                soa.rname, soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
            )
        }
        RecordData::Txt(text) => write_character_string(out, text),
    }
}

impl fmt::Display for RecordData<'_> {
    /// `TYPE<tab>RDATA`, as in the zone file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.record_type().as_str())?;
        f.write_char('\t')?;
        write_rdata(f, self)
    }
}

impl RecordData<'_> {
    /// The data alone in presentation form, without the type.
    pub fn rdata(&self) -> impl fmt::Display + '_ {
        struct Rdata<'r, 'a>(&'r RecordData<'a>);
        impl fmt::Display for Rdata<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_rdata(f, self.0)
            }
        }
        Rdata(self)
    }
}

impl fmt::Display for Labels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_labels(f, *self)
    }
}

impl fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_owner(f, self)
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_name(f, self)
    }
}

/// An owner relative to its zone's origin.
fn write_owner(out: &mut (impl Write + ?Sized), owner: &Owner<'_>) -> fmt::Result {
    match owner {
        Owner::Apex => out.write_char('@'),
        Owner::Below(labels) => write_labels(out, *labels),
        Owner::Reverse(prefix, address) => write_reverse_owner(out, prefix, *address),
    }
}

fn write_labels(out: &mut (impl Write + ?Sized), labels: Labels<'_>) -> fmt::Result {
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.write_char('.')?;
        }
        out.write_str(label)?;
    }
    Ok(())
}

/// An absolute name, with its final dot.
fn write_name(out: &mut (impl Write + ?Sized), name: &Name<'_>) -> fmt::Result {
    for label in name.labels.iter() {
        out.write_str(label)?;
        out.write_char('.')?;
    }
    match name.origin {
        Some(origin) => out.write_str(origin.as_str()),
        None if name.labels.is_empty() => out.write_char('.'),
        None => Ok(()),
    }
}

/// A quoted character-string: `"` and `\\` escaped, and every byte outside
/// printable ASCII as `\DDD` (RFC 1035 §5.1), so no text can break the line.
fn write_character_string(out: &mut (impl Write + ?Sized), text: &str) -> fmt::Result {
    out.write_char('"')?;
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.write_char('\\')?;
                out.write_char(char::from(byte))?;
            }
            0x20..=0x7e => out.write_char(char::from(byte))?,
            _ => write!(out, "\\{byte:03}")?,
        }
    }
    out.write_char('"')
}

/// The digits of `address` below `prefix`'s origin, dot-separated: decimal
/// octets or hex nibbles. Built on the stack: this runs once per PTR, 400k
/// times for 100k VMs.
fn write_reverse_owner(
    out: &mut (impl Write + ?Sized),
    prefix: &ReversePrefix,
    address: IpAddr,
) -> fmt::Result {
    let mut text = AsciiText::<64>::new();
    for (i, digit) in prefix.owner_digits(address).enumerate() {
        if i > 0 {
            text.push(b'.');
        }
        match address {
            IpAddr::V4(_) => text.push_decimal(digit),
            IpAddr::V6(_) => text.push(b"0123456789abcdef"[usize::from(digit & 0xf)]),
        }
    }
    text.write_to(out)
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

/// The zone's name server records: `@ NS ns.<origin>` of `origin`'s zone,
/// and in the forward zone (`glue`) one `ns` A or AAAA per address.
fn write_name_server(
    settings: &ZoneSettings,
    glue: bool,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    if settings.name_servers().is_empty() {
        return Ok(());
    }
    write_record(
        out,
        &Record::new(Owner::Apex, RecordData::Ns(settings.name_server())),
    )?;
    if glue {
        for address in settings.name_servers() {
            let owner = Owner::Below(Labels::fixed(&["ns"]));
            write_record(out, &Record::new(owner, RecordData::from(*address)))?;
        }
    }
    Ok(())
}

/// Everything after the SOA of a single forward zone: name server, glue,
/// then the VMs' records in the order given (the caller iterates VMs by
/// namespace then name, which with [`VmAddresses::records`] is canonical
/// DNS order).
pub(crate) fn render_body<'a>(
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
    write_name_server(settings, true, out)?;
    if !settings.name_servers().is_empty() {
        let name_server = RecordData::Ns(settings.name_server());
        for namespace in delegated {
            let owner = Owner::Below(Labels::new(&[namespace]));
            write_record(out, &Record::new(owner, name_server))?;
        }
    }
    write_vms(settings, vms, false, out)
}

/// The body of a namespace's zone `<namespace>.vm.<DOMAIN>`: its name server
/// (whose address is in the parent zone), then the records of `vms`, all of
/// that namespace, named relative to the zone.
pub(crate) fn render_namespace_body<'a>(
    settings: &ZoneSettings,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    write_name_server(settings, false, out)?;
    write_vms(settings, vms, true, out)
}

/// The records of `vms` (by namespace, then name): each VM's own, and after
/// each namespace's VMs the chosen names published there. Names are those of
/// the parent zone, or without the namespace label in its own zone.
fn write_vms<'a>(
    settings: &ZoneSettings,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
    in_namespace_zone: bool,
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    let mut write = |mut record: Record<'_>| {
        if let (true, Owner::Below(labels)) = (in_namespace_zone, record.owner) {
            // `<iface>.<vm>.<namespace>` of the parent is `<iface>.<vm>` here.
            record.owner = Owner::Below(labels.without_last());
        }
        write_record(out, &record)
    };
    let mut namespace: Vec<&VmAddresses> = Vec::new();
    for vm in vms {
        if namespace
            .first()
            .is_some_and(|first| first.namespace() != vm.namespace())
        {
            for record in resolve(&namespace, settings.record_ttl, &settings.origin).records {
                write(record)?;
            }
            namespace.clear();
        }
        vm.try_for_each_record(&mut write)?;
        namespace.push(vm);
    }
    for record in resolve(&namespace, settings.record_ttl, &settings.origin).records {
        write(record)?;
    }
    Ok(())
}

/// Everything after the SOA of a reverse zone: the name server (its address is
/// in the forward zone), then one PTR per address in `ptrs`, which the caller
/// sorts by [`Ptr::sort_key`].
pub(crate) fn render_reverse_body(
    settings: &ZoneSettings,
    prefix: &ReversePrefix,
    ptrs: &[Ptr<'_>],
    out: &mut (impl Write + ?Sized),
) -> fmt::Result {
    write_name_server(settings, false, out)?;
    for ptr in ptrs {
        let target = Name {
            labels: Labels::new(&[ptr.interface, ptr.vm.name(), ptr.vm.namespace()]),
            origin: Some(&settings.origin),
        };
        let owner = Owner::Reverse(prefix, ptr.address);
        write_record(out, &Record::new(owner, RecordData::Ptr(target)))?;
    }
    Ok(())
}

/// The whole zone file.
pub fn render_zone<'a>(
    settings: &ZoneSettings,
    serial: Serial,
    vms: impl IntoIterator<Item = &'a VmAddresses>,
) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_header(settings, &settings.origin, serial, &mut out);
    let _ = render_body(settings, vms, &mut out);
    out
}
