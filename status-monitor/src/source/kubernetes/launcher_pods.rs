//! The virt-launcher pods of `ADDRESS_SOURCE=network`: what the CNI assigned,
//! as Multus records it on each pod (`k8s.v1.cni.cncf.io/network-status`).
//! [`crate::projection::network`] filters the VMIs' addresses with it.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use serde::Deserialize;
use tracing::warn;

use super::table::{CniAddress, PodKey};
use crate::projection::network::NetworkIds;
use crate::vmi::VmiRef;

/// Multus' annotation on the pod: one entry per attached network.
pub const NETWORK_STATUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/network-status";
/// The label KubeVirt puts on a virt-launcher pod: its VM's name, when it fits.
pub const VMI_NAME_LABEL: &str = "vm.kubevirt.io/name";
/// The label selecting virt-launcher pods.
pub const LAUNCHER_SELECTOR: &str = "kubevirt.io=virt-launcher";

/// A virt-launcher pod as (its VMI, the hash of its name, the addresses its
/// CNI assigned on secondary networks).
pub fn pod_entry(
    pod: &PartialObjectMeta<Pod>,
    networks: &mut NetworkIds,
) -> Option<(VmiRef, PodKey, Vec<CniAddress>)> {
    let meta = &pod.metadata;
    let namespace = meta.namespace.as_deref()?;
    let name = meta.name.as_deref()?;
    let vmi = VmiRef::new(Some(namespace), Some(owning_vmi(meta)?));
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
    let pod = PodKey::of(name);
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

/// The VMI a virt-launcher pod runs: its controller, as virt-controller sets
/// it. The name label is only a fallback: a label value holds 63 characters
/// and a VMI's name up to 253, so KubeVirt cannot always set it.
fn owning_vmi(meta: &kube::api::ObjectMeta) -> Option<&str> {
    let controller = meta.owner_references.iter().flatten().find(|owner| {
        owner.controller == Some(true)
            && owner.kind == "VirtualMachineInstance"
            && owner.api_version.starts_with("kubevirt.io/")
    });
    match controller {
        Some(owner) => Some(owner.name.as_str()),
        None => meta
            .labels
            .as_ref()?
            .get(VMI_NAME_LABEL)
            .map(String::as_str),
    }
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

    fn launcher(metadata: serde_json::Value) -> PartialObjectMeta<Pod> {
        let mut pod: PartialObjectMeta<Pod> = serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": metadata
        }))
        .unwrap();
        pod.metadata.namespace = Some("ns".into());
        pod.metadata.name = Some("virt-launcher-x".into());
        pod
    }

    #[test]
    fn a_launcher_belongs_to_its_controlling_vmi_even_when_the_name_fits_no_label() {
        let long = "a".repeat(80);
        let pod = launcher(serde_json::json!({
            "labels": {"kubevirt.io": "virt-launcher"},
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "name": long, "uid": "u1", "controller": true}]
        }));
        let (vmi, _, _) = pod_entry(&pod, &mut NetworkIds::default()).unwrap();
        assert_eq!(vmi, VmiRef::new(Some("ns"), Some(&long)));
    }

    #[test]
    fn without_a_controlling_vmi_the_name_label_decides_and_without_either_nothing() {
        let labelled = launcher(serde_json::json!({
            "labels": {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": "vm1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "other", "uid": "u2", "controller": true}]
        }));
        let (vmi, _, _) = pod_entry(&labelled, &mut NetworkIds::default()).unwrap();
        assert_eq!(vmi, VmiRef::new(Some("ns"), Some("vm1")));
        let orphan = launcher(serde_json::json!({"labels": {"kubevirt.io": "virt-launcher"}}));
        assert!(pod_entry(&orphan, &mut NetworkIds::default()).is_none());
    }

    #[test]
    fn a_malformed_annotation_is_an_error() {
        assert!(parse_network_status("{not json").is_err());
        assert!(parse_network_status(r#"[{"name": 5}]"#).is_err());
        let entries = parse_network_status(r#"[{"name": "a/b"}]"#).unwrap();
        assert_eq!((entries[0].name.as_str(), entries[0].ips.len()), ("a/b", 0));
    }
}
