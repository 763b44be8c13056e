//! The sources of VMIs: the Kubernetes API ([`kubernetes`]) or a directory of
//! manifests ([`directory`]). Each decodes VMIs with [`crate::vmi::decode`],
//! projects them ([`crate::projection`]) and sends [`SourceEvent`]s; it knows
//! nothing of what is done with them.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::error;
use zone_manager::VmAddresses;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::vmi::VmiRef;

pub mod directory;
pub mod kubernetes;

/// Starts the source `config` names: the manifest directory, or else the
/// cluster `client` reaches. It sends to `events`, passing on the `kept`
/// annotations.
pub fn spawn(
    config: &Config,
    client: Option<Client>,
    events: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
    kept: KeptAnnotations,
) -> JoinHandle<()> {
    let origin = config.zone.origin.clone();
    let rules = config.projection_rules();
    match (config.source_dir.clone(), client) {
        (Some(dir), _) => tokio::spawn(async move {
            if let Err(e) = directory::run(dir, origin, rules, events, metrics).await {
                error!(error = %e, "manifest source stopped");
            }
        }),
        (None, Some(client)) => tokio::spawn(kubernetes::run(
            client,
            origin,
            rules,
            events,
            metrics,
            config.address_source,
            kept,
        )),
        (None, None) => tokio::spawn(async {
            error!("no VMI source: neither a manifest directory nor a cluster");
        }),
    }
}

/// What a source tells the outputs.
#[derive(Clone, Debug)]
pub enum SourceEvent {
    /// A VMI was added or changed. `vm: None`: it gives no records (no secondary
    /// address yet, or skipped), so whatever it had before goes.
    Apply {
        vmi: VmiRef,
        vm: Option<VmAddresses>,
        /// Its uid and kept annotations, when it has any of those asked for.
        metadata: Option<VmiMetadata>,
    },
    /// A VMI was deleted.
    Delete(VmiRef),
    /// The complete set, after a (re)list or a rescan. Until the first one
    /// arrives nothing is published: a partial zone is never written.
    Resync {
        vms: Vec<VmAddresses>,
        /// The metadata of every VMI that has some.
        metadata: Vec<(VmiRef, VmiMetadata)>,
    },
}

impl SourceEvent {
    /// A complete set without metadata.
    pub fn resync(vms: Vec<VmAddresses>) -> Self {
        SourceEvent::Resync {
            vms,
            metadata: Vec::new(),
        }
    }
}

/// What an output needs of a VMI besides its records: its uid and the
/// annotations the source was asked to keep ([`KeptAnnotations`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmiMetadata {
    pub uid: String,
    pub annotations: BTreeMap<String, String>,
}

/// The annotation keys a source passes on; empty (the default) keeps none, so
/// that no output pays for metadata it does not read.
#[derive(Clone, Debug, Default)]
pub struct KeptAnnotations(pub Vec<&'static str>);

impl KeptAnnotations {
    /// The metadata to pass on for an object, if it has any kept annotation.
    pub fn of(
        &self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Option<VmiMetadata> {
        if self.0.is_empty() {
            return None;
        }
        let annotations: BTreeMap<String, String> = meta
            .annotations
            .iter()
            .flatten()
            .filter(|(key, _)| self.0.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if annotations.is_empty() {
            return None;
        }
        Some(VmiMetadata {
            uid: meta.uid.clone()?,
            annotations,
        })
    }
}
