//! How the forward records are split into zone files (`ZONE_LAYOUT`).

use std::io;
use std::path::{Path, PathBuf};

use crate::name::{Label, Origin};

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
pub const NAME_SERVER_LABEL: &str = "ns";

impl ZoneLayout {
    /// Whether `namespace` gets a zone of its own. The namespace `ns` keeps its
    /// records in the parent zone: a zone of its own would have the name
    /// server's host `ns.vm.<DOMAIN>` as its apex.
    pub fn has_own_zone(self, namespace: &Label) -> bool {
        self == Self::Namespace && namespace.as_str() != NAME_SERVER_LABEL
    }
}

/// The namespace zone files in `dir` (`db.<namespace>.<forward origin>`, the
/// only names a manager of `forward` writes there besides its parent and
/// reverse zones), with their namespaces.
pub(crate) fn namespace_zone_files(
    dir: &Path,
    forward: &Origin,
) -> io::Result<Vec<(Label, PathBuf)>> {
    let suffix = format!(".{}", forward.without_final_dot());
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let namespace = name
            .strip_prefix("db.")
            .and_then(|rest| rest.strip_suffix(&suffix))
            .and_then(|label| Label::new(label).ok());
        if let Some(namespace) = namespace
            && entry.file_type()?.is_file()
        {
            found.push((namespace, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespace_zone_file_names_of_this_origin_are_found() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "db.vm.example.com",
            "db.tenant-a.vm.example.com",
            "db.ns.vm.example.com",
            "db.a.b.vm.example.com",
            "db.Upper.vm.example.com",
            "db.tenant.vm.example.org",
            "db.10.in-addr.arpa",
            ".db.tenant-b.vm.example.com.tmp",
            "tenant-c.vm.example.com",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("db.dir.vm.example.com")).unwrap();
        let origin = Origin::for_domain("example.com").unwrap();
        let found = namespace_zone_files(dir.path(), &origin).unwrap();
        let names: Vec<&str> = found.iter().map(|(ns, _)| ns.as_str()).collect();
        assert_eq!(names, ["ns", "tenant-a"]);
    }

    #[test]
    fn the_namespace_ns_stays_in_the_parent() {
        let ns = Label::new("ns").unwrap();
        let tenant = Label::new("tenant").unwrap();
        assert!(ZoneLayout::Namespace.has_own_zone(&tenant));
        assert!(!ZoneLayout::Namespace.has_own_zone(&ns));
        assert!(!ZoneLayout::Single.has_own_zone(&tenant));
    }
}
