//! How the forward records are split into zone files (`ZONE_LAYOUT`,
//! `NAMESPACE_ZONES_MAX`).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;

use crate::name::Label;

/// How the forward records are split into zone files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZoneLayout {
    /// One zone per namespace, `<namespace>.vm.<DOMAIN>`, delegated from
    /// `vm.<DOMAIN>`: CoreDNS reparses only the zone that changed. With a
    /// [`NamespaceZoneLimit`], only the largest namespaces get one.
    #[default]
    Namespace,
    /// Every record in `vm.<DOMAIN>`, for secondaries that cannot follow a
    /// changing set of zones.
    Single,
}

/// The name server's label: its host is `ns.vm.<DOMAIN>`.
const NAME_SERVER_LABEL: &str = "ns";

impl ZoneLayout {
    /// Whether `namespace` may get a zone of its own. The namespace `ns` keeps
    /// its records in the parent zone: a zone of its own would have the name
    /// server's host `ns.vm.<DOMAIN>` as its apex.
    pub fn allows_own_zone(self, namespace: &Label) -> bool {
        self == Self::Namespace && namespace.as_str() != NAME_SERVER_LABEL
    }
}

/// At most this many namespace zones (`NAMESPACE_ZONES_MAX`). CoreDNS checks
/// every zone file on every reload tick; past a few thousand, those checks
/// crowd out the queries (docs/performance.md).
pub type NamespaceZoneLimit = Option<NonZeroUsize>;

/// The namespaces that have a zone of their own now; every other namespace
/// keeps its records in the parent. A function of the records alone, so that
/// every replica splits the same records the same way (one serial, one
/// content).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct OwnZones(BTreeSet<Label>);

impl OwnZones {
    /// The namespaces of `vm_counts` (namespace → VMs) that `layout` allows a
    /// zone of their own; with a `limit`, the `limit` with the most VMs (ties
    /// go to the name first in order).
    fn choose<'a>(
        layout: ZoneLayout,
        limit: NamespaceZoneLimit,
        vm_counts: impl Iterator<Item = (&'a Label, usize)>,
    ) -> Self {
        let mut allowed: Vec<(&Label, usize)> = vm_counts
            .filter(|(namespace, _)| layout.allows_own_zone(namespace))
            .collect();
        if let Some(limit) = limit
            && allowed.len() > limit.get()
        {
            allowed.sort_by(|(a, a_vms), (b, b_vms)| b_vms.cmp(a_vms).then_with(|| a.cmp(b)));
            allowed.truncate(limit.get());
        }
        Self(allowed.into_iter().map(|(ns, _)| ns.clone()).collect())
    }

    /// [`Self::choose`] over the VMs by namespace, as the manager keeps them.
    pub(crate) fn of<V>(
        layout: ZoneLayout,
        limit: NamespaceZoneLimit,
        vms: &BTreeMap<Label, BTreeMap<Label, V>>,
    ) -> Self {
        Self::choose(
            layout,
            limit,
            vms.iter().map(|(ns, by_name)| (ns, by_name.len())),
        )
    }

    pub(crate) fn contains(&self, namespace: &Label) -> bool {
        self.0.contains(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str) -> Label {
        Label::new(text).unwrap()
    }

    #[test]
    fn the_namespace_ns_stays_in_the_parent() {
        let (ns, tenant) = (label("ns"), label("tenant"));
        assert!(ZoneLayout::Namespace.allows_own_zone(&tenant));
        assert!(!ZoneLayout::Namespace.allows_own_zone(&ns));
        assert!(!ZoneLayout::Single.allows_own_zone(&tenant));
    }

    #[test]
    fn a_limit_keeps_the_largest_namespaces_and_breaks_ties_by_name() {
        let counts = [("a", 1), ("b", 5), ("c", 3), ("d", 5), ("ns", 9)];
        let labels: Vec<(Label, usize)> = counts.iter().map(|(n, c)| (label(n), *c)).collect();
        let choose = |limit: usize| {
            OwnZones::choose(
                ZoneLayout::Namespace,
                NonZeroUsize::new(limit),
                labels.iter().map(|(n, c)| (n, *c)),
            )
        };
        let names = |own: &OwnZones| -> Vec<String> {
            own.0.iter().map(|n| n.as_str().to_owned()).collect()
        };
        assert_eq!(names(&choose(0)), ["a", "b", "c", "d"], "no limit");
        assert_eq!(names(&choose(4)), ["a", "b", "c", "d"]);
        assert_eq!(names(&choose(3)), ["b", "c", "d"]);
        assert_eq!(names(&choose(1)), ["b"], "b and d tie: b comes first");
        let single = OwnZones::choose(
            ZoneLayout::Single,
            None,
            labels.iter().map(|(n, c)| (n, *c)),
        );
        assert!(single.0.is_empty());
    }
}
