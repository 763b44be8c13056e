//! The addresses of one VM and the A/AAAA records they give.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::name::Label;
use crate::record::{Labels, Owner, Record, RecordData};

/// The usable addresses of one secondary interface, sorted and de-duplicated: what
/// the projection builds a [`VmAddresses`] from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddresses {
    name: Label,
    ipv4: Box<[Ipv4Addr]>,
    ipv6: Box<[Ipv6Addr]>,
}

impl InterfaceAddresses {
    /// Keeps the addresses worth publishing: no loopback, unspecified, multicast or
    /// link-local ones (they mean nothing outside the VM's link).
    pub fn new(name: Label, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut ipv4 = Vec::new();
        let mut ipv6 = Vec::new();
        for address in addresses.into_iter().filter(|a| is_publishable(*a)) {
            match address {
                IpAddr::V4(a) => ipv4.push(a),
                IpAddr::V6(a) => ipv6.push(a),
            }
        }
        ipv4.sort_unstable();
        ipv4.dedup();
        ipv6.sort_unstable();
        ipv6.dedup();
        Self {
            name,
            ipv4: ipv4.into(),
            ipv6: ipv6.into(),
        }
    }

    pub fn name(&self) -> &Label {
        &self.name
    }

    pub fn ipv4(&self) -> &[Ipv4Addr] {
        &self.ipv4
    }

    pub fn ipv6(&self) -> &[Ipv6Addr] {
        &self.ipv6
    }

    pub fn is_empty(&self) -> bool {
        self.ipv4.is_empty() && self.ipv6.is_empty()
    }
}

/// Whether `address` means something off the VM's link: not loopback,
/// unspecified, multicast or link-local.
pub fn is_publishable(address: IpAddr) -> bool {
    !(address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        || is_link_local(address))
}

/// 169.254.0.0/16 or fe80::/10.
pub fn is_link_local(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// What the zone knows of one VM: its names and the addresses of its secondary
/// interfaces. This is the whole per-VM state the product keeps, so it is kept
/// small (four allocations whatever the number of addresses) and shared: clones
/// are a pointer copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VmAddresses(Arc<VmInner>);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct VmInner {
    namespace: Label,
    name: Label,
    /// Sorted by name, unique names, none without addresses; each with how many
    /// of `ipv4` and `ipv6` (in order) are its own.
    interfaces: Box<[(Label, u16, u16)]>,
    ipv4: Box<[Ipv4Addr]>,
    ipv6: Box<[Ipv6Addr]>,
    /// The interface (index into `interfaces`) whose addresses `<vmi>.<namespace>`
    /// takes, both families; `None`: the first by name that has each family.
    vm_name_interface: Option<u16>,
    /// The names its owner chose, and its TTL; `None` for most VMs, which
    /// keeps them one pointer smaller.
    chosen: Option<Box<ChosenNames>>,
}

/// What a VM's owner chose beyond the product's names: KubeVirt's
/// hostname/subdomain scheme, aliases, and the TTL of all its records.
/// Whether each name is published depends on the other VMs of the namespace
/// (their own names win): see [`crate::chosen_names`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChosenNames {
    /// `<hostname>.<subdomain>.<namespace>`, and membership of the group
    /// `<subdomain>.<namespace>`.
    pub scheme: Option<SchemeName>,
    /// `<alias>.<namespace>`, each a CNAME to `<vmi>.<namespace>`.
    pub aliases: Vec<Label>,
    /// The TTL of every record of the VM; `None`: the zone's `$TTL`.
    pub ttl: Option<u32>,
}

impl ChosenNames {
    pub fn is_empty(&self) -> bool {
        self.scheme.is_none() && self.aliases.is_empty() && self.ttl.is_none()
    }
}

/// `spec.hostname` (or the VMI's name) and `spec.subdomain`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemeName {
    pub hostname: Label,
    pub subdomain: Label,
}

/// One interface of a [`VmAddresses`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface<'a> {
    name: &'a Label,
    ipv4: &'a [Ipv4Addr],
    ipv6: &'a [Ipv6Addr],
}

impl<'a> Interface<'a> {
    pub fn name(&self) -> &'a Label {
        self.name
    }

    pub fn ipv4(&self) -> &'a [Ipv4Addr] {
        self.ipv4
    }

    pub fn ipv6(&self) -> &'a [Ipv6Addr] {
        self.ipv6
    }
}

impl VmAddresses {
    /// Interfaces are sorted by name; those without usable addresses are dropped.
    /// The caller guarantees unique interface names (the projection skips duplicates).
    pub fn new(
        namespace: Label,
        name: Label,
        interfaces: impl IntoIterator<Item = InterfaceAddresses>,
    ) -> Self {
        Self::with_vm_name_interface(namespace, name, interfaces, None)
    }

    /// Like [`Self::new`], with `<vmi>.<namespace>` taking only the addresses of
    /// the interface `vm_name_interface` (both families) when it has any; when
    /// it has none, the VM name follows the default rule.
    pub fn with_vm_name_interface(
        namespace: Label,
        name: Label,
        interfaces: impl IntoIterator<Item = InterfaceAddresses>,
        vm_name_interface: Option<&Label>,
    ) -> Self {
        let mut interfaces: Vec<_> = interfaces.into_iter().filter(|i| !i.is_empty()).collect();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        interfaces.dedup_by(|a, b| a.name == b.name);
        let ipv4: Box<[Ipv4Addr]> = interfaces
            .iter()
            .flat_map(|i| i.ipv4.iter().copied())
            .collect();
        let ipv6: Box<[Ipv6Addr]> = interfaces
            .iter()
            .flat_map(|i| i.ipv6.iter().copied())
            .collect();
        // The projection caps addresses per interface far below u16::MAX.
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let vm_name_interface = vm_name_interface
            .and_then(|wanted| interfaces.iter().position(|i| &i.name == wanted))
            .and_then(|index| u16::try_from(index).ok());
        let interfaces = interfaces
            .into_iter()
            .map(|i| (i.name, count(i.ipv4.len()), count(i.ipv6.len())))
            .collect();
        Self(Arc::new(VmInner {
            namespace,
            name,
            interfaces,
            ipv4,
            ipv6,
            vm_name_interface,
            chosen: None,
        }))
    }

    /// The same VM with the names its owner chose; aliases are sorted and
    /// de-duplicated.
    pub fn with_chosen_names(mut self, mut chosen: ChosenNames) -> Self {
        chosen.aliases.sort_unstable();
        chosen.aliases.dedup();
        Arc::make_mut(&mut self.0).chosen = (!chosen.is_empty()).then(|| Box::new(chosen));
        self
    }

    /// The names its owner chose, if any.
    pub fn chosen_names(&self) -> Option<&ChosenNames> {
        self.0.chosen.as_deref()
    }

    /// The TTL of all its records; `None`: the zone's.
    pub fn ttl(&self) -> Option<u32> {
        self.0.chosen.as_ref().and_then(|c| c.ttl)
    }

    pub fn namespace(&self) -> &Label {
        &self.0.namespace
    }

    pub fn name(&self) -> &Label {
        &self.0.name
    }

    /// The interfaces with addresses, by name.
    pub fn interfaces(&self) -> impl ExactSizeIterator<Item = Interface<'_>> + Clone {
        let inner = &*self.0;
        let (mut v4, mut v6) = (0usize, 0usize);
        inner.interfaces.iter().map(move |(name, n4, n6)| {
            let (n4, n6) = (usize::from(*n4), usize::from(*n6));
            let interface = Interface {
                name,
                ipv4: &inner.ipv4[v4..v4 + n4],
                ipv6: &inner.ipv6[v6..v6 + n6],
            };
            v4 += n4;
            v6 += n6;
            interface
        })
    }

    /// The same VM with only the addresses `keep` accepts (interfaces left
    /// without any go); a clone of the same allocation when it accepts all.
    pub fn retain_addresses(&self, mut keep: impl FnMut(&Label, IpAddr) -> bool) -> Self {
        let mut removed = false;
        let interfaces: Vec<InterfaceAddresses> = self
            .interfaces()
            .map(|interface| {
                let name = interface.name();
                let ipv4 = interface.ipv4().iter().map(|a| IpAddr::V4(*a));
                let ipv6 = interface.ipv6().iter().map(|a| IpAddr::V6(*a));
                let kept: Vec<IpAddr> = ipv4
                    .chain(ipv6)
                    .filter(|address| {
                        let kept = keep(name, *address);
                        removed |= !kept;
                        kept
                    })
                    .collect();
                InterfaceAddresses::new(name.clone(), kept)
            })
            .collect();
        if !removed {
            return self.clone();
        }
        let vm_name_interface = self
            .0
            .vm_name_interface
            .and_then(|index| self.0.interfaces.get(usize::from(index)))
            .map(|(name, _, _)| name);
        let kept = Self::with_vm_name_interface(
            self.0.namespace.clone(),
            self.0.name.clone(),
            interfaces,
            vm_name_interface,
        );
        let kept = Arc::unwrap_or_clone(kept.0);
        // Only the addresses change: whatever else the VM publishes (the
        // names its owner chose, and any field added later) carries over.
        Self(Arc::new(VmInner {
            interfaces: kept.interfaces,
            ipv4: kept.ipv4,
            ipv6: kept.ipv6,
            vm_name_interface: kept.vm_name_interface,
            ..(*self.0).clone()
        }))
    }

    /// The interfaces whose IPv4 and IPv6 addresses `<vmi>.<namespace>`
    /// takes: the chosen one for both, else the first by name with each.
    fn vm_name_interfaces(&self) -> (Option<Interface<'_>>, Option<Interface<'_>>) {
        let chosen = self
            .0
            .vm_name_interface
            .and_then(|index| self.interfaces().nth(usize::from(index)));
        let with_v4 = chosen.or_else(|| self.interfaces().find(|i| !i.ipv4.is_empty()));
        let with_v6 = chosen.or_else(|| self.interfaces().find(|i| !i.ipv6.is_empty()));
        (with_v4, with_v6)
    }

    /// The addresses of `<vmi>.<namespace>` (and of its scheme name), IPv4 first.
    pub fn vm_name_addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (with_v4, with_v6) = self.vm_name_interfaces();
        let ipv4 = with_v4
            .into_iter()
            .flat_map(|i| i.ipv4.iter().map(|a| IpAddr::V4(*a)));
        let ipv6 = with_v6
            .into_iter()
            .flat_map(|i| i.ipv6.iter().map(|a| IpAddr::V6(*a)));
        ipv4.chain(ipv6)
    }

    /// No record at all comes from this VM: asked of its records, not of
    /// its interfaces, so that a record of another kind counts too.
    pub fn publishes_nothing(&self) -> bool {
        self.try_for_each_record(|_| Err(())).is_ok()
    }

    /// The records of this VM in canonical DNS order: first `<vmi>.<namespace>`
    /// (A and AAAA of the chosen interface, else A of the first interface by
    /// name that has IPv4 and AAAA of the first that has IPv6), then `<interface>.<vmi>.<namespace>` for each interface.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        let mut records = Vec::new();
        let _ = self.try_for_each_record(|record| {
            records.push(record);
            Ok::<(), ()>(())
        });
        records.into_iter()
    }

    /// Calls `f` with each record, in the order of [`Self::records`]; stops at the
    /// first error. The render loop: no iterator adapters, no allocation.
    pub fn try_for_each_record<'a, E>(
        &'a self,
        mut f: impl FnMut(Record<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Owners relative to the parent zone, `vm.<DOMAIN>`.
        let vm_owner = Owner::Below(Labels::new(&[self.name(), self.namespace()]));
        let ttl = self.ttl();
        let record = |owner, data| Record { owner, ttl, data };
        let (with_v4, with_v6) = self.vm_name_interfaces();
        if let Some(first) = with_v4 {
            for address in first.ipv4 {
                f(record(vm_owner, RecordData::A(*address)))?;
            }
        }
        if let Some(first) = with_v6 {
            for address in first.ipv6 {
                f(record(vm_owner, RecordData::Aaaa(*address)))?;
            }
        }
        for interface in self.interfaces() {
            let owner = Owner::Below(Labels::new(&[
                interface.name,
                self.name(),
                self.namespace(),
            ]));
            for address in interface.ipv4 {
                f(record(owner, RecordData::A(*address)))?;
            }
            for address in interface.ipv6 {
                f(record(owner, RecordData::Aaaa(*address)))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(s: &str) -> Label {
        Label::new(s).unwrap()
    }

    fn iface(name: &str, addresses: &[&str]) -> InterfaceAddresses {
        InterfaceAddresses::new(label(name), addresses.iter().map(|a| a.parse().unwrap()))
    }

    fn lines(vm: &VmAddresses) -> Vec<String> {
        vm.records()
            .map(|r| format!("{} {}", r.owner, r.data))
            .collect()
    }

    #[test]
    fn retaining_addresses_keeps_the_vm_name_interface_and_shares_an_unchanged_vm() {
        let vm = VmAddresses::with_vm_name_interface(
            label("ns"),
            label("vm"),
            [
                iface("blue", &["10.0.0.1", "6.6.6.6"]),
                iface("red", &["10.0.1.1", "fd00::1"]),
            ],
            Some(&label("red")),
        );
        let all = vm.retain_addresses(|_, _| true);
        assert!(
            Arc::ptr_eq(&all.0, &vm.0),
            "nothing removed: the same allocation"
        );
        let cni: IpAddr = "6.6.6.6".parse().unwrap();
        let kept = vm.retain_addresses(|name, a| !(name.as_str() == "blue" && a == cni));
        assert_eq!(
            lines(&kept),
            [
                "vm.ns A\t10.0.1.1",
                "vm.ns AAAA\tfd00::1",
                "blue.vm.ns A\t10.0.0.1",
                "red.vm.ns A\t10.0.1.1",
                "red.vm.ns AAAA\tfd00::1"
            ]
        );
        assert!(vm.retain_addresses(|_, _| false).publishes_nothing());
    }

    #[test]
    fn drops_addresses_that_mean_nothing_outside_the_link() {
        let i = iface(
            "net1",
            &[
                "127.0.0.1",
                "0.0.0.0",
                "224.0.0.1",
                "169.254.1.1",
                "::1",
                "::",
                "ff02::1",
                "fe80::1",
                "febf::1",
                "10.0.0.1",
                "2001:db8::1",
            ],
        );
        assert_eq!(i.ipv4(), ["10.0.0.1".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(i.ipv6(), ["2001:db8::1".parse::<Ipv6Addr>().unwrap()]);
        // fec0::/10 is not link-local and stays.
        assert_eq!(iface("n", &["fec0::1"]).ipv6().len(), 1);
    }

    #[test]
    fn addresses_are_sorted_and_unique() {
        let i = iface("net1", &["10.0.0.9", "10.0.0.10", "10.0.0.9", "10.0.0.2"]);
        let got: Vec<String> = i.ipv4().iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["10.0.0.2", "10.0.0.9", "10.0.0.10"]);
    }

    #[test]
    fn vm_name_takes_a_from_first_v4_interface_and_aaaa_from_first_v6_interface() {
        let vm = VmAddresses::new(
            label("default"),
            label("web"),
            [
                iface("net3", &["10.3.0.1"]),
                iface("net2", &["fd00::2"]),
                iface("net1", &["fd00::1", "fd00::11"]),
                iface("net0", &[]),
            ],
        );
        assert_eq!(
            lines(&vm),
            [
                "web.default A\t10.3.0.1",
                "web.default AAAA\tfd00::1",
                "web.default AAAA\tfd00::11",
                "net1.web.default AAAA\tfd00::1",
                "net1.web.default AAAA\tfd00::11",
                "net2.web.default AAAA\tfd00::2",
                "net3.web.default A\t10.3.0.1",
            ]
        );
    }

    #[test]
    fn a_chosen_interface_gives_the_vm_name_its_addresses_only_both_families() {
        let interfaces = || {
            [
                iface("data", &["10.3.0.1", "fd00::3"]),
                iface("service", &["10.9.0.1"]),
            ]
        };
        let vm = VmAddresses::with_vm_name_interface(
            label("default"),
            label("web"),
            interfaces(),
            Some(&label("service")),
        );
        assert_eq!(
            &lines(&vm)[..1],
            ["web.default A\t10.9.0.1"],
            "no AAAA for the VM name: the chosen interface has none"
        );
        assert!(!lines(&vm).iter().any(|l| l.starts_with("web.default AAAA")));
        // Not there (or without addresses): the default rule, and a different VM.
        let fallback = VmAddresses::with_vm_name_interface(
            label("default"),
            label("web"),
            interfaces(),
            Some(&label("gone")),
        );
        assert_eq!(
            fallback,
            VmAddresses::new(label("default"), label("web"), interfaces())
        );
        assert_ne!(vm, fallback, "the choice is part of what changes the zone");
    }

    #[test]
    fn interface_order_does_not_matter() {
        let a = VmAddresses::new(
            label("ns"),
            label("vm"),
            [iface("b", &["10.0.0.2"]), iface("a", &["10.0.0.1"])],
        );
        let b = VmAddresses::new(
            label("ns"),
            label("vm"),
            [iface("a", &["10.0.0.1"]), iface("b", &["10.0.0.2"])],
        );
        assert_eq!(a, b);
        assert_eq!(lines(&a), lines(&b));
    }

    #[test]
    fn a_vm_without_usable_addresses_has_no_records() {
        let vm = VmAddresses::new(label("ns"), label("vm"), [iface("a", &["fe80::1"])]);
        assert!(vm.publishes_nothing());
        assert_eq!(vm.records().count(), 0);
    }
}
