//! Reading VMIs from manifest files: YAML (one or many documents) or JSON, single
//! objects or lists exactly as `kubectl get vmi -A -o yaml|json` prints them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::info;

use crate::vmi::{VirtualMachineInstance, VmiRef};
use crate::watched::WatchedVmi;
use serde::Deserialize;

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
}

/// An object that says it is a VMI but does not decode as one.
#[derive(Debug, thiserror::Error)]
#[error("VMI {vmi} does not decode: {message}")]
pub struct DecodeError {
    pub vmi: VmiRef,
    pub message: String,
}

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

/// The VMI objects in a manifest's text, lists flattened. Objects of other kinds
/// are left out with a note.
pub fn vmi_objects(path: &Path, text: &str) -> Result<Vec<Value>, ManifestError> {
    let documents: Vec<Value> = if path.extension().is_some_and(|e| e == "json") {
        vec![
            serde_json::from_str(text).map_err(|source| ManifestError::Json {
                path: path.to_path_buf(),
                source,
            })?,
        ]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| ManifestError::Yaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
    };
    let mut vmis = Vec::new();
    for document in documents {
        collect_vmis(path, document, &mut vmis);
    }
    Ok(vmis)
}

fn collect_vmis(path: &Path, mut object: Value, out: &mut Vec<Value>) {
    let text = |field: &str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let is_vmi =
        text("kind") == "VirtualMachineInstance" && text("apiVersion").starts_with("kubevirt.io/");
    let kind = text("kind").to_owned();
    match kind.as_str() {
        _ if is_vmi => out.push(object),
        // `kind: List` from kubectl, or `VirtualMachineInstanceList` from the API.
        "List" | "VirtualMachineInstanceList" => {
            // Moved out, not cloned: a list may hold thousands of objects.
            if let Some(Value::Array(items)) = object.get_mut("items").map(Value::take) {
                for item in items {
                    collect_vmis(path, item, out);
                }
            }
        }
        // An empty YAML document (`---` at the end) is nothing to note.
        _ if object.is_null() => {}
        _ => info!(
            file = %path.display(),
            kind = kind.escape_debug().to_string(),
            object = %VmiRef::of_json(&object),
            "ignoring an object that is not a VirtualMachineInstance"
        ),
    }
}

/// Decodes one VMI object; a VMI whose fields have the wrong shape is an error
/// naming it, never a failure of the whole file.
/// The same lenient decoder as the Kubernetes watch ([`WatchedVmi`]), so that
/// both sources read exactly the same fields the same way.
pub fn decode_vmi(object: Value) -> Result<VirtualMachineInstance, DecodeError> {
    let vmi = VmiRef::of_json(&object);
    WatchedVmi::deserialize(object)
        .map_err(|e| e.to_string())
        .and_then(WatchedVmi::decode)
        .map_err(|message| DecodeError { vmi, message })
}
