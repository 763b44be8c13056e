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

pub use crate::projection::network::NetworkAddresses;
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
    pods: Relist<HashMap<VmiRef, HashMap<String, NetworkAddresses>>>,
}

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

    /// The CNI addresses of every pod of `vmi` (two during a live migration).
    pub fn addresses_of(&self, vmi: &VmiRef) -> NetworkAddresses {
        let mut all = NetworkAddresses::new();
        for networks in self
            .pods
            .current()
            .get(vmi)
            .into_iter()
            .flat_map(HashMap::values)
        {
            for (network, addresses) in networks {
                all.entry(network.clone())
                    .or_default()
                    .extend(addresses.iter().copied());
            }
        }
        all
    }

    pub fn handle(&mut self, event: Event<PartialObjectMeta<Pod>>) -> PodChange {
        match event {
            Event::Init => {
                self.pods.begin();
                PodChange::Nothing
            }
            Event::InitApply(pod) => {
                if let Some((vmi, pod, networks)) = pod_entry(&pod) {
                    self.pods
                        .target()
                        .entry(vmi)
                        .or_default()
                        .insert(pod, networks);
                }
                PodChange::Nothing
            }
            Event::InitDone => {
                self.pods.finish();
                PodChange::Listed
            }
            Event::Apply(pod) => {
                let Some((vmi, pod, networks)) = pod_entry(&pod) else {
                    return PodChange::Nothing;
                };
                let pods = self.pods.target().entry(vmi.clone()).or_default();
                if pods.get(&pod) == Some(&networks) {
                    return PodChange::Nothing;
                }
                pods.insert(pod, networks);
                PodChange::Vmi(vmi)
            }
            Event::Delete(pod) => {
                let Some((vmi, pod, _)) = pod_entry(&pod) else {
                    return PodChange::Nothing;
                };
                let all = self.pods.target();
                let Some(pods) = all.get_mut(&vmi) else {
                    return PodChange::Nothing;
                };
                if pods.remove(&pod).is_none() {
                    return PodChange::Nothing;
                }
                if pods.is_empty() {
                    all.remove(&vmi);
                }
                PodChange::Vmi(vmi)
            }
        }
    }
}

/// A virt-launcher pod as (its VMI, pod name, CNI addresses).
fn pod_entry(pod: &PartialObjectMeta<Pod>) -> Option<(VmiRef, String, NetworkAddresses)> {
    let meta = &pod.metadata;
    let namespace = meta.namespace.as_deref()?;
    let name = meta.name.clone()?;
    let vmi = VmiRef::new(
        Some(namespace),
        Some(meta.labels.as_ref()?.get(VMI_NAME_LABEL)?),
    );
    let networks = match meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(NETWORK_STATUS_ANNOTATION))
    {
        None => NetworkAddresses::new(),
        Some(text) => parse_network_status(text).unwrap_or_else(|e| {
            warn!(pod = %format!("{namespace}/{name}"), error = %e,
                "unreadable network-status annotation; no addresses from it");
            NetworkAddresses::new()
        }),
    };
    Some((vmi, name, networks))
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
