//! How the forward records are split into zone files (`ZONE_LAYOUT`).

use crate::name::Label;

/// How the forward records are split into zone files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZoneLayout {
    /// One zone per namespace, `<namespace>.vm.<DOMAIN>`, delegated from
    /// `vm.<DOMAIN>`: CoreDNS reparses only the zone that changed.
    #[default]
    Namespace,
    /// Every record in `vm.<DOMAIN>`, for secondaries that cannot follow a
    /// changing set of zones.
    Single,
}

/// The name server's label: its host is `ns.vm.<DOMAIN>`.
const NAME_SERVER_LABEL: &str = "ns";

impl ZoneLayout {
    /// Whether `namespace` gets a zone of its own. The namespace `ns` keeps its
    /// records in the parent zone: a zone of its own would have the name
    /// server's host `ns.vm.<DOMAIN>` as its apex.
    pub fn has_own_zone(self, namespace: &Label) -> bool {
        self == Self::Namespace && namespace.as_str() != NAME_SERVER_LABEL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_ns_stays_in_the_parent() {
        let ns = Label::new("ns").unwrap();
        let tenant = Label::new("tenant").unwrap();
        assert!(ZoneLayout::Namespace.has_own_zone(&tenant));
        assert!(!ZoneLayout::Namespace.has_own_zone(&ns));
        assert!(!ZoneLayout::Single.has_own_zone(&tenant));
    }
}
