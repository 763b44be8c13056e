//! The VMIs of the watch and, with `ADDRESS_SOURCE=network`, their
//! virt-launcher pods' CNI addresses, in one table keyed once per VMI: the
//! network mode's memory is the projections and a few addresses per VMI.
//!
//! VMIs and pods are listed apart, each with its own relist buffer: a list
//! replaces its side of every entry only once it is complete.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::projection::network::{NetworkCandidate, NetworkId};
use crate::vmi::VmiRef;

/// One address the CNI assigned to one pod of a VMI (a VMI has two pods
/// during a live migration); the pod by the hash of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CniAddress {
    pub pod: u64,
    pub network: NetworkId,
    pub address: IpAddr,
}

/// A VMI in the watch: with `ADDRESS_SOURCE=network`, its projection before
/// the CNI filter when it gives records.
pub type VmiEntry = Option<NetworkCandidate>;

#[derive(Debug, Default)]
struct Entry {
    /// `None`: not in the VMI watch (yet, or any more); its pods may be.
    vmi: Option<VmiEntry>,
    pods: Box<[CniAddress]>,
}

/// What a pod event changed.
#[derive(Debug, PartialEq, Eq)]
pub enum PodsChanged {
    No,
    Yes,
}

#[derive(Debug, Default)]
pub struct VmiTable {
    entries: HashMap<VmiRef, Entry>,
    vmis: usize,
    /// The VMI list being collected, as entries without pods.
    vmi_listing: Option<HashMap<VmiRef, Entry>>,
    vmi_lists: u64,
    pod_listing: Option<HashMap<VmiRef, Vec<CniAddress>>>,
    pods_listed: bool,
}

impl VmiTable {
    /// VMIs in the watch.
    pub fn vmi_count(&self) -> usize {
        self.vmis
    }

    /// The VMIs are listed and no relist is under way.
    pub fn vmis_complete(&self) -> bool {
        self.vmi_lists > 0 && self.vmi_listing.is_none()
    }

    pub fn pods_listed(&self) -> bool {
        self.pods_listed
    }

    pub fn begin_vmis(&mut self) {
        self.vmi_listing = Some(HashMap::new());
    }

    pub fn set_vmi(&mut self, vmi: &VmiRef, entry: VmiEntry) {
        match &mut self.vmi_listing {
            Some(listing) => {
                listing.entry(vmi.clone()).or_default().vmi = Some(entry);
            }
            None => {
                let slot = self.entries.entry(vmi.clone()).or_default();
                self.vmis += usize::from(slot.vmi.is_none());
                slot.vmi = Some(entry);
            }
        }
    }

    pub fn remove_vmi(&mut self, vmi: &VmiRef) {
        if let Some(listing) = &mut self.vmi_listing {
            listing.remove(vmi);
        }

        if let Some(entry) = self.entries.get_mut(vmi)
            && entry.vmi.take().is_some()
        {
            self.vmis -= 1;
            if entry.pods.is_empty() {
                self.entries.remove(vmi);
            }
        }
    }

    /// The VMI list is complete: it replaces every VMI.
    pub fn finish_vmis(&mut self) {
        self.vmi_lists += 1;
        let Some(mut listed) = self.vmi_listing.take() else {
            return;
        };
        self.vmis = listed.len();
        // The listed map becomes the table; only the pods move over.
        for (vmi, entry) in std::mem::take(&mut self.entries) {
            if !entry.pods.is_empty() {
                listed.entry(vmi).or_default().pods = entry.pods;
            }
        }
        self.entries = listed;
    }

    pub fn begin_pods(&mut self) {
        self.pod_listing = Some(HashMap::new());
    }

    /// Pod `pod` of `vmi` has these CNI addresses now.
    pub fn set_pod(&mut self, vmi: &VmiRef, pod: u64, addresses: &[CniAddress]) -> PodsChanged {
        if let Some(listing) = &mut self.pod_listing {
            listing
                .entry(vmi.clone())
                .or_default()
                .extend_from_slice(addresses);
            return PodsChanged::No;
        }
        let entry = self.entries.entry(vmi.clone()).or_default();
        let mut pods: Vec<CniAddress> = entry
            .pods
            .iter()
            .filter(|a| a.pod != pod)
            .copied()
            .collect();
        pods.extend_from_slice(addresses);
        pods.sort_unstable();
        if *pods == *entry.pods {
            return PodsChanged::No;
        }
        entry.pods = pods.into_boxed_slice();
        self.drop_if_empty(vmi);
        PodsChanged::Yes
    }

    pub fn remove_pod(&mut self, vmi: &VmiRef, pod: u64) -> PodsChanged {
        if let Some(listing) = &mut self.pod_listing
            && let Some(pods) = listing.get_mut(vmi)
        {
            pods.retain(|a| a.pod != pod);
        }
        let Some(entry) = self.entries.get_mut(vmi) else {
            return PodsChanged::No;
        };
        if !entry.pods.iter().any(|a| a.pod == pod) {
            return PodsChanged::No;
        }
        entry.pods = entry
            .pods
            .iter()
            .filter(|a| a.pod != pod)
            .copied()
            .collect();
        self.drop_if_empty(vmi);
        PodsChanged::Yes
    }

    /// The pod list is complete: it replaces every pod.
    pub fn finish_pods(&mut self) {
        self.pods_listed = true;
        let Some(listed) = self.pod_listing.take() else {
            return;
        };
        self.entries.retain(|_, entry| {
            entry.pods = Box::default();
            entry.vmi.is_some()
        });
        for (vmi, mut pods) in listed {
            pods.sort_unstable();
            self.entries.entry(vmi).or_default().pods = pods.into_boxed_slice();
        }
    }

    fn drop_if_empty(&mut self, vmi: &VmiRef) {
        if self
            .entries
            .get(vmi)
            .is_some_and(|e| e.vmi.is_none() && e.pods.is_empty())
        {
            self.entries.remove(vmi);
        }
    }

    /// The projection of a VMI in the watch, if it gives records.
    pub fn candidate(&self, vmi: &VmiRef) -> Option<&NetworkCandidate> {
        self.entries.get(vmi)?.vmi.as_ref()?.as_ref()
    }

    /// Whether a pod of `vmi` has `address` on `network`.
    pub fn is_assigned(&self, vmi: &VmiRef, network: NetworkId, address: IpAddr) -> bool {
        self.entries
            .get(vmi)
            .is_some_and(|entry| assigned(&entry.pods, network, address))
    }

    /// Every VMI in the watch with records, and its pods' addresses.
    pub fn candidates(&self) -> impl Iterator<Item = (&VmiRef, &NetworkCandidate, &[CniAddress])> {
        self.entries
            .iter()
            .filter_map(|(vmi, entry)| Some((vmi, entry.vmi.as_ref()?.as_ref()?, &*entry.pods)))
    }
}

/// Whether one of `pods` has `address` on `network`.
pub fn assigned(pods: &[CniAddress], network: NetworkId, address: IpAddr) -> bool {
    pods.iter()
        .any(|a| a.network == network && a.address == address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmi(name: &str) -> VmiRef {
        VmiRef::new(Some("ns"), Some(name))
    }

    fn address(pod: u64, ip: &str) -> CniAddress {
        CniAddress {
            pod,
            network: 0,
            address: ip.parse().unwrap(),
        }
    }

    #[test]
    fn a_vmi_relist_replaces_the_vmis_and_keeps_the_pods() {
        let mut table = VmiTable::default();
        table.set_vmi(&vmi("gone"), None);
        table.set_pod(&vmi("kept"), 1, &[address(1, "10.0.0.1")]);
        table.begin_vmis();
        table.set_vmi(&vmi("kept"), None);
        assert_eq!(
            table.vmi_count(),
            1,
            "the current set stays whole while listing"
        );
        table.finish_vmis();
        assert_eq!(table.vmi_count(), 1);
        assert!(table.is_assigned(&vmi("kept"), 0, "10.0.0.1".parse().unwrap()));
        assert!(
            !table.entries.contains_key(&vmi("gone")),
            "nothing left of it"
        );
    }

    #[test]
    fn a_pod_change_is_seen_once_and_a_migration_has_both_pods() {
        let mut table = VmiTable::default();
        table.finish_pods();
        let a = vmi("a");
        assert_eq!(
            table.set_pod(&a, 1, &[address(1, "10.0.0.1")]),
            PodsChanged::Yes
        );
        assert_eq!(
            table.set_pod(&a, 1, &[address(1, "10.0.0.1")]),
            PodsChanged::No
        );
        assert_eq!(
            table.set_pod(&a, 2, &[address(2, "10.0.0.2")]),
            PodsChanged::Yes
        );
        assert!(table.is_assigned(&a, 0, "10.0.0.1".parse().unwrap()));
        assert!(table.is_assigned(&a, 0, "10.0.0.2".parse().unwrap()));
        assert_eq!(table.remove_pod(&a, 1), PodsChanged::Yes);
        assert_eq!(table.remove_pod(&a, 1), PodsChanged::No);
        assert!(!table.is_assigned(&a, 0, "10.0.0.1".parse().unwrap()));
        table.remove_pod(&a, 2);
        assert!(table.entries.is_empty(), "no VMI, no pod: no entry");
    }
}
