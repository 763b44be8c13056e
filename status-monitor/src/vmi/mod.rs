//! The few fields of a KubeVirt `VirtualMachineInstance` (`kubevirt.io/v1`) that
//! the zone needs. There is no KubeVirt types crate; unknown fields are ignored,
//! and every field we read tolerates `null` or absence.

use std::fmt;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

pub mod decode;
mod document;
mod pick;

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstance",
    plural = "virtualmachineinstances",
    shortname = "vmi",
    namespaced,
    status = "VirtualMachineInstanceStatus",
    schema = "disabled"
)]
pub struct VirtualMachineInstanceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<Network>>,
    /// Only `devices.interfaces` is read: hot-unplug state and MAC addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainSpec>,
    /// With `subdomain`: the VM's name in KubeVirt's DNS scheme (else its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `<hostname>.<subdomain>.<namespace>`, and the group `<subdomain>.<namespace>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
}

impl VirtualMachineInstance {
    /// `status.interfaces[]`.
    pub fn status_interfaces(&self) -> &[InterfaceStatus] {
        self.status
            .as_ref()
            .and_then(|s| s.interfaces.as_deref())
            .unwrap_or_default()
    }
}

impl VirtualMachineInstanceSpec {
    /// The names of the networks that are the pod network (`pod: {}` or a
    /// default Multus network): not ours to publish.
    pub fn default_network_names(&self) -> std::collections::BTreeSet<&str> {
        self.networks
            .iter()
            .flatten()
            .filter(|n| n.is_default())
            .filter_map(|n| n.name.as_deref())
            .collect()
    }

    /// `spec.domain.devices.interfaces[]`.
    pub fn device_interfaces(&self) -> &[DeviceInterface] {
        self.domain
            .as_ref()
            .and_then(|d| d.devices.as_ref())
            .and_then(|d| d.interfaces.as_deref())
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct DomainSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Devices>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Devices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<DeviceInterface>>,
}

/// `spec.domain.devices.interfaces[]`: the VM's side of a network of the same name.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInterface {
    #[serde(default)]
    pub name: Option<String>,
    /// `absent` once hot-unplugged; the status may list it until a migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

impl DeviceInterface {
    pub fn is_unplugged(&self) -> bool {
        self.state.as_deref() == Some("absent")
    }
}

/// `spec.networks[]`: which network each interface is attached to.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Network {
    #[serde(default)]
    pub name: Option<String>,
    /// Present (`pod: {}`) for the pod network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multus: Option<MultusNetwork>,
}

impl Network {
    /// The default network is the pod network or a Multus network marked default,
    /// as in KubeSecondaryDNS; it is reachable through the cluster's own DNS.
    pub fn is_default(&self) -> bool {
        self.pod.is_some()
            || self
                .multus
                .as_ref()
                .is_some_and(|m| m.default == Some(true))
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct PodNetwork {}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MultusNetwork {
    #[serde(default)]
    pub network_name: Option<String>,
    #[serde(default)]
    pub default: Option<bool>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct VirtualMachineInstanceStatus {
    #[serde(default)]
    pub interfaces: Option<Vec<InterfaceStatus>>,
    /// `Pending`, `Scheduling`, `Scheduled`, `Running`, `Succeeded`, `Failed`,
    /// `Unknown`; read leniently (anything but a string is no phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

impl VirtualMachineInstanceStatus {
    /// `Succeeded` or `Failed`: the VM does not run, though `interfaces` still
    /// lists its last addresses, which may belong to someone else by now.
    pub fn is_final(&self) -> bool {
        matches!(self.phase.as_deref(), Some("Succeeded" | "Failed"))
    }
}

/// `status.interfaces[]`, as KubeVirt reports it from the domain, the guest agent
/// and Multus.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    /// The network name from `spec.networks[]`; empty for interfaces only the
    /// guest agent knows.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub ip_addresses: Option<Vec<String>>,
    /// Who reported it: `domain`, `guest-agent`, `multus-status`, comma-separated.
    #[serde(default)]
    pub info_source: Option<String>,
    /// The interface name inside the guest.
    #[serde(default)]
    pub interface_name: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
}

/// `namespace/name` of a VMI, for logs and warnings; holds the raw strings even
/// when they are not valid DNS labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmiRef {
    pub namespace: String,
    pub name: String,
}

impl VmiRef {
    /// Where a namespace is missing (a hand-written manifest), Kubernetes would
    /// use `default`; so do we.
    pub fn new(namespace: Option<&str>, name: Option<&str>) -> Self {
        Self {
            namespace: namespace.unwrap_or("default").to_owned(),
            name: name.unwrap_or_default().to_owned(),
        }
    }

    pub fn of(vmi: &VirtualMachineInstance) -> Self {
        Self::new(
            vmi.metadata.namespace.as_deref(),
            vmi.metadata.name.as_deref(),
        )
    }
}

impl fmt::Display for VmiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug-escape so that a name with newlines cannot forge log lines.
        write!(
            f,
            "{}/{}",
            self.namespace.escape_debug(),
            self.name.escape_debug()
        )
    }
}
