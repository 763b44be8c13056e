//! The virt-launcher pods of `ADDRESS_SOURCE=network`: what the CNI assigned,
//! as Multus records it on each pod (`k8s.v1.cni.cncf.io/network-status`), by
//! VMI. [`crate::projection::network`] filters the VMIs' addresses with it.

use std::collections::HashMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use serde::Deserialize;
use tracing::warn;

use crate::projection::network::{CniAddresses, NetworkNames};
use crate::relist::Relist;
use crate::vmi::VmiRef;

/// Multus' annotation on the pod: one entry per attached network.
pub const NETWORK_STATUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/network-status";
/// The label KubeVirt puts on a virt-launcher pod: the name of its VMI.
pub const VMI_NAME_LABEL: &str = "vm.kubevirt.io/name";
/// The label selecting virt-launcher pods.
pub const LAUNCHER_SELECTOR: &str = "kubevirt.io=virt-launcher";

/// The CNI addresses of the virt-launcher pods of each VMI, by pod name (a VMI
/// has two pods during a live migration).
#[derive(Default)]
pub struct LauncherPods {
    /// By VMI: each pod's name (hashed: only told apart, never shown) and
    /// CNI addresses; boxed slices, as a VMI rarely has more than one pod.
    pods: Relist<HashMap<VmiRef, PodsOfVmi>>,
    names: NetworkNames,
}

/// The pods of one VMI: (hashed pod name, CNI addresses).
type PodsOfVmi = Box<[(u64, CniAddresses)]>;

/// What a pod event means for the VMIs.
#[derive(Debug, PartialEq, Eq)]
pub enum PodChange {
    Nothing,
    /// The pods are listed (again): every VMI may have changed.
    Listed,
    /// The CNI addresses of this VMI changed.
    Vmi(VmiRef),
}

impl LauncherPods {
    /// The pods are listed: their addresses are complete.
    pub fn is_listed(&self) -> bool {
        self.pods.is_complete()
    }

    /// Whether a pod of `vmi` (two during a live migration) has `address`
    /// on `network`.
    pub fn is_assigned(&self, vmi: &VmiRef, network: &str, address: IpAddr) -> bool {
        self.pods
            .current()
            .get(vmi)
            .is_some_and(|pods| pods.iter().any(|(_, cni)| cni.contains(network, address)))
    }

    pub fn handle(&mut self, event: Event<PartialObjectMeta<Pod>>) -> PodChange {
        match event {
            Event::Init => {
                self.pods.begin();
                PodChange::Nothing
            }
            Event::InitApply(pod) => {
                if let Some((vmi, pod, cni)) = pod_entry(&pod, &mut self.names) {
                    let pods = self.pods.target().entry(vmi).or_default();
                    *pods = with_pod(pods, pod, cni);
                }
                PodChange::Nothing
            }
            Event::InitDone => {
                self.pods.finish();
                self.names.forget_unused();
                PodChange::Listed
            }
            Event::Apply(pod) => {
                let Some((vmi, pod, cni)) = pod_entry(&pod, &mut self.names) else {
                    return PodChange::Nothing;
                };
                let pods = self.pods.target().entry(vmi.clone()).or_default();
                if pods
                    .iter()
                    .any(|(name, known)| *name == pod && *known == cni)
                {
                    return PodChange::Nothing;
                }
                *pods = with_pod(pods, pod, cni);
                PodChange::Vmi(vmi)
            }
            Event::Delete(pod) => {
                let Some((vmi, pod, _)) = pod_entry(&pod, &mut self.names) else {
                    return PodChange::Nothing;
                };
                let all = self.pods.target();
                let Some(pods) = all.get_mut(&vmi) else {
                    return PodChange::Nothing;
                };
                if !pods.iter().any(|(name, _)| *name == pod) {
                    return PodChange::Nothing;
                }
                let rest: Box<[_]> = pods
                    .iter()
                    .filter(|(name, _)| *name != pod)
                    .cloned()
                    .collect();
                if rest.is_empty() {
                    all.remove(&vmi);
                } else {
                    *pods = rest;
                }
                PodChange::Vmi(vmi)
            }
        }
    }
}

/// `pods` with `pod`'s addresses added or replaced.
fn with_pod(
    pods: &[(u64, CniAddresses)],
    pod: u64,
    cni: CniAddresses,
) -> Box<[(u64, CniAddresses)]> {
    pods.iter()
        .filter(|(name, _)| *name != pod)
        .cloned()
        .chain([(pod, cni)])
        .collect()
}

/// A virt-launcher pod as (its VMI, hashed pod name, CNI addresses).
fn pod_entry(
    pod: &PartialObjectMeta<Pod>,
    names: &mut NetworkNames,
) -> Option<(VmiRef, u64, CniAddresses)> {
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
    // The pod network's addresses are never published: not kept.
    let cni = CniAddresses::new(entries.into_iter().filter(|entry| !entry.default).flat_map(
        |entry| {
            let network = names.get(&entry.name);
            let addresses = entry
                .ips
                .into_iter()
                .filter_map(|ip| ip.parse::<IpAddr>().ok());
            addresses.map(move |address| (network.clone(), address))
        },
    ));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(name, &mut hasher);
    Some((vmi, std::hash::Hasher::finish(&hasher), cni))
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
