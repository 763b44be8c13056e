//! `ADDRESS_SOURCE=network`: only the addresses the CNI assigned, as Multus
//! records them on the virt-launcher pod, are published. The guest agent inside
//! the VM can report any address; the CNI's IPAM result cannot be forged from
//! inside the guest.
//!
//! A VMI is projected once with every address it reports
//! ([`NetworkCandidate`]); the CNI's sets filter it whenever either side
//! changes, so the VMI itself is never kept.

use std::collections::HashMap;
use std::net::IpAddr;

use zone_manager::{Label, VmAddresses};

use crate::vmi::VirtualMachineInstance;

/// A network as Multus names it (`<namespace>/<attachment>`), by number.
pub type NetworkId = u32;

/// Numbers the networks of every VMI and pod, so that each of them holds a
/// number, not the name. Networks are few (one per attachment definition), so
/// none is ever forgotten.
#[derive(Debug, Default)]
pub struct NetworkIds(HashMap<Box<str>, NetworkId>);

impl NetworkIds {
    pub fn id(&mut self, name: &str) -> NetworkId {
        if let Some(id) = self.0.get(name) {
            return *id;
        }
        let id = NetworkId::try_from(self.0.len()).unwrap_or(NetworkId::MAX);
        self.0.insert(name.into(), id);
        id
    }
}

/// A VMI's projection with every reported address, and the Multus network of
/// each of its interfaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkCandidate {
    vm: VmAddresses,
    attachments: Box<[(Label, NetworkId)]>,
}

impl NetworkCandidate {
    /// `vm` is the VMI's projection; interfaces on no Multus network will
    /// publish nothing.
    pub fn new(vmi: &VirtualMachineInstance, vm: VmAddresses, networks: &mut NetworkIds) -> Self {
        let namespace = vmi.metadata.namespace.as_deref().unwrap_or("default");
        let attachments = vm
            .interfaces()
            .filter_map(|interface| {
                let network = vmi
                    .spec
                    .networks
                    .iter()
                    .flatten()
                    .find(|n| n.name.as_deref() == Some(interface.name().as_str()))?;
                let attachment = network.multus.as_ref()?.network_name.as_deref()?;
                // "nad" in spec.networks means the VMI's own namespace; Multus
                // always says "ns/nad".
                let qualified = if attachment.contains('/') {
                    networks.id(attachment)
                } else {
                    networks.id(&format!("{namespace}/{attachment}"))
                };
                Some((interface.name().clone(), qualified))
            })
            .collect();
        Self { vm, attachments }
    }

    /// The VM with, on each interface, only the addresses the network layer
    /// assigned on that interface's network (`assigned(network, address)`);
    /// `None` when nothing is left.
    pub fn publishable(&self, assigned: impl Fn(NetworkId, IpAddr) -> bool) -> Option<VmAddresses> {
        let vm = self.vm.retain_addresses(|interface, address| {
            self.attachments
                .iter()
                .find(|(name, _)| name == interface)
                .is_some_and(|(_, network)| assigned(*network, address))
        });
        (!vm.publishes_nothing()).then_some(vm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::project;
    use crate::vmi::decode::LenientVmi;
    use serde_json::json;
    use zone_manager::Origin;

    fn candidate(interfaces: serde_json::Value) -> (NetworkCandidate, NetworkIds) {
        let mut networks = NetworkIds::default();
        let object: LenientVmi = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": "vm", "namespace": "lab"},
            "spec": {"networks": [
                {"name": "default", "pod": {}},
                {"name": "red", "multus": {"networkName": "red-net"}},
                {"name": "blue", "multus": {"networkName": "shared/blue-net"}}
            ]},
            "status": {"interfaces": interfaces}
        }))
        .unwrap();
        let vmi = object.decode().unwrap();
        let origin = Origin::for_domain("example.com").unwrap();
        let vm = project(&vmi, &origin).unwrap().vm;
        (NetworkCandidate::new(&vmi, vm, &mut networks), networks)
    }

    fn cni(networks: &mut NetworkIds) -> impl Fn(NetworkId, IpAddr) -> bool {
        let pairs = [
            ("ovn-kubernetes", "10.244.0.5"),
            ("lab/red-net", "10.10.0.5"),
            ("lab/red-net", "fd10::5"),
            ("shared/blue-net", "10.20.0.5"),
        ];
        let assigned: Vec<(NetworkId, IpAddr)> = pairs
            .iter()
            .map(|(n, a)| (networks.id(n), a.parse().unwrap()))
            .collect();
        move |network, address| assigned.contains(&(network, address))
    }

    fn addresses(vm: Option<&VmAddresses>, interface: &str) -> Vec<String> {
        vm.into_iter()
            .flat_map(|vm| vm.interfaces())
            .filter(|i| i.name().as_str() == interface)
            .flat_map(|i| {
                let v4 = i.ipv4().iter().map(ToString::to_string);
                v4.chain(i.ipv6().iter().map(ToString::to_string))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn guest_reported_addresses_outside_the_cni_assignment_are_dropped() {
        let (reported, mut networks) = candidate(json!([
            {"name": "red", "infoSource": "domain, guest-agent, multus-status",
             "ipAddresses": ["10.10.0.5", "fd10::5", "192.0.2.66", "fe80::1"]},
            {"name": "blue", "infoSource": "domain, guest-agent", "ipAddress": "10.20.0.5"}
        ]));
        let kept = reported.publishable(cni(&mut networks));
        assert_eq!(addresses(kept.as_ref(), "red"), ["10.10.0.5", "fd10::5"]);
        assert_eq!(
            addresses(kept.as_ref(), "blue"),
            ["10.20.0.5"],
            "ipAddress is the fallback, then checked too"
        );
    }

    #[test]
    fn a_network_the_cni_did_not_report_publishes_nothing() {
        let (reported, _) = candidate(json!([{"name": "red", "ipAddresses": ["10.10.0.5"]}]));
        assert!(reported.publishable(|_, _| false).is_none());
    }

    #[test]
    fn an_address_of_another_network_does_not_count() {
        // The guest claims blue's address on red.
        let (reported, mut networks) =
            candidate(json!([{"name": "red", "ipAddresses": ["10.20.0.5"]}]));
        assert!(addresses(reported.publishable(cni(&mut networks)).as_ref(), "red").is_empty());
    }
}
