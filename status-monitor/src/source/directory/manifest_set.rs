//! The offline source: VMIs read from manifest files, kept per file so that a
//! file that stops parsing keeps its last good content.

use std::collections::{BTreeMap, BTreeSet, btree_map::Entry};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, info_span, warn};
use zone_manager::{Label, Origin, VmAddresses};

use super::manifests::{self, manifest_files};
use crate::metrics::Metrics;
use crate::projection::{Projector, Rules};

/// What one file contributed the last time it parsed: the VMs it holds (shared
/// with the zone, not copied).
struct ParsedFile {
    digest: u64,
    /// Every VMI read, as the API source counts the VMIs of its watch.
    vmis: usize,
    /// The VMs of those that give records.
    vms: Vec<VmAddresses>,
}

/// VMIs found in a set of files and directories.
pub struct ManifestSet {
    projector: Projector,
    files: BTreeMap<PathBuf, ParsedFile>,
}

impl ManifestSet {
    pub fn new(origin: Origin, rules: Rules, metrics: Arc<Metrics>) -> Self {
        Self {
            projector: Projector::with_rules(origin, rules, metrics),
            files: BTreeMap::new(),
        }
    }

    /// VMIs in the files, whether or not they give records.
    pub fn vmi_count(&self) -> usize {
        self.files.values().map(|f| f.vmis).sum()
    }

    /// Reads `roots` again; re-parses only files whose content changed. A file
    /// that cannot be read or parsed is reported and keeps its last good content;
    /// a file that is gone takes its VMIs with it; a root that is gone keeps what
    /// it had (an unmounted volume must not empty the zone).
    /// Returns whether the set of VMs may have changed.
    pub fn scan(&mut self, roots: &[PathBuf]) -> bool {
        let mut seen = BTreeSet::new();
        let mut changed = false;
        for root in roots {
            match manifest_files(root) {
                Ok(files) => seen.extend(files),
                Err(e) => {
                    warn!(error = %e, "cannot list manifests; keeping what was read before");
                    seen.extend(self.files.keys().filter(|p| p.starts_with(root)).cloned());
                }
            }
        }
        let before = self.files.len();
        self.files.retain(|path, _| seen.contains(path));
        changed |= self.files.len() != before;
        for path in seen {
            changed |= self.refresh_file(&path);
        }
        if changed {
            self.projector.forget_unused_labels();
        }
        changed
    }

    fn refresh_file(&mut self, path: &Path) -> bool {
        let _span = info_span!("manifest", file = %path.display()).entered();
        if let Some(known) = self.files.get(path) {
            match manifests::digest(path) {
                Ok(digest) if digest == known.digest => return false,
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "keeping the last good content of this file");
                    return false;
                }
            }
        }
        let mut vms = Vec::new();
        let mut vmis = 0;
        let projector = &mut self.projector;
        let read = manifests::read_vmis(path, |vmi| {
            vmis += 1;
            match vmi {
                Ok(vmi) => vms.extend(projector.project(&vmi)),
                Err(e) => {
                    projector.metrics().skip("malformed");
                    warn!(vmi = %e.vmi, reason = %e.message, "skipping malformed VMI");
                }
            }
        });
        match read {
            Ok(digest) => {
                self.files
                    .insert(path.to_path_buf(), ParsedFile { digest, vmis, vms });
                true
            }
            Err(e) => {
                let kept = self.files.get(path).map_or(0, |f| f.vmis);
                warn!(error = %e, kept_vmis = kept, "keeping the last good content of this file");
                false
            }
        }
    }

    /// Every VM, once: where two files hold the same VMI, the first file in path
    /// order wins, whatever order they were read in.
    pub fn vms(&self) -> Vec<VmAddresses> {
        let mut unique: BTreeMap<(&Label, &Label), (&Path, &VmAddresses)> = BTreeMap::new();
        for (path, file) in &self.files {
            for vm in &file.vms {
                match unique.entry((vm.namespace(), vm.name())) {
                    Entry::Vacant(slot) => {
                        slot.insert((path, vm));
                    }
                    Entry::Occupied(first) => info!(
                        vmi = %format!("{}/{}", vm.namespace(), vm.name()),
                        used = %first.get().0.display(),
                        ignored = %path.display(),
                        "VMI defined in two files; the first one is used"
                    ),
                }
            }
        }
        unique.into_values().map(|(_, vm)| vm.clone()).collect()
    }
}
