//! The RFC 9432 catalog zone: one `<id>.zones PTR <zone>` per zone this
//! manager writes, so that a secondary that follows the catalog adds and drops
//! namespace zones without anyone editing its configuration.

use std::fmt::Write;
use std::hash::{BuildHasher, RandomState};

use sha2::{Digest, Sha256};

use crate::name::Origin;
use crate::record::{Labels, Name, Owner, Record, RecordData};
use crate::render::{write_header, write_record};
use crate::serial::{Serial, SerialSource};
use crate::settings::ZoneSettings;
use crate::tracked::{Published, TrackedFile, ZoneText};
use crate::zone_file::{ZoneFileError, ZonesDir};

/// The catalog zone's file and what it lists.
pub(crate) struct CatalogZone {
    origin: Origin,
    tracked: TrackedFile,
}

impl CatalogZone {
    /// Reads back what a previous run left in `db.<origin>`.
    pub(crate) fn open(
        dir: &ZonesDir,
        settings: &ZoneSettings,
        origin: Origin,
        hasher: &RandomState,
    ) -> Self {
        let text = CatalogText {
            settings,
            origin: &origin,
            members: &[],
        };
        let tracked = TrackedFile::open(dir, &text, hasher);
        Self { origin, tracked }
    }

    pub(crate) fn tracked(&self) -> &TrackedFile {
        &self.tracked
    }

    pub(crate) fn forget_on_disk(&mut self) {
        self.tracked.forget_on_disk();
    }

    /// Writes the catalog if its members (every zone file on disk and wanted)
    /// differ from what is on disk.
    pub(crate) fn publish(
        &mut self,
        settings: &ZoneSettings,
        mut members: Vec<Origin>,
        hasher: &RandomState,
        serials: &mut dyn SerialSource,
    ) -> Result<(Origin, Published), ZoneFileError> {
        members.sort_by_cached_key(Origin::to_string);
        let digest = hasher.hash_one(&members);
        let text = CatalogText {
            settings,
            origin: &self.origin,
            members: &members,
        };
        let published = self.tracked.publish(digest, &text, hasher, serials)?;
        Ok((self.origin.clone(), published))
    }
}

/// The catalog's text: the usual header, `NS invalid.` (RFC 9432 §4.1: a
/// catalog is not meant to be resolved), schema version 2, then the members.
struct CatalogText<'a> {
    settings: &'a ZoneSettings,
    origin: &'a Origin,
    members: &'a [Origin],
}

impl ZoneText for CatalogText<'_> {
    fn origin(&self) -> Origin {
        self.origin.clone()
    }
    fn header<W: Write + ?Sized>(&self, serial: Serial, out: &mut W) -> std::fmt::Result {
        write_header(self.settings, self.origin, serial, out)
    }
    fn body<W: Write + ?Sized>(&self, out: &mut W) -> std::fmt::Result {
        let invalid = Name {
            labels: Labels::fixed(&["invalid"]),
            origin: None,
        };
        write_record(out, &Record::new(Owner::Apex, RecordData::Ns(invalid)))?;
        let version = Owner::Below(Labels::fixed(&["version"]));
        write_record(out, &Record::new(version, RecordData::Txt("2")))?;
        for member in self.members {
            let id = member_id(member);
            let target = Name {
                labels: Labels::NONE,
                origin: Some(member),
            };
            let owner = Owner::Below(Labels::fixed(&[id.as_str(), "zones"]));
            write_record(out, &Record::new(owner, RecordData::Ptr(target)))?;
        }
        Ok(())
    }
}

/// A member's unique id (RFC 9432 §4.3): the first 16 octets of the SHA-256
/// of its name in wire form, in hex. Derived from the name alone, so every
/// replica and every restart gives a zone the same id: a secondary sees a
/// changed id as a zone removed and added again, and would drop its copy.
pub fn member_id(member: &Origin) -> String {
    let mut wire = Vec::with_capacity(member.text_len() + 2);
    for label in member.to_string().split_terminator('.') {
        // Labels are at most 63 octets (checked by `Label::new`).
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    let digest = Sha256::digest(&wire);
    let mut id = String::with_capacity(32);
    for byte in &digest[..16] {
        // Writing to a String cannot fail.
        let _ = write!(id, "{byte:02x}");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_stable_distinct_labels() {
        let forward = Origin::for_domain("example.com").unwrap();
        let id = member_id(&forward);
        assert_eq!(id.len(), 32);
        assert!(crate::name::Label::new(&id).is_ok(), "{id}");
        // Fixed forever: a new id would make secondaries drop and re-add the
        // zone. `printf '\x02vm\x07example\x03com\x00' | sha256sum`:
        assert_eq!(id, "49533789d4edb5c579780f7ef9ea529f");
        let other = Origin::parse("tenant.vm.example.com").unwrap();
        assert_ne!(member_id(&other), id);
        assert_eq!(member_id(&Origin::parse("VM.Example.COM.").unwrap()), id);
    }
}
