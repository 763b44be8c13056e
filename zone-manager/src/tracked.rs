//! One tracked zone file: what is on disk (its serial, the digest of its
//! records, its stamp), what a previous run left (adopted when it is exactly what
//! would be written), and the write that keeps serials growing.

use std::fmt::Write;
use std::hash::{BuildHasher, Hasher, RandomState};

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::name::Origin;
use crate::read_back::read_serial;
use crate::serial::{Content, ContentDigest, Serial, SerialSource};
use crate::zone_file::{FileStamp, ZoneFile, ZoneFileError, ZonesDir};

/// What [`crate::ZoneManager::publish`] did to one zone file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The records are what is already on disk: nothing written, serial kept.
    Unchanged(Serial),
    /// The file found at startup already holds exactly these records: adopted as is.
    Adopted(Serial),
    /// A new zone file with a new serial was renamed into place.
    Written { serial: Serial, bytes: usize },
}

impl Published {
    pub fn serial(self) -> Serial {
        match self {
            Published::Unchanged(s) | Published::Adopted(s) => s,
            Published::Written { serial, .. } => serial,
        }
    }
}

/// What we know is on disk, without keeping 100k VMs' worth of text in memory:
/// the digest of the records it holds and the file's stamp.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OnDisk {
    serial: Serial,
    /// Digest of the records (not of their text: hashing 100k VMs is far cheaper
    /// than rendering them, and the text is a function of them).
    records_digest: u64,
    stamp: FileStamp,
}

/// A zone file found at startup that is exactly what we would write with its
/// serial, but for the records: kept until the first publish compares them.
#[derive(Clone, Copy, Debug)]
struct FoundAtStartup {
    serial: Serial,
    /// Digest of the text after the header.
    body_text_digest: u64,
    stamp: FileStamp,
}

/// The text of one zone: a header that depends on the serial, and a body.
pub(crate) trait ZoneText {
    fn origin(&self) -> Origin;
    fn header<W: Write + ?Sized>(&self, serial: Serial, out: &mut W) -> std::fmt::Result;
    fn body<W: Write + ?Sized>(&self, out: &mut W) -> std::fmt::Result;
}

/// One zone file and what we know of it: serials, what is on disk, what a
/// previous run left.
pub(crate) struct TrackedFile {
    file: ZoneFile,
    /// The last serial seen or written, so that the next one is greater.
    last_serial: Option<Serial>,
    on_disk: Option<OnDisk>,
    /// The zone file found at startup, until the first publish compares with it.
    found_at_startup: Option<FoundAtStartup>,
    /// The content digest of the records last published or awaiting a serial,
    /// so that the passes of one publish render the zone once for it.
    content: Option<(u64, ContentDigest)>,
}

impl TrackedFile {
    /// Reads back what a previous run left at `<dir>/db.<origin>`.
    pub(crate) fn open(dir: &ZonesDir, text: &impl ZoneText, hasher: &RandomState) -> Self {
        let file = ZoneFile::new(dir.clone(), &text.origin());
        let (last_serial, found_at_startup) = read_previous_zone(&file, text, hasher);
        Self {
            file,
            last_serial,
            on_disk: None,
            found_at_startup,
            content: None,
        }
    }

    pub(crate) fn file(&self) -> &ZoneFile {
        &self.file
    }

    /// Whether a file we wrote or adopted is on disk.
    pub(crate) fn is_on_disk(&self) -> bool {
        self.on_disk.is_some()
    }

    /// Forgets what is on disk: the next publish writes the file again.
    pub(crate) fn forget_on_disk(&mut self) {
        self.on_disk = None;
    }

    /// The serial on disk if the file there holds exactly `records_digest`.
    pub(crate) fn unchanged(&self, records_digest: u64) -> Option<Serial> {
        self.on_disk
            .filter(|on_disk| on_disk.records_digest == records_digest)
            .map(|on_disk| on_disk.serial)
    }

    /// Writes the zone if its records differ from what is on disk, with the
    /// serial `serials` gives its content (greater than every serial before it
    /// here). On error nothing changes on disk or here, so calling it again
    /// retries; [`ZoneFileError::AwaitingSerial`] when `serials` has none yet.
    pub(crate) fn publish(
        &mut self,
        records_digest: u64,
        text: &impl ZoneText,
        hasher: &RandomState,
        serials: &mut dyn SerialSource,
    ) -> Result<Published, ZoneFileError> {
        if let Some(serial) = self.unchanged(records_digest) {
            return Ok(Published::Unchanged(serial));
        }
        let origin = text.origin();
        // Rendered only if `serials` asks, and once per change of the records.
        let cache = &mut self.content;
        let mut unrenderable = false;
        let mut render = || {
            if let Some((digest, content)) = *cache
                && digest == records_digest
            {
                return Some(content);
            }
            let content = content_digest(text);
            unrenderable = content.is_none();
            *cache = content.map(|content| (records_digest, content));
            content
        };
        let mut content = Content::new(&mut render);
        // A restart with the same records keeps the file and its serial: no
        // reload, no zone transfer, nothing for anyone to notice.
        if let Some(found) = self.found_at_startup {
            let mut digest = TextDigest(hasher.build_hasher());
            if text.body(&mut digest).is_err() {
                return Err(render_error(&self.file));
            }
            if digest.0.finish() != found.body_text_digest {
                self.found_at_startup = None;
            } else if serials.keeps(&origin, &mut content, found.serial) {
                self.found_at_startup = None;
                self.on_disk = Some(OnDisk {
                    serial: found.serial,
                    records_digest,
                    stamp: found.stamp,
                });
                return Ok(Published::Adopted(found.serial));
            }
        }

        let serial = serials.serial_for(&origin, &mut content, self.last_serial);
        let Some(serial) = serial else {
            return Err(if unrenderable {
                render_error(&self.file)
            } else {
                ZoneFileError::AwaitingSerial { zone: origin }
            });
        };
        let written = self.file.write_atomic_with(|out| {
            text.header(serial, out)?;
            text.body(out)
        })?;
        self.found_at_startup = None;
        self.last_serial = Some(serial);
        self.on_disk = Some(OnDisk {
            serial,
            records_digest,
            stamp: written.stamp,
        });
        Ok(Published::Written {
            serial,
            bytes: written.bytes as usize,
        })
    }

    pub(crate) fn is_current(&self) -> Result<bool, ZoneFileError> {
        let Some(on_disk) = self.on_disk else {
            return Ok(false);
        };
        let stamp = self.file.stamp().map_err(|source| ZoneFileError::Read {
            path: self.file.path().to_path_buf(),
            source,
        })?;
        Ok(stamp == Some(on_disk.stamp))
    }
}

/// Reads back the zone file a previous run left: its serial, so that serials keep
/// growing, and whether it is exactly what we would write (then it may be kept).
/// Anything unusable is reported and replaced on the first publish.
fn read_previous_zone(
    file: &ZoneFile,
    text: &impl ZoneText,
    hasher: &RandomState,
) -> (Option<Serial>, Option<FoundAtStartup>) {
    let path = file.path().display().to_string();
    let stamp = match file.stamp() {
        Ok(Some(stamp)) => stamp,
        Ok(None) => return (None, None),
        Err(e) => {
            warn!(path, error = %e, "previous zone file is unreadable; it will be replaced");
            return (None, None);
        }
    };
    let content = match file.read() {
        Ok(Some(content)) => content,
        Ok(None) => return (None, None),
        Err(e) => {
            warn!(path, error = %e, "previous zone file is unreadable; it will be replaced");
            return (None, None);
        }
    };
    let serial = match read_serial(&content, &text.origin()) {
        Ok(serial) => serial,
        Err(e) => {
            warn!(path, error = %e,
                "previous zone file is unusable; it will be replaced and the serial restarts from the clock");
            return (None, None);
        }
    };
    info!(path, %serial, "found previous zone file");
    let mut header = String::new();
    // Writing to a String cannot fail.
    let _ = text.header(serial, &mut header);
    let found = content.strip_prefix(header.as_str()).map(|body| {
        let mut text = TextDigest(hasher.build_hasher());
        let _ = text.write_str(body);
        FoundAtStartup {
            serial,
            body_text_digest: text.0.finish(),
            stamp,
        }
    });
    (Some(serial), found)
}

fn render_error(file: &ZoneFile) -> ZoneFileError {
    ZoneFileError::Render {
        path: file.path().to_path_buf(),
    }
}

/// What the zone holds, its serial aside: the text rendered with serial 0
/// into a SHA-256. `None` when the text cannot be rendered.
fn content_digest(text: &impl ZoneText) -> Option<ContentDigest> {
    let mut sha = ShaText(Sha256::new());
    text.header(Serial::new(0), &mut sha)
        .and_then(|()| text.body(&mut sha))
        .ok()?;
    let mut octets = [0; 16];
    octets.copy_from_slice(&sha.0.finalize()[..16]);
    Some(ContentDigest::new(octets))
}

/// The SHA-256 of text written to it, chunk by chunk, as if it were one string.
struct ShaText(Sha256);

impl std::fmt::Write for ShaText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Digest of text written to it, chunk by chunk, as if it were one string.
struct TextDigest<H: Hasher>(H);

impl<H: Hasher> std::fmt::Write for TextDigest<H> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}
