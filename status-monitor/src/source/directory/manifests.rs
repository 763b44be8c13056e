//! Reading VMIs from manifest files: YAML (one or many documents) or JSON, single
//! objects or lists exactly as `kubectl get vmi -A -o yaml|json` prints them.
//!
//! Files are streamed: a parser thread reads the file through
//! [`crate::vmi::decode`] and hands VMIs over a small bounded channel, so
//! neither the text nor a whole list is ever held, and decoding runs beside
//! what the reader does with the VMIs. A JSON list is split into its items
//! first (see [`super::json_split`]), each then decoded from its own text.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use serde::de::DeserializeSeed;
use serde::{Deserialize, Deserializer};
use tracing::info;

use super::json_split::split_json;
use crate::vmi::decode::{DecodeError, ObjectSeed, ObjectSink};
use crate::vmi::{VirtualMachineInstance, VmiRef};

/// Why a manifest file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the parser of {path} stopped unexpectedly")]
    ParserGone { path: PathBuf },
}

impl ManifestError {
    fn json(path: &Path, source: serde_json::Error) -> Self {
        Self::Json {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A VMI read from a manifest, decoded or not.
pub type ReadVmi = Result<VirtualMachineInstance, DecodeError>;

/// VMIs go from the parser to the reader in batches of this many: one
/// hand-over per VMI would cost more in thread wake-ups than the decoding.
const BATCH: usize = 256;
/// Files are read this much at a time.
const READ_BUFFER: usize = 1 << 20;
/// How many batches may wait between the parser and the reader.
const IN_FLIGHT: usize = 4;

/// Files a path stands for: itself, or every `.yaml`, `.yml` and `.json` file
/// below a directory, in a stable (sorted) order. Hidden files are left out
/// (editors' swap files, our own staging files).
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(read_error)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| ManifestError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ManifestError::Read {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if is_manifest(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a file name looks like a manifest.
pub fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The content digest of a file, as [`read_vmis`] computes it while reading.
pub fn digest(path: &Path) -> Result<u64, ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = Digesting::new(File::open(path).map_err(read_error)?);
    io::copy(&mut reader, &mut io::sink()).map_err(read_error)?;
    Ok(reader.finish())
}

/// Streams the VMIs of one file to `on_vmi`, in file order, and returns the
/// file's digest. Objects of other kinds are left out with a note. On an error
/// some VMIs may already have been handed out: the caller keeps them apart
/// until this returns `Ok`.
pub fn read_vmis(path: &Path, on_vmi: impl FnMut(ReadVmi)) -> Result<u64, ManifestError> {
    let file = File::open(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let format = if path.extension().is_some_and(|e| e == "json") {
        Format::Json
    } else {
        Format::Yaml
    };
    read_vmis_from(path, file, format, on_vmi)
}

/// How a manifest is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// One or many documents.
    Yaml,
}

/// [`read_vmis`] from any reader; `path` names it in messages.
pub fn read_vmis_from(
    path: &Path,
    reader: impl Read + Send,
    format: Format,
    mut on_vmi: impl FnMut(ReadVmi),
) -> Result<u64, ManifestError> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let parser = scope.spawn(move || {
            let mut reader = Digesting::new(reader);
            match format {
                Format::Json => parse_json(path, &mut reader, tx)?,
                Format::Yaml => parse_yaml(path, &mut reader, ChannelSink::new(path, tx))?,
            }
            Ok(reader.finish())
        });
        let drained = rx.iter().try_for_each(|batch| {
            let vmis = match batch {
                Batch::Decoded(vmis) => vmis,
                Batch::Pieces(pieces) => pieces
                    .decode(path)
                    .map_err(|source| ManifestError::json(path, source))?,
            };
            vmis.into_iter().for_each(&mut on_vmi);
            Ok(())
        });
        // Unblocks the parser if the reading side stopped early.
        drop(rx);
        let digest = parser.join().unwrap_or_else(|_| {
            Err(ManifestError::ParserGone {
                path: path.to_path_buf(),
            })
        });
        drained.and(digest)
    })
}

/// What the parser thread hands over, in file order.
enum Batch {
    Decoded(Vec<ReadVmi>),
    /// Items of a JSON list, for the reader to decode.
    Pieces(JsonPieces),
}

/// JSON texts, back to back, each one object (see [`split_json`]).
#[derive(Default)]
struct JsonPieces {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl JsonPieces {
    fn push(&mut self, piece: &[u8]) {
        self.text.extend_from_slice(piece);
        self.ends.push(self.text.len());
    }

    fn decode(&self, path: &Path) -> Result<Vec<ReadVmi>, serde_json::Error> {
        let mut sink = VecSink {
            path,
            vmis: Vec::with_capacity(self.ends.len()),
        };
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        for (start, &end) in starts.zip(&self.ends) {
            let mut deserializer = serde_json::Deserializer::from_slice(&self.text[start..end]);
            ObjectSeed(&mut sink).deserialize(&mut deserializer)?;
            deserializer.end()?;
        }
        Ok(sink.vmis)
    }
}

/// The reader stopped on an error of its own, which is the one reported.
fn reader_stopped() -> serde_json::Error {
    serde::de::Error::custom("the reader stopped")
}

/// Collects the VMIs of JSON pieces; notes the other objects.
struct VecSink<'p> {
    path: &'p Path,
    vmis: Vec<ReadVmi>,
}

impl ObjectSink for VecSink<'_> {
    fn vmi(&mut self, vmi: ReadVmi) {
        self.vmis.push(vmi);
    }

    fn other(&mut self, kind: &str, object: VmiRef) {
        note_other(self.path, kind, &object);
    }
}

fn note_other(path: &Path, kind: &str, object: &VmiRef) {
    info!(
        file = %path.display(),
        kind = kind.escape_debug().to_string(),
        %object,
        "ignoring an object that is not a VirtualMachineInstance"
    );
}

/// Splits a JSON file into its list items (see [`split_json`]) and hands them
/// over as text while the reader keeps up; when it does not, the parser
/// decodes a batch itself. Decoding is most of the work, so this keeps both
/// cores busy whichever side is slower.
fn parse_json(
    path: &Path,
    reader: &mut Digesting<impl Read>,
    tx: SyncSender<Batch>,
) -> Result<(), ManifestError> {
    let hand_over = |pieces: JsonPieces| {
        if pieces.ends.is_empty() {
            return Ok(());
        }
        let batch = match tx.try_send(Batch::Pieces(pieces)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(Batch::Pieces(pieces))) => Batch::Decoded(pieces.decode(path)?),
            Err(_) => return Err(reader_stopped()),
        };
        tx.send(batch).map_err(|_| reader_stopped())
    };
    let mut pieces = JsonPieces::default();
    let split = split_json(reader, |piece| {
        pieces.push(piece);
        if pieces.ends.len() < BATCH {
            return Ok(());
        }
        hand_over(std::mem::take(&mut pieces))
    });
    // What came before an error goes over too, as with every stream.
    let last = hand_over(pieces);
    split
        .and(last)
        .map_err(|source| ManifestError::json(path, source))
}

thread_local! {
    /// The parser thread's sink for [`YamlDocument`]: serde-saphyr's
    /// multi-document reader takes a type, not a seed, so the seed's sink is
    /// handed over here. Set only inside a parser thread, for its lifetime.
    static YAML_SINK: RefCell<Option<(PathBuf, SyncSender<Batch>)>> = const { RefCell::new(None) };
}

/// One YAML document, its VMIs sent to the thread's [`YAML_SINK`].
struct YamlDocument;

impl<'de> Deserialize<'de> for YamlDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Some((path, tx)) = YAML_SINK.with(|sink| sink.borrow().clone()) else {
            return Err(serde::de::Error::custom("no sink for YAML documents"));
        };
        ObjectSeed(&mut ChannelSink::new(&path, tx)).deserialize(deserializer)?;
        Ok(YamlDocument)
    }
}

fn parse_yaml(
    path: &Path,
    reader: &mut Digesting<impl Read>,
    sink: ChannelSink<'_>,
) -> Result<(), ManifestError> {
    YAML_SINK.with(|slot| *slot.borrow_mut() = Some((path.to_path_buf(), sink.tx.clone())));
    drop(sink);
    // Lists of 100k VMIs are legitimate here; depth, alias and anchor limits
    // keep their defaults against hostile files.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: None,
            max_events: usize::MAX,
            max_nodes: usize::MAX,
            max_documents: usize::MAX,
            max_total_scalar_bytes: usize::MAX,
        },
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let result = serde_saphyr::read_with_options::<_, YamlDocument>(&mut reader, options)
        .find_map(Result::err)
        .map_or(Ok(()), |e| {
            Err(ManifestError::Yaml {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        });
    YAML_SINK.with(|slot| slot.borrow_mut().take());
    result
}

/// Sends a file's VMIs to the reading thread, in batches (the last one when
/// dropped); notes the other objects.
struct ChannelSink<'p> {
    path: &'p Path,
    tx: SyncSender<Batch>,
    batch: Vec<ReadVmi>,
}

impl<'p> ChannelSink<'p> {
    fn new(path: &'p Path, tx: SyncSender<Batch>) -> Self {
        Self {
            path,
            tx,
            batch: Vec::with_capacity(BATCH),
        }
    }

    fn push(&mut self, vmi: ReadVmi) {
        self.batch.push(vmi);
        if self.batch.len() == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            // The reader is gone only when it is no longer interested.
            let _ = self.tx.send(Batch::Decoded(batch));
        }
    }
}

impl Drop for ChannelSink<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl ObjectSink for ChannelSink<'_> {
    fn vmi(&mut self, vmi: ReadVmi) {
        self.push(vmi);
    }

    fn other(&mut self, kind: &str, object: VmiRef) {
        note_other(self.path, kind, &object);
    }
}

/// A reader that digests what passes through it.
struct Digesting<R> {
    inner: R,
    hasher: DefaultHasher,
}

impl<R> Digesting<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: DefaultHasher::new(),
        }
    }

    fn finish(&self) -> u64 {
        self.hasher.finish()
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.write(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmi_json(i: usize) -> String {
        format!(
            r#"{{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {{"name": "vm-{i}", "namespace": "ns", "managedFields": [{{"manager": "x"}}]}},
                "spec": {{"networks": [{{"name": "red", "multus": {{"networkName": "r"}}}}]}},
                "status": {{"interfaces": [{{"name": "red", "ipAddress": "10.0.0.1"}}]}}}}"#
        )
    }

    fn read_all(path: &Path) -> Result<(Vec<String>, Vec<String>, u64), ManifestError> {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        let digest = read_vmis(path, |vmi| match vmi {
            Ok(vmi) => good.push(vmi.metadata.name.unwrap_or_default()),
            Err(e) => bad.push(e.vmi.to_string()),
        })?;
        Ok((good, bad, digest))
    }

    #[test]
    fn a_json_list_streams_its_items_whatever_the_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        // kubectl prints keys in order: items come before kind.
        let items: Vec<String> = (0..3).map(vmi_json).collect();
        let bad = r#"{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                      "metadata": {"name": "broken", "namespace": "ns", "labels": {"a": 1}}}"#;
        let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}"#;
        let text = format!(
            r#"{{"apiVersion": "v1", "items": [{}, {bad}, {pod}], "kind": "List", "metadata": {{}}}}"#,
            items.join(",")
        );
        fs::write(&path, &text).unwrap();
        let (good, bad, digest) = read_all(&path).unwrap();
        assert_eq!(good, ["vm-0", "vm-1", "vm-2"]);
        assert_eq!(
            bad,
            ["ns/broken"],
            "a VMI of the wrong shape is named, the rest read"
        );
        assert_eq!(
            digest,
            super::digest(&path).unwrap(),
            "one digest, however read"
        );
    }

    #[test]
    fn a_long_json_list_keeps_its_order_whichever_side_decodes() {
        // A slow reader fills the channel: the parser then decodes batches
        // itself, between the batches of text it handed over before.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let items: Vec<String> = (0..3_000).map(vmi_json).collect();
        fs::write(
            &path,
            format!(r#"{{"kind": "List", "items": [{}]}}"#, items.join(",")),
        )
        .unwrap();
        let mut names = Vec::new();
        read_vmis(&path, |vmi| {
            if names.len() % 1_000 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            names.push(vmi.unwrap().metadata.name.unwrap());
        })
        .unwrap();
        let expected: Vec<String> = (0..3_000).map(|i| format!("vm-{i}")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_yaml_list_larger_than_the_default_budget_is_read() {
        // 8000 items are over 250k YAML nodes, serde-saphyr's default limit.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.yaml");
        let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
        for i in 0..8_000 {
            text.push_str(&format!(
                "- apiVersion: kubevirt.io/v1\n  kind: VirtualMachineInstance\n  metadata: {{name: vm-{i}, namespace: ns, labels: {{a: b, c: d}}}}\n  spec: {{networks: [{{name: red, multus: {{networkName: r}}}}]}}\n  status: {{interfaces: [{{name: red, ipAddress: 10.0.0.1, mac: 'aa'}}]}}\n"
            ));
        }
        text.push_str("---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: {name: last}\n");
        fs::write(&path, &text).unwrap();
        let (good, bad, _) = read_all(&path).unwrap();
        assert_eq!(good.len(), 8_001);
        assert_eq!(good.last().map(String::as_str), Some("last"));
        assert!(bad.is_empty());
    }

    #[test]
    fn json_that_is_not_utf_8_is_refused() {
        // Found by the fuzzer: a string holding the byte 0xd2.
        let read = read_vmis_from(Path::new("x.json"), &b"\"\xd2\""[..], Format::Json, drop);
        assert!(matches!(read, Err(ManifestError::Json { .. })), "{read:?}");
    }

    #[test]
    fn a_file_cut_short_is_an_error_after_the_items_before_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.json");
        let text = format!(
            r#"{{"kind": "List", "items": [{}, {}"#,
            vmi_json(0),
            vmi_json(1)
        );
        fs::write(&path, &text[..text.len() - 20]).unwrap();
        let mut seen = 0;
        let result = read_vmis(&path, |_| seen += 1);
        assert!(
            matches!(result, Err(ManifestError::Json { .. })),
            "{result:?}"
        );
        assert_eq!(seen, 1, "the caller keeps what came before the error apart");
    }
}
