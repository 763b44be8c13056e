//! The zone file on disk: atomic replacement, crash leftovers, reading the serial back.

use std::fmt;
use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::name::Origin;

/// Prefix of our temporary files. CoreDNS's `auto` plugin walks the directory
/// recursively with an unanchored `db\.(.*)`, so a temporary name must never
/// contain `db.`: this prefix does not, and tempfile adds only alphanumerics.
pub const TEMP_PREFIX: &str = ".zone-manager-staging-";

/// Where the zone files live (the directory the DNS server reads) and where
/// they are staged before the rename that publishes them.
///
/// Staging outside the zones directory keeps temporary files out of the
/// server's view: CoreDNS's `auto` lists the directory, then stats each entry,
/// and warns for every temporary file renamed or removed in between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonesDir {
    zones: PathBuf,
    staging: PathBuf,
}

impl ZonesDir {
    /// Zone files in `zones`, staged there too.
    pub fn new(zones: impl Into<PathBuf>) -> Self {
        let zones = zones.into();
        Self {
            staging: zones.clone(),
            zones,
        }
    }

    /// Stages in `staging`, which must be on the zones directory's filesystem
    /// (a rename across filesystems is no rename): [`Self::prepare`] checks.
    pub fn staging_in(mut self, staging: impl Into<PathBuf>) -> Self {
        self.staging = staging.into();
        self
    }

    pub fn zones(&self) -> &Path {
        &self.zones
    }

    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Creates both directories (again, when someone removed them) and checks
    /// that a staged file can be renamed into the zones directory.
    pub fn prepare(&self) -> Result<(), ZoneFileError> {
        let create = |path: &Path| {
            fs::create_dir_all(path)
                .and_then(|()| fs::metadata(path))
                .map_err(|source| ZoneFileError::Write {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let zones = create(&self.zones)?;
        let staging = create(&self.staging)?;
        if zones.dev() != staging.dev() {
            return Err(ZoneFileError::StagingElsewhere {
                staging: self.staging.clone(),
                zones: self.zones.clone(),
            });
        }
        Ok(())
    }
}

impl From<&Path> for ZonesDir {
    fn from(zones: &Path) -> Self {
        Self::new(zones)
    }
}

impl From<PathBuf> for ZonesDir {
    fn from(zones: PathBuf) -> Self {
        Self::new(zones)
    }
}

impl From<&PathBuf> for ZonesDir {
    fn from(zones: &PathBuf) -> Self {
        Self::new(zones)
    }
}

/// Mode of the zone file: CoreDNS runs as another user and must read it.
const ZONE_FILE_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum ZoneFileError {
    #[error("cannot write zone file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read zone file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The text itself could not be produced (a formatter failed without any
    /// I/O error); nothing was written.
    #[error("cannot render zone file {path}")]
    Render { path: PathBuf },
    /// Files staged there could not be renamed into the zones directory.
    #[error(
        "the staging directory {staging} is not on the filesystem of the zones directory {zones}"
    )]
    StagingElsewhere { staging: PathBuf, zones: PathBuf },
    /// The serial source has no serial for the zone's new content yet (a
    /// ledger shared with other replicas is asked, then it is published).
    #[error("zone {zone} awaits a serial for its new content")]
    AwaitingSerial { zone: Origin },
}

/// Why one atomic write failed, before it is told which file it was.
enum WriteFailure {
    Io(io::Error),
    Render,
}

impl From<io::Error> for WriteFailure {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Identity and version of a file: a file removed, replaced or edited in place gets
/// another stamp. Cheap to take, unlike re-reading a 20 MB zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified_ns: i128,
}

impl FileStamp {
    pub fn of(meta: &fs::Metadata) -> Self {
        Self {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// What a successful write left on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub stamp: FileStamp,
    pub bytes: u64,
}

/// Where a zone is rendered: text gathered in 256 KiB chunks written to the
/// temporary file, so that the zone is never held whole in memory and the render
/// loop stays a plain `push_str`. Keeps the I/O error `fmt::Error` cannot carry.
pub struct ZoneWriter<'a> {
    chunk: String,
    file: &'a mut File,
    error: Option<io::Error>,
    bytes: u64,
}

const CHUNK: usize = 256 * 1024;

impl<'a> ZoneWriter<'a> {
    fn new(file: &'a mut File) -> Self {
        Self {
            chunk: String::with_capacity(CHUNK + 4096),
            file,
            error: None,
            bytes: 0,
        }
    }

    fn flush_chunk(&mut self) -> fmt::Result {
        let result = self.file.write_all(self.chunk.as_bytes());
        self.bytes += self.chunk.len() as u64;
        self.chunk.clear();
        result.map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

impl fmt::Write for ZoneWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.chunk.push_str(s);
        if self.chunk.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }
}

/// `<ZONES_DIR>/db.<origin>`.
#[derive(Clone, Debug)]
pub struct ZoneFile {
    dir: ZonesDir,
    path: PathBuf,
}

impl ZoneFile {
    pub fn new(dir: impl Into<ZonesDir>, origin: &Origin) -> Self {
        let dir = dir.into();
        let path = dir.zones.join(origin.file_name());
        Self { dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The zones directory.
    pub fn dir(&self) -> &Path {
        &self.dir.zones
    }

    pub fn zones_dir(&self) -> &ZonesDir {
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
    /// content, never a mix: write a temporary file in the staging directory
    /// (on the same filesystem), fsync it, rename it over the zone, fsync the
    /// zones directory. On any failure the
    /// temporary file is removed and the previous zone stays as it was.
    /// The file is what `render` writes: streamed through a buffer into the
    /// temporary file, so that a 20 MB zone is never held in memory as text.
    pub fn write_atomic_with(
        &self,
        render: impl FnOnce(&mut ZoneWriter<'_>) -> fmt::Result,
    ) -> Result<Written, ZoneFileError> {
        self.try_write_atomic(render)
            .map_err(|failure| match failure {
                WriteFailure::Io(source) => ZoneFileError::Write {
                    path: self.path.clone(),
                    source,
                },
                WriteFailure::Render => ZoneFileError::Render {
                    path: self.path.clone(),
                },
            })
    }

    fn try_write_atomic(
        &self,
        render: impl FnOnce(&mut ZoneWriter<'_>) -> fmt::Result,
    ) -> Result<Written, WriteFailure> {
        // A directory removed while running: make it again rather than fail forever.
        for dir in [&self.dir.zones, &self.dir.staging] {
            if !dir.is_dir() {
                fs::create_dir_all(dir)?;
            }
        }
        // Dropping `staged` on an error path deletes the temporary file.
        let mut staged = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir.staging)?;
        let mut out = ZoneWriter::new(staged.as_file_mut());
        if render(&mut out).and_then(|()| out.flush_chunk()).is_err() {
            return Err(out
                .error
                .take()
                .map_or(WriteFailure::Render, WriteFailure::Io));
        }
        let bytes = out.bytes;
        drop(out);
        staged
            .as_file()
            .set_permissions(Permissions::from_mode(ZONE_FILE_MODE))?;
        staged.as_file().sync_all()?;
        let stamp = FileStamp::of(&staged.as_file().metadata()?);
        staged.persist(&self.path).map_err(|e| e.error)?;
        File::open(&self.dir.zones)?.sync_all()?;
        Ok(Written { stamp, bytes })
    }

    /// The stamp of the zone file now; `None` when there is none.
    pub fn stamp(&self) -> io::Result<Option<FileStamp>> {
        match fs::metadata(&self.path) {
            Ok(meta) => Ok(Some(FileStamp::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes temporary files a crash left behind, and says so: in the
    /// staging directory, and in the zones directory where earlier versions
    /// staged.
    pub(crate) fn clean_up_after_a_crash(&self) {
        let mut dirs = vec![&self.dir.staging];
        if self.dir.zones != self.dir.staging {
            dirs.push(&self.dir.zones);
        }
        for dir in dirs {
            let shown = dir.display();
            match remove_stale_temporaries(dir) {
                Ok(0) => {}
                Ok(n) => {
                    info!(dir = %shown, removed = n, "removed temporary files left by a crash")
                }
                Err(e) => warn!(dir = %shown, error = %e, "cannot remove stale temporary files"),
            }
        }
    }
}

/// Removes the temporary files a crash left in `dir`; returns how many.
fn remove_stale_temporaries(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::for_domain("example.com").unwrap()
    }

    #[test]
    fn a_render_that_fails_leaves_the_previous_zone_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let file = ZoneFile::new(dir.path(), &origin());
        file.write_atomic_with(|out| fmt::Write::write_str(out, "old\n"))
            .unwrap();
        let error = file
            .write_atomic_with(|out| {
                fmt::Write::write_str(out, "half")?;
                Err(fmt::Error)
            })
            .unwrap_err();
        assert!(matches!(error, ZoneFileError::Render { .. }), "{error}");
        assert_eq!(fs::read_to_string(file.path()).unwrap(), "old\n");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
