//! The VMIs of the watch and, with `ADDRESS_SOURCE=network`, their
//! virt-launcher pods' CNI addresses, in one table keyed once per VMI: the
//! network mode's memory is the projections and a few addresses per VMI.
//!
//! VMIs and pods are listed apart, each with its own relist buffer: a list
//! replaces its side of every entry only once it is complete.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::projection::network::{NetworkCandidate, NetworkId};
use crate::vmi::VmiRef;

/// One pod of a VMI (a VMI has two during a live migration), by the hash of
/// its name: the table keeps no pod names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey(u64);

impl PodKey {
    pub fn of(pod_name: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        pod_name.hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// One address the CNI assigned to one pod of a VMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CniAddress {
    pub pod: PodKey,
    pub network: NetworkId,
    pub address: IpAddr,
}

/// Where a VMI stands in the VMI watch.
#[derive(Debug, Default)]
enum Watched {
    /// Not in the watch (yet, or any more); its pods may be.
    #[default]
    Absent,
    /// In the watch, giving no records.
    NoRecords,
    /// In the watch: its projection before the CNI filter.
    Candidate(NetworkCandidate),
}

impl Watched {
    fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    fn candidate(&self) -> Option<&NetworkCandidate> {
        match self {
            Self::Candidate(candidate) => Some(candidate),
            Self::Absent | Self::NoRecords => None,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    vmi: Watched,
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

    /// `vmi` is in the watch, with its projection if it gives records.
    pub fn set_vmi(&mut self, vmi: &VmiRef, candidate: Option<NetworkCandidate>) {
        let watched = match candidate {
            Some(candidate) => Watched::Candidate(candidate),
            None => Watched::NoRecords,
        };
        match &mut self.vmi_listing {
            Some(listing) => {
                listing.entry(vmi.clone()).or_default().vmi = watched;
            }
            None => {
                let slot = self.entries.entry(vmi.clone()).or_default();
                self.vmis += usize::from(slot.vmi.is_absent());
                slot.vmi = watched;
            }
        }
    }

    pub fn remove_vmi(&mut self, vmi: &VmiRef) {
        if let Some(listing) = &mut self.vmi_listing {
            listing.remove(vmi);
        }

        if let Some(entry) = self.entries.get_mut(vmi)
            && !std::mem::take(&mut entry.vmi).is_absent()
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
    pub fn set_pod(&mut self, vmi: &VmiRef, pod: PodKey, addresses: &[CniAddress]) -> PodsChanged {
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

    pub fn remove_pod(&mut self, vmi: &VmiRef, pod: PodKey) -> PodsChanged {
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
            !entry.vmi.is_absent()
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
            .is_some_and(|e| e.vmi.is_absent() && e.pods.is_empty())
        {
            self.entries.remove(vmi);
        }
    }

    /// The projection of a VMI in the watch, if it gives records.
    pub fn candidate(&self, vmi: &VmiRef) -> Option<&NetworkCandidate> {
        self.entries.get(vmi)?.vmi.candidate()
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
            .filter_map(|(vmi, entry)| Some((vmi, entry.vmi.candidate()?, &*entry.pods)))
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
            pod: PodKey(pod),
            network: 0,
            address: ip.parse().unwrap(),
        }
    }

    #[test]
    fn a_vmi_relist_replaces_the_vmis_and_keeps_the_pods() {
        let mut table = VmiTable::default();
        table.set_vmi(&vmi("gone"), None);
        table.set_pod(&vmi("kept"), PodKey(1), &[address(1, "10.0.0.1")]);
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
            table.set_pod(&a, PodKey(1), &[address(1, "10.0.0.1")]),
            PodsChanged::Yes
        );
        assert_eq!(
            table.set_pod(&a, PodKey(1), &[address(1, "10.0.0.1")]),
            PodsChanged::No
        );
        assert_eq!(
            table.set_pod(&a, PodKey(2), &[address(2, "10.0.0.2")]),
            PodsChanged::Yes
        );
        assert!(table.is_assigned(&a, 0, "10.0.0.1".parse().unwrap()));
        assert!(table.is_assigned(&a, 0, "10.0.0.2".parse().unwrap()));
        assert_eq!(table.remove_pod(&a, PodKey(1)), PodsChanged::Yes);
        assert_eq!(table.remove_pod(&a, PodKey(1)), PodsChanged::No);
        assert!(!table.is_assigned(&a, 0, "10.0.0.1".parse().unwrap()));
        table.remove_pod(&a, PodKey(2));
        assert!(table.entries.is_empty(), "no VMI, no pod: no entry");
    }
}
