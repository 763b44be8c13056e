//! The zone manager: the VMs' addresses in, atomically written zone files out:
//! the forward zone (one, or a parent and one per namespace) and the reverse
//! zones.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::time::SystemTime;

use crate::catalog::CatalogZone;
use crate::chosen_names::{NameCollision, Resolved, resolve};
use crate::layout::{NamespaceZoneLimit, OwnZones, ZoneLayout};
use crate::name::{Label, Origin};
use crate::namespace_zones::NamespaceZones;
pub use crate::publication::Publication;
use crate::record::RecordCounts;
use crate::reverse::{ReversePrefix, for_each_ptr};
use crate::reverse_zones::{ReverseZone, publish_reverse_zones};
use crate::serial::{ClockSerials, SerialSource};
use crate::settings::ZoneSettings;
use crate::texts::ParentText;
use crate::tracked::TrackedFile;
use crate::vm_addresses::VmAddresses;
use crate::zone_file::{ZoneFile, ZoneFileError, ZonesDir};

#[derive(Clone, Copy)]
enum Tally {
    Add,
    Remove,
}

/// Keeps the records of every VM and publishes them as forward zone files (as
/// the [`ZoneLayout`] says) and, with reverse prefixes, one reverse zone file
/// per prefix.
pub struct ZoneManager {
    settings: ZoneSettings,
    layout: ZoneLayout,
    /// With [`ZoneLayout::Namespace`], at most this many namespace zones.
    namespace_zone_limit: NamespaceZoneLimit,
    forward: TrackedFile,
    namespaces: NamespaceZones,
    /// namespace → VM name → addresses; iteration order is canonical DNS order.
    vms: BTreeMap<Label, BTreeMap<Label, VmAddresses>>,
    /// The reverse zones, in the order of their prefixes.
    reverse: Vec<ReverseZone>,
    /// The RFC 9432 catalog of every zone above, when asked for.
    catalog: Option<CatalogZone>,
    /// Digest of each namespace's records: the sum of each VM's keyed hash,
    /// kept up to date by every change, so that "did anything change since the
    /// last write?" costs nothing even with 100k VMs (and a change undone is no
    /// change).
    namespace_digests: BTreeMap<Label, u64>,
    /// Records by type, kept up to date like the digest (VMs' own records;
    /// chosen names are counted when asked).
    counts: RecordCounts,
    /// How many VMs of each namespace have chosen names: the namespaces whose
    /// chosen names need resolving.
    chosen: BTreeMap<Label, usize>,
    /// Keyed hashing: tenants cannot craft two zones with the same digest.
    hasher: RandomState,
}

impl ZoneManager {
    /// Prepares `<zones_dir>/db.<origin>`: creates the directory, removes
    /// temporary files a crash left behind and reads back the previous serial.
    /// A previous file that cannot be read as a zone is reported and replaced on
    /// the first publish; the serial then restarts from the clock.
    pub fn open(
        settings: ZoneSettings,
        zones_dir: impl Into<ZonesDir>,
    ) -> Result<Self, ZoneFileError> {
        Self::open_with(settings, ZoneLayout::Single, &[], zones_dir)
    }

    /// Like [`Self::open`], with the forward records split as `layout` says
    /// and a reverse zone `db.<reverse origin>` for each prefix.
    pub fn open_with(
        settings: ZoneSettings,
        layout: ZoneLayout,
        prefixes: &[ReversePrefix],
        zones_dir: impl Into<ZonesDir>,
    ) -> Result<Self, ZoneFileError> {
        let dir: ZonesDir = zones_dir.into();
        let hasher = RandomState::new();
        dir.prepare()?;
        let vms = BTreeMap::new();
        let forward = TrackedFile::open(
            &dir,
            &ParentText {
                settings: &settings,
                vms: &vms,
                own: &OwnZones::default(),
            },
            &hasher,
        );
        forward.file().clean_up_after_a_crash();
        let reverse = prefixes
            .iter()
            .map(|prefix| ReverseZone::open(&dir, &settings, *prefix, &hasher))
            .collect();
        Ok(Self {
            settings,
            layout,
            forward,
            namespace_zone_limit: None,
            namespaces: NamespaceZones::new(&dir),
            vms,
            reverse,
            catalog: None,
            namespace_digests: BTreeMap::new(),
            counts: RecordCounts::default(),
            chosen: BTreeMap::new(),
            hasher,
        })
    }

    /// Also writes the RFC 9432 catalog zone `db.<catalog>`, listing every
    /// zone file written here; what a previous run left there is read back.
    /// `catalog` must not be at or below the forward or a reverse zone (the
    /// caller checks; see [`Origin::is_at_or_below`]).
    pub fn with_catalog(mut self, catalog: Origin) -> Self {
        let dir = self.forward.file().zones_dir().clone();
        self.catalog = Some(CatalogZone::open(
            &dir,
            &self.settings,
            catalog,
            &self.hasher,
        ));
        self
    }

    /// With [`ZoneLayout::Namespace`], gives zones of their own only to the
    /// `limit` namespaces with the most VMs; the others stay in the parent,
    /// under the same names.
    pub fn with_namespace_zone_limit(mut self, limit: NamespaceZoneLimit) -> Self {
        self.namespace_zone_limit = limit;
        self
    }

    pub fn settings(&self) -> &ZoneSettings {
        &self.settings
    }

    /// The forward zone's file.
    pub fn zone_file(&self) -> &ZoneFile {
        self.forward.file()
    }

    /// How many zone files there are: the forward zone or the parent, the
    /// namespace zones, the reverse zones and the catalog.
    pub fn zone_file_count(&self) -> usize {
        1 + self.namespaces.len() + self.reverse.len() + usize::from(self.catalog.is_some())
    }

    /// Adds or replaces a VM; a VM without records is removed.
    /// Returns whether anything changed.
    pub fn upsert(&mut self, vm: VmAddresses) -> bool {
        if vm.publishes_nothing() {
            return self.remove(vm.namespace().as_str(), vm.name().as_str());
        }
        let by_name = self.vms.entry(vm.namespace().clone()).or_default();
        if by_name.get(vm.name().as_str()) == Some(&vm) {
            return false;
        }
        let replaced = by_name.insert(vm.name().clone(), vm.clone());
        self.tally(&vm, Tally::Add);
        if let Some(old) = replaced {
            self.tally(&old, Tally::Remove);
        }
        true
    }

    /// Removes a VM; returns whether it was there.
    pub fn remove(&mut self, namespace: &str, name: &str) -> bool {
        let Some(by_name) = self.vms.get_mut(namespace) else {
            return false;
        };
        let removed = by_name.remove(name);
        if by_name.is_empty() {
            self.vms.remove(namespace);
        }
        match removed {
            Some(vm) => {
                self.tally(&vm, Tally::Remove);
                true
            }
            None => false,
        }
    }

    /// Replaces every VM at once (a relist or a rescan); returns whether anything changed.
    pub fn replace_all(&mut self, vms: impl IntoIterator<Item = VmAddresses>) -> bool {
        let mut next: BTreeMap<Label, BTreeMap<Label, VmAddresses>> = BTreeMap::new();
        for vm in vms.into_iter().filter(|vm| !vm.publishes_nothing()) {
            next.entry(vm.namespace().clone())
                .or_default()
                .insert(vm.name().clone(), vm);
        }
        let changed = next != self.vms;
        self.vms = next;
        self.namespace_digests.clear();
        self.counts = RecordCounts::default();
        self.chosen.clear();
        for zone in &mut self.reverse {
            zone.clear();
        }
        let vms: Vec<VmAddresses> = self.vms().cloned().collect();
        for vm in &vms {
            self.tally(vm, Tally::Add);
        }
        changed
    }

    /// Keeps the records digest and the record counts up to date as one VM comes
    /// or goes, so that neither needs a walk over every VM.
    fn tally(&mut self, vm: &VmAddresses, tally: Tally) {
        let hash = self.hasher.hash_one(vm);
        let mut counts = RecordCounts::default();
        let _ = vm.try_for_each_record(|record| {
            counts.count(record.data.record_type());
            Ok::<(), ()>(())
        });
        let mut ptrs = Vec::new();
        let prefixes = self.reverse.iter().map(ReverseZone::prefix);
        for_each_ptr(prefixes, vm, |zone, ptr| {
            ptrs.push((zone, self.hasher.hash_one(ptr.sort_key())));
        });
        for (zone, hash) in ptrs {
            let Some(zone) = self.reverse.get_mut(zone) else {
                continue;
            };
            match tally {
                Tally::Add => zone.add_ptr(hash),
                Tally::Remove => zone.remove_ptr(hash),
            }
        }
        let namespace_digest = self
            .namespace_digests
            .entry(vm.namespace().clone())
            .or_default();
        match tally {
            Tally::Add => {
                *namespace_digest = namespace_digest.wrapping_add(hash);
                self.counts.add(&counts);
            }
            Tally::Remove => {
                *namespace_digest = namespace_digest.wrapping_sub(hash);
                self.counts.subtract(&counts);
            }
        }
        if vm.chosen_names().is_some() {
            let namespace = vm.namespace();
            match tally {
                Tally::Add => *self.chosen.entry(namespace.clone()).or_default() += 1,
                Tally::Remove => {
                    if let Some(count) = self.chosen.get_mut(namespace) {
                        *count -= 1;
                        if *count == 0 {
                            self.chosen.remove(namespace);
                        }
                    }
                }
            }
        }
    }

    /// The chosen names of every namespace that has any, resolved against
    /// the other VMs there.
    fn resolve_chosen(&self) -> impl Iterator<Item = Resolved<'_>> {
        self.chosen.keys().filter_map(|namespace| {
            let vms: Vec<&VmAddresses> = self.vms.get(namespace)?.values().collect();
            Some(resolve(
                &vms,
                self.settings.record_ttl,
                &self.settings.origin,
            ))
        })
    }

    /// The chosen names left out because another name holds them, by
    /// namespace and name: the same set whatever the order of changes.
    pub fn name_collisions(&self) -> Vec<NameCollision> {
        self.resolve_chosen()
            .flat_map(|resolved| resolved.collisions)
            .collect()
    }

    /// VMs in canonical order (namespace, then name).
    pub fn vms(&self) -> impl Iterator<Item = &VmAddresses> {
        self.vms.values().flat_map(BTreeMap::values)
    }

    pub fn vm_count(&self) -> usize {
        self.vms.values().map(BTreeMap::len).sum()
    }

    /// Records by type: the VMs' own and their published chosen names.
    pub fn record_counts(&self) -> RecordCounts {
        let mut counts = self.counts;
        for resolved in self.resolve_chosen() {
            for record in &resolved.records {
                counts.count(record.data.record_type());
            }
        }
        counts
    }

    /// PTR records per reverse zone, in the order of the prefixes.
    pub fn ptr_counts(&self) -> impl Iterator<Item = (Origin, usize)> {
        self.reverse
            .iter()
            .map(|zone| (zone.origin().clone(), zone.ptrs()))
    }

    /// [`Self::publish_with`] this process's clock as the serial source: right
    /// when one writer serves each zone to secondaries.
    pub fn publish_all(&mut self, now: SystemTime) -> Result<Publication, ZoneFileError> {
        self.publish_with(&mut ClockSerials::at(now))
    }

    /// Writes each zone whose records differ from what is on disk, with the
    /// serial `serials` gives its content (greater than every serial before
    /// it). A zone `serials` has no serial for yet is not written
    /// ([`ZoneFileError::AwaitingSerial`]). A new namespace zone is written
    /// before the parent delegates to it; a namespace zone whose namespace is
    /// gone is removed after the parent no longer delegates to it and the
    /// catalog no longer lists it; the catalog lists a zone once its file is
    /// on disk. Every zone is tried even if one fails; the first error is
    /// returned, and what failed is tried again by the next call (what
    /// succeeded is then unchanged).
    pub fn publish_with(
        &mut self,
        serials: &mut dyn SerialSource,
    ) -> Result<Publication, ZoneFileError> {
        self.namespace_digests
            .retain(|namespace, _| self.vms.contains_key(namespace));
        let own = OwnZones::of(self.layout, self.namespace_zone_limit, &self.vms);
        let namespaces = self.namespaces.publish(
            &self.settings,
            &self.vms,
            &own,
            &self.namespace_digests,
            &self.hasher,
            serials,
        );
        let forward = self.forward.publish(
            self.parent_digest(&own),
            &ParentText {
                settings: &self.settings,
                vms: &self.vms,
                own: &own,
            },
            &self.hasher,
            serials,
        );
        let reverse = publish_reverse_zones(
            &mut self.reverse,
            &self.settings,
            &self.vms,
            &self.hasher,
            serials,
        );
        let catalog = self.catalog.as_mut().map(|catalog| {
            let forward = self.forward.is_on_disk().then_some(&self.settings.origin);
            let namespaces = self.namespaces.on_disk_origins(&own);
            let reverse = self
                .reverse
                .iter()
                .filter(|zone| zone.tracked().is_on_disk());
            let members = forward
                .cloned()
                .into_iter()
                .chain(namespaces)
                .chain(reverse.map(|zone| zone.origin().clone()));
            catalog.publish(&self.settings, members.collect(), &self.hasher, serials)
        });
        let removed = match (&forward, &catalog) {
            (Ok(_), None | Some(Ok(_))) => self.namespaces.remove_gone(&self.settings.origin, &own),
            _ => Ok(Vec::new()),
        };
        // Every zone was tried; the forward zone's error first, as before.
        Ok(Publication {
            forward: forward?,
            catalog: catalog.transpose()?,
            namespaces: namespaces?,
            reverse: reverse?,
            removed: removed?,
        })
    }

    /// The digest of what the parent (or the one forward zone) holds, with
    /// the namespaces of `own` delegated.
    fn parent_digest(&self, own: &OwnZones) -> u64 {
        if self.layout == ZoneLayout::Single {
            // The sum of every VM's hash, as each namespace's digest is.
            return self
                .namespace_digests
                .values()
                .fold(0, |sum, digest| sum.wrapping_add(*digest));
        }
        let mut digest = self.hasher.build_hasher();
        for namespace in self.vms.keys() {
            namespace.hash(&mut digest);
            if !own.contains(namespace) {
                self.namespace_digests.get(namespace).hash(&mut digest);
            }
        }
        digest.finish()
    }

    /// Whether every zone file on disk is still the one we last wrote. Someone
    /// may have removed, replaced or edited one; then [`Self::forget_on_disk`]
    /// and publish again.
    pub fn on_disk_is_current(&self) -> Result<bool, ZoneFileError> {
        let namespaces = self.namespaces.tracked();
        let reverse = self.reverse.iter().map(ReverseZone::tracked);
        let catalog = self.catalog.iter().map(CatalogZone::tracked);
        for tracked in std::iter::once(&self.forward)
            .chain(namespaces)
            .chain(reverse)
            .chain(catalog)
        {
            if !tracked.is_current()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Makes the next publish write every zone again, with new serials.
    pub fn forget_on_disk(&mut self) {
        self.forward.forget_on_disk();
        self.namespaces.forget_on_disk();
        for zone in &mut self.reverse {
            zone.forget_on_disk();
        }
        if let Some(catalog) = &mut self.catalog {
            catalog.forget_on_disk();
        }
    }
}
