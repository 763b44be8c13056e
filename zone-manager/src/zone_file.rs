//! The zone file on disk: atomic replacement, crash leftovers, reading the serial back.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;

use crate::name::Origin;
use crate::serial::Serial;

/// Prefix of our temporary files. CoreDNS's `auto` plugin walks the directory
/// recursively with an unanchored `db\.(.*)`, so a temporary name must never
/// contain `db.`: this prefix does not, and tempfile adds only alphanumerics.
pub const TEMP_PREFIX: &str = ".zone-manager-staging-";

/// Mode of the zone file: CoreDNS runs as another user and must read it.
const ZONE_FILE_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum ZoneFileError {
    #[error("cannot write zone file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read zone file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

/// `<ZONES_DIR>/db.<origin>`.
#[derive(Clone, Debug)]
pub struct ZoneFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ZoneFile {
    pub fn new(dir: impl Into<PathBuf>, origin: &Origin) -> Self {
        let dir = dir.into();
        let path = dir.join(origin.file_name());
        Self { dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current content, `None` when there is no zone file.
    pub fn read(&self) -> Result<Option<String>, ZoneFileError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ZoneFileError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the zone file so that a reader sees either the old or the new
    /// content, never a mix: write a temporary file in the same directory, fsync
    /// it, rename it over the zone, fsync the directory. On any failure the
    /// temporary file is removed and the previous zone stays as it was.
    pub fn write_atomic(&self, content: &str) -> Result<(), ZoneFileError> {
        self.try_write_atomic(content)
            .map_err(|source| ZoneFileError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn try_write_atomic(&self, content: &str) -> io::Result<()> {
        // Dropping `staged` on an error path deletes the temporary file.
        let mut staged = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)?;
        staged.write_all(content.as_bytes())?;
        staged
            .as_file()
            .set_permissions(Permissions::from_mode(ZONE_FILE_MODE))?;
        staged.as_file().sync_all()?;
        staged.persist(&self.path).map_err(|e| e.error)?;
        File::open(&self.dir)?.sync_all()
    }

    /// Removes temporary files a crash left behind; returns how many.
    pub fn remove_stale_temporaries(&self) -> io::Result<usize> {
        let mut removed = 0;
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Why the serial of an existing zone file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SerialReadError {
    #[error("it does not parse as a zone: {0}")]
    Parse(String),
    #[error("it has no SOA record for {0}")]
    NoSoa(String),
}

/// The SOA serial of zone-file text, parsed with a real zone parser.
pub fn read_serial(content: &str, origin: &Origin) -> Result<Serial, SerialReadError> {
    let origin_name =
        Name::from_ascii(origin.to_string()).map_err(|e| SerialReadError::Parse(e.to_string()))?;
    let apex = LowerName::from(origin_name.clone());
    let (_, records) = Parser::new(content, None, Some(origin_name))
        .parse()
        .map_err(|e| SerialReadError::Parse(e.to_string()))?;
    records
        .iter()
        .filter(|(key, _)| key.record_type == RecordType::SOA && key.name == apex)
        .flat_map(|(_, set)| set.records_without_rrsigs())
        .find_map(|record| match &record.data {
            RData::SOA(soa) => Some(Serial::new(soa.serial)),
            _ => None,
        })
        .ok_or_else(|| SerialReadError::NoSoa(origin.to_string()))
}
