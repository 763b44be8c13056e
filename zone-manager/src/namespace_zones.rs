//! The namespace zones of [`crate::ZoneLayout::Namespace`]: a tracked file per
//! namespace of [`OwnZones`], written before the parent delegates to it and
//! removed after the parent stops delegating to it.

use std::collections::BTreeMap;
use std::hash::RandomState;
use std::io;
use std::path::{Path, PathBuf};

use tracing::info;

use crate::layout::OwnZones;
use crate::name::{Label, Origin};
use crate::publication::all_or_first_error;
use crate::serial::SerialSource;
use crate::settings::ZoneSettings;
use crate::texts::NamespaceText;
use crate::tracked::{Published, TrackedFile};
use crate::vm_addresses::VmAddresses;
use crate::zone_file::{ZoneFileError, ZonesDir};

/// A namespace's own zone, `<namespace>.vm.<DOMAIN>`.
struct NamespaceZone {
    origin: Origin,
    tracked: TrackedFile,
}

/// The namespace zones on disk or to be written, by namespace.
pub(crate) struct NamespaceZones {
    dir: ZonesDir,
    zones: BTreeMap<Label, NamespaceZone>,
    /// Namespace zone files a previous run left are looked for once, after
    /// the first publish of the parent.
    left_over_checked: bool,
}

impl NamespaceZones {
    pub(crate) fn new(dir: &ZonesDir) -> Self {
        Self {
            dir: dir.clone(),
            zones: BTreeMap::new(),
            left_over_checked: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.zones.len()
    }

    pub(crate) fn tracked(&self) -> impl Iterator<Item = &TrackedFile> {
        self.zones.values().map(|zone| &zone.tracked)
    }

    /// The zones of namespaces that still have one and whose files are on disk.
    pub(crate) fn on_disk_origins<'a>(
        &'a self,
        own: &'a OwnZones,
    ) -> impl Iterator<Item = Origin> + 'a {
        self.zones
            .iter()
            .filter(|(namespace, zone)| own.contains(namespace) && zone.tracked.is_on_disk())
            .map(|(_, zone)| zone.origin.clone())
    }

    pub(crate) fn forget_on_disk(&mut self) {
        for zone in self.zones.values_mut() {
            zone.tracked.forget_on_disk();
        }
    }

    /// Writes the zone of every namespace of `own` whose
    /// records (`digests`) differ from what is on disk; a zone seen for the
    /// first time reads back what a previous run left.
    pub(crate) fn publish(
        &mut self,
        settings: &ZoneSettings,
        vms: &BTreeMap<Label, BTreeMap<Label, VmAddresses>>,
        own: &OwnZones,
        digests: &BTreeMap<Label, u64>,
        hasher: &RandomState,
        serials: &mut dyn SerialSource,
    ) -> Result<Vec<(Origin, Published)>, ZoneFileError> {
        let mut published = Vec::new();
        let own_zones = vms.iter().filter(|(namespace, _)| own.contains(namespace));
        for (namespace, vms) in own_zones {
            let zone = self
                .zones
                .entry(namespace.clone())
                .or_insert_with(|| NamespaceZone::open(&self.dir, settings, namespace, hasher));
            let text = NamespaceText {
                settings,
                origin: &zone.origin,
                vms: Some(vms),
            };
            let digest = digests.get(namespace).copied().unwrap_or_default();
            let outcome = zone.tracked.publish(digest, &text, hasher, serials);
            published.push(outcome.map(|outcome| (zone.origin.clone(), outcome)));
        }
        all_or_first_error(published)
    }

    /// Removes the zones of namespaces no longer in `own` (call it once the
    /// parent no longer delegates to them) and, once, those a previous run
    /// left for namespaces that are gone (or for another layout).
    pub(crate) fn remove_gone(
        &mut self,
        forward: &Origin,
        own: &OwnZones,
    ) -> Result<Vec<Origin>, ZoneFileError> {
        let mut listing = Ok(());
        let mut gone: Vec<(Origin, PathBuf)> = Vec::new();
        self.zones.retain(|namespace, zone| {
            let wanted = own.contains(namespace);
            if !wanted {
                gone.push((
                    zone.origin.clone(),
                    zone.tracked.file().path().to_path_buf(),
                ));
            }
            wanted
        });
        if !self.left_over_checked {
            match namespace_zone_files(self.dir.zones(), forward) {
                Ok(files) => {
                    self.left_over_checked = true;
                    let left_over = files
                        .into_iter()
                        .filter(|(namespace, _)| !self.zones.contains_key(namespace));
                    gone.extend(
                        left_over.map(|(namespace, path)| (forward.child(&namespace), path)),
                    );
                }
                Err(source) => {
                    listing = Err(ZoneFileError::Read {
                        path: self.dir.zones().to_path_buf(),
                        source,
                    });
                }
            }
        }
        let mut removed = vec![listing.map(|()| None)];
        for (origin, path) in gone {
            match remove_file(&path) {
                Ok(()) => {
                    info!(zone = %origin, path = %path.display(), "namespace zone removed");
                    removed.push(Ok(Some(origin)));
                }
                Err(source) => {
                    // Tried again by the next publish, which looks again.
                    self.left_over_checked = false;
                    removed.push(Err(ZoneFileError::Write { path, source }));
                }
            }
        }
        all_or_first_error(removed).map(|removed| removed.into_iter().flatten().collect())
    }
}

impl NamespaceZone {
    /// Reads back what a previous run left in `db.<namespace>.<origin>`.
    fn open(
        dir: &ZonesDir,
        settings: &ZoneSettings,
        namespace: &Label,
        hasher: &RandomState,
    ) -> Self {
        let origin = settings.origin.child(namespace);
        let text = NamespaceText {
            settings,
            origin: &origin,
            vms: None,
        };
        let tracked = TrackedFile::open(dir, &text, hasher);
        Self { origin, tracked }
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

/// Removes a file; one that is already gone is removed.
fn remove_file(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
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
}
