//! The reverse zones: one tracked file per prefix, with a digest of its PTRs
//! kept up to date as VMs come and go, rewritten only when that digest changed.

use std::collections::BTreeMap;
use std::hash::RandomState;

use crate::name::{Label, Origin};
use crate::publication::all_or_first_error;
use crate::reverse::ReversePrefix;
use crate::serial::SerialSource;
use crate::settings::ZoneSettings;
use crate::texts::{ReverseText, collect_ptrs};
use crate::tracked::{Published, TrackedFile};
use crate::vm_addresses::VmAddresses;
use crate::zone_file::{ZoneFileError, ZonesDir};

/// A reverse zone: its prefix, its file and a digest of its PTRs kept up to date
/// like the forward zone's.
pub(crate) struct ReverseZone {
    prefix: ReversePrefix,
    origin: Origin,
    tracked: TrackedFile,
    records_digest: u64,
    ptrs: usize,
}

impl ReverseZone {
    /// Reads back what a previous run left in `db.<prefix's origin>`.
    pub(crate) fn open(
        dir: &ZonesDir,
        settings: &ZoneSettings,
        prefix: ReversePrefix,
        hasher: &RandomState,
    ) -> Self {
        let origin = prefix.origin();
        let text = ReverseText {
            settings,
            prefix: &prefix,
            origin: &origin,
            ptrs: &[],
        };
        let tracked = TrackedFile::open(dir, &text, hasher);
        Self {
            prefix,
            origin,
            tracked,
            records_digest: 0,
            ptrs: 0,
        }
    }

    pub(crate) fn prefix(&self) -> &ReversePrefix {
        &self.prefix
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// How many PTRs it holds.
    pub(crate) fn ptrs(&self) -> usize {
        self.ptrs
    }

    pub(crate) fn tracked(&self) -> &TrackedFile {
        &self.tracked
    }

    pub(crate) fn forget_on_disk(&mut self) {
        self.tracked.forget_on_disk();
    }

    /// A PTR, by the hash of its sort key, joins the zone.
    pub(crate) fn add_ptr(&mut self, hash: u64) {
        self.records_digest = self.records_digest.wrapping_add(hash);
        self.ptrs += 1;
    }

    /// A PTR added with [`Self::add_ptr`] leaves.
    pub(crate) fn remove_ptr(&mut self, hash: u64) {
        self.records_digest = self.records_digest.wrapping_sub(hash);
        self.ptrs -= 1;
    }

    /// No PTR: before every VM is tallied again.
    pub(crate) fn clear(&mut self) {
        self.records_digest = 0;
        self.ptrs = 0;
    }
}

/// Writes each reverse zone whose PTRs changed; after a failure the others
/// are still tried.
pub(crate) fn publish_reverse_zones(
    zones: &mut [ReverseZone],
    settings: &ZoneSettings,
    vms: &BTreeMap<Label, BTreeMap<Label, VmAddresses>>,
    hasher: &RandomState,
    serials: &mut dyn SerialSource,
) -> Result<Vec<(Origin, Published)>, ZoneFileError> {
    let mut reverse = Vec::with_capacity(zones.len());
    for index in 0..zones.len() {
        let digest = zones[index].records_digest;
        let outcome = match zones[index].tracked.unchanged(digest) {
            Some(serial) => Ok(Published::Unchanged(serial)),
            None => {
                let prefixes = zones.iter().map(|zone| &zone.prefix);
                let ptrs = collect_ptrs(prefixes, index, vms);
                let zone = &mut zones[index];
                zone.tracked.publish(
                    digest,
                    &ReverseText {
                        settings,
                        prefix: &zone.prefix,
                        origin: &zone.origin,
                        ptrs: &ptrs,
                    },
                    hasher,
                    serials,
                )
            }
        };
        reverse.push(outcome.map(|published| (zones[index].origin.clone(), published)));
    }
    all_or_first_error(reverse)
}
