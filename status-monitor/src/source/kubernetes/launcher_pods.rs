//! The virt-launcher pods of `ADDRESS_SOURCE=network`: what the CNI assigned,
//! as Multus records it on each pod (`k8s.v1.cni.cncf.io/network-status`).
//! [`crate::projection::network`] filters the VMIs' addresses with it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use serde::Deserialize;
use tracing::warn;

use super::table::CniAddress;
use crate::projection::network::NetworkIds;
use crate::vmi::VmiRef;

/// Multus' annotation on the pod: one entry per attached network.
pub const NETWORK_STATUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/network-status";
/// The label KubeVirt puts on a virt-launcher pod: the name of its VMI.
pub const VMI_NAME_LABEL: &str = "vm.kubevirt.io/name";
/// The label selecting virt-launcher pods.
pub const LAUNCHER_SELECTOR: &str = "kubevirt.io=virt-launcher";

/// A virt-launcher pod as (its VMI, the hash of its name, the addresses its
/// CNI assigned on secondary networks).
pub fn pod_entry(
    pod: &PartialObjectMeta<Pod>,
    networks: &mut NetworkIds,
) -> Option<(VmiRef, u64, Vec<CniAddress>)> {
    let meta = &pod.metadata;
    let namespace = meta.namespace.as_deref()?;
    let name = meta.name.as_deref()?;
    let vmi = VmiRef::new(
        Some(namespace),
        Some(meta.labels.as_ref()?.get(VMI_NAME_LABEL)?),
    );
    let entries = match meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(NETWORK_STATUS_ANNOTATION))
    {
        None => Vec::new(),
        Some(text) => parse_network_status(text).unwrap_or_else(|e| {
            warn!(pod = %format!("{namespace}/{name}"), error = %e,
                "unreadable network-status annotation; no addresses from it");
            Vec::new()
        }),
    };
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    let pod = hasher.finish();
    // The pod network's addresses are never published: not kept.
    let addresses = entries
        .into_iter()
        .filter(|entry| !entry.default)
        .flat_map(|entry| {
            let network = networks.id(&entry.name);
            let addresses = entry
                .ips
                .into_iter()
                .filter_map(|ip| ip.parse::<IpAddr>().ok());
            addresses.map(move |address| CniAddress {
                pod,
                network,
                address,
            })
        })
        .collect();
    Some((vmi, pod, addresses))
}

/// One network of a pod's `network-status` annotation.
#[derive(Debug, Deserialize)]
pub struct NetworkStatusEntry {
    pub name: String,
    #[serde(default)]
    pub ips: Vec<String>,
    /// The pod network.
    #[serde(default)]
    pub default: bool,
}

/// The networks of a pod's `network-status` annotation.
pub fn parse_network_status(
    annotation: &str,
) -> Result<Vec<NetworkStatusEntry>, serde_json::Error> {
    serde_json::from_str(annotation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_annotation_is_an_error() {
        assert!(parse_network_status("{not json").is_err());
        assert!(parse_network_status(r#"[{"name": 5}]"#).is_err());
        let entries = parse_network_status(r#"[{"name": "a/b"}]"#).unwrap();
        assert_eq!((entries[0].name.as_str(), entries[0].ips.len()), ("a/b", 0));
    }
}
