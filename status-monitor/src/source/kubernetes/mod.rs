//! The Kubernetes source: VirtualMachineInstances of every namespace, watched
//! with kube-runtime's watcher (list + watch, bookmarks, backoff on errors),
//! and with `ADDRESS_SOURCE=network` the virt-launcher pods' metadata.
//!
//! Objects arrive as [`LenientVmi`]s (the fields we read, whatever their
//! shape) and are decoded one by one, so a VMI whose JSON does not fit is
//! skipped with a warning instead of failing a whole list page. Only the
//! projection is kept; the object is dropped at once.

use std::sync::Arc;

use futures::{StreamExt, pin_mut};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kube::{Client, Resource};
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span, warn};
use zone_manager::Origin;

use crate::config::AddressSource;
use crate::metrics::Metrics;
use crate::projection::{Projector, Rules};
use crate::source::{KeptAnnotations, SourceEvent};
use crate::vmi::decode::LenientVmi;

pub mod launcher_pods;
mod table;
mod vmis;

pub use vmis::VmiWatch;

/// Watches VMIs in all namespaces and sends their projections until the
/// outputs go away. Errors are retried with backoff forever: an API outage
/// only pauses updates; the zone on disk keeps being served.
pub async fn run(
    client: Client,
    origin: Origin,
    rules: Rules,
    events: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
    address_source: AddressSource,
    kept: KeptAnnotations,
) {
    let vmis: Api<LenientVmi> = Api::all(client.clone());
    // Unselected VMIs never reach us: the API server filters the watch.
    let mut vmi_config = watcher::Config::default();
    if let Some(selector) = &rules.selector {
        vmi_config = vmi_config.labels(&selector.to_string());
    }
    let vmi_events = watcher::watcher(vmis, vmi_config).default_backoff();
    pin_mut!(vmi_events);
    let network = address_source == AddressSource::Network;
    // Pods are watched (metadata only) just when their CNI addresses are needed.
    let mut pod_events = if network {
        // `PartialObjectMeta` makes these metadata-only requests.
        let pods: Api<PartialObjectMeta<Pod>> = Api::all(client);
        let config = watcher::Config::default().labels(launcher_pods::LAUNCHER_SELECTOR);
        watcher::watcher(pods, config).default_backoff().boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let projector = Projector::with_rules(origin, rules, metrics.clone());
    let mut watch = VmiWatch::new(projector, metrics.clone(), kept, network);
    info!(
        resource = %format!("{}.{}/{}", LenientVmi::plural(&()), LenientVmi::group(&()), LenientVmi::version(&())),
        ?address_source,
        "watching VMIs in all namespaces"
    );
    async {
        loop {
            let event = tokio::select! {
                item = vmi_events.next() => match item {
                    Some(Ok(event)) => watch.handle(event),
                    Some(Err(e)) => {
                        metrics.watch_errors.inc();
                        warn!(error = %e, "VMI watch failed; retrying with backoff, the zone on disk stays as it is");
                        None
                    }
                    None => return,
                },
                item = pod_events.next() => match item {
                    Some(Ok(event)) => watch.handle_pod(event),
                    Some(Err(e)) => {
                        metrics.watch_errors.inc();
                        warn!(error = %e, "virt-launcher pod watch failed; retrying with backoff");
                        None
                    }
                    None => return,
                },
            };
            if let Some(event) = event
                && events.send(event).await.is_err()
            {
                return;
            }
        }
    }
    .instrument(info_span!("watch", resource = "virtualmachineinstances"))
    .await;
}
