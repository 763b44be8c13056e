//! Network-layer addresses (`ADDRESS_SOURCE=network`): what the CNI assigned, as
//! Multus records it on the virt-launcher pod (`k8s.v1.cni.cncf.io/network-status`),
//! used to keep only those of the addresses in a VMI's status. The guest agent
//! inside the VM can report any address; the CNI's IPAM result cannot be forged
//! from inside the guest.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Deserialize;

use crate::vmi::{InterfaceStatus, VirtualMachineInstance};

/// Multus' annotation on the pod: one entry per attached network.
pub const NETWORK_STATUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/network-status";
/// The label KubeVirt puts on a virt-launcher pod: the name of its VMI.
pub const VMI_NAME_LABEL: &str = "vm.kubevirt.io/name";
/// The label selecting virt-launcher pods.
pub const LAUNCHER_SELECTOR: &str = "kubevirt.io=virt-launcher";

/// CNI-assigned addresses by network (`<namespace>/<attachment>`).
pub type NetworkAddresses = HashMap<String, BTreeSet<IpAddr>>;

#[derive(Deserialize)]
struct NetworkStatusEntry {
    name: String,
    #[serde(default)]
    ips: Vec<String>,
}

/// The addresses of a pod's `network-status` annotation, by network name.
pub fn parse_network_status(annotation: &str) -> Result<NetworkAddresses, serde_json::Error> {
    let entries: Vec<NetworkStatusEntry> = serde_json::from_str(annotation)?;
    let mut networks = NetworkAddresses::new();
    for entry in entries {
        let addresses = entry.ips.iter().filter_map(|ip| ip.parse::<IpAddr>().ok());
        networks.entry(entry.name).or_default().extend(addresses);
    }
    Ok(networks)
}

/// The VMI with, on each interface, only the addresses the network layer assigned
/// on that interface's Multus network; an interface on no such network keeps none.
pub fn network_addresses_only(
    vmi: &VirtualMachineInstance,
    cni: &NetworkAddresses,
) -> VirtualMachineInstance {
    let namespace = vmi.metadata.namespace.as_deref().unwrap_or("default");
    let network_of = |interface: &str| -> Option<String> {
        let network = vmi
            .spec
            .networks
            .iter()
            .flatten()
            .find(|n| n.name.as_deref() == Some(interface))?;
        let attachment = network.multus.as_ref()?.network_name.as_deref()?;
        // "nad" in spec.networks means the VMI's own namespace; Multus always says "ns/nad".
        Some(if attachment.contains('/') {
            attachment.to_owned()
        } else {
            format!("{namespace}/{attachment}")
        })
    };
    let mut filtered = vmi.clone();
    if let Some(interfaces) = filtered.status.as_mut().and_then(|s| s.interfaces.as_mut()) {
        for interface in interfaces.iter_mut() {
            let allowed = interface
                .name
                .as_deref()
                .and_then(network_of)
                .and_then(|network| cni.get(&network));
            keep_only(interface, allowed);
        }
    }
    filtered
}

fn keep_only(interface: &mut InterfaceStatus, allowed: Option<&BTreeSet<IpAddr>>) {
    let is_allowed = |text: &String| {
        allowed.is_some_and(|allowed| {
            text.trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| allowed.contains(&ip))
        })
    };
    let mut addresses: Vec<String> = interface.ip_addresses.take().unwrap_or_default();
    if addresses.is_empty() {
        addresses.extend(interface.ip_address.take());
    }
    addresses.retain(is_allowed);
    interface.ip_address = None;
    interface.ip_addresses = Some(addresses);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::decode_vmi;
    use serde_json::json;

    fn vmi(interfaces: serde_json::Value) -> VirtualMachineInstance {
        decode_vmi(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": "vm", "namespace": "lab"},
            "spec": {"networks": [
                {"name": "default", "pod": {}},
                {"name": "red", "multus": {"networkName": "red-net"}},
                {"name": "blue", "multus": {"networkName": "shared/blue-net"}}
            ]},
            "status": {"interfaces": interfaces}
        }))
        .unwrap()
    }

    fn cni() -> NetworkAddresses {
        parse_network_status(
            &json!([
                {"name": "ovn-kubernetes", "interface": "eth0", "ips": ["10.244.0.5"], "default": true},
                {"name": "lab/red-net", "interface": "pod1a2b", "ips": ["10.10.0.5", "fd10::5"]},
                {"name": "shared/blue-net", "interface": "pod3c4d", "ips": ["10.20.0.5"]}
            ])
            .to_string(),
        )
        .unwrap()
    }

    fn addresses(vmi: &VirtualMachineInstance, interface: &str) -> Vec<String> {
        let status = vmi.status.as_ref().unwrap().interfaces.as_ref().unwrap();
        status
            .iter()
            .find(|i| i.name.as_deref() == Some(interface))
            .unwrap()
            .ip_addresses
            .clone()
            .unwrap()
    }

    #[test]
    fn guest_reported_addresses_outside_the_cni_assignment_are_dropped() {
        let reported = vmi(json!([
            {"name": "red", "infoSource": "domain, guest-agent, multus-status",
             "ipAddresses": ["10.10.0.5", "fd10::5", "192.0.2.66", "fe80::1"]},
            {"name": "blue", "infoSource": "domain, guest-agent", "ipAddress": "10.20.0.5"}
        ]));
        let kept = network_addresses_only(&reported, &cni());
        assert_eq!(addresses(&kept, "red"), ["10.10.0.5", "fd10::5"]);
        assert_eq!(
            addresses(&kept, "blue"),
            ["10.20.0.5"],
            "ipAddress is the fallback, then checked too"
        );
    }

    #[test]
    fn a_network_the_cni_did_not_report_publishes_nothing() {
        let reported = vmi(json!([{"name": "red", "ipAddresses": ["10.10.0.5"]}]));
        let kept = network_addresses_only(&reported, &NetworkAddresses::new());
        assert!(addresses(&kept, "red").is_empty());
    }

    #[test]
    fn an_address_of_another_network_does_not_count() {
        // The guest claims blue's address on red.
        let reported = vmi(json!([{"name": "red", "ipAddresses": ["10.20.0.5"]}]));
        assert!(addresses(&network_addresses_only(&reported, &cni()), "red").is_empty());
    }

    #[test]
    fn a_malformed_annotation_is_an_error() {
        assert!(parse_network_status("{not json").is_err());
        assert!(parse_network_status(r#"[{"name": 5}]"#).is_err());
        assert_eq!(
            parse_network_status(r#"[{"name": "a/b"}]"#).unwrap()["a/b"].len(),
            0
        );
    }
}
