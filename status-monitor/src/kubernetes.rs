//! The Kubernetes source: VirtualMachineInstances of every namespace, watched
//! with kube-runtime's watcher (list + watch, bookmarks, backoff on errors).
//!
//! Objects arrive as [`WatchedVmi`]s (metadata and the two subtrees we read,
//! whatever their shape) and are decoded one by one, so a VMI whose JSON does not
//! fit is skipped with a warning instead of failing a whole list page. Only the
//! projection is kept; the object is dropped at once.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{StreamExt, pin_mut};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span, warn};
use zone_manager::{Origin, VmAddresses};

use crate::metrics::Metrics;
use crate::pipeline::SourceEvent;
use crate::projection::Projector;
use crate::vmi::{VirtualMachineInstance, VmiRef};
use crate::watched::WatchedVmi;

/// The watched VMIs and where each one stands.
struct Watched {
    projector: Projector,
    metrics: Arc<Metrics>,
    /// `namespace/name` of every VMI in the watch, for the `vmis_known` metric.
    known: HashSet<Box<str>>,
    /// Between `Init` and `InitDone`: the relist being collected.
    relist: Option<(Vec<VmAddresses>, HashSet<Box<str>>)>,
    lists: u64,
}

impl Watched {
    /// Projects one object; `None` if it gives no records or was skipped.
    fn project(&mut self, vmi_ref: &VmiRef, object: WatchedVmi) -> Option<VmAddresses> {
        let span = info_span!("vmi", namespace = %vmi_ref.namespace, name = %vmi_ref.name);
        let _entered = span.enter();
        match object.decode() {
            Ok(vmi) => self.projector.project(&vmi).filter(|vm| !vm.is_empty()),
            Err(e) => {
                self.metrics.skip("malformed");
                warn!(vmi = %vmi_ref, error = %e, "skipping VMI whose JSON does not fit");
                None
            }
        }
    }

    /// Turns one watcher event into what the zone needs to hear, if anything.
    fn handle(&mut self, event: Event<WatchedVmi>) -> Option<SourceEvent> {
        match event {
            Event::Init => {
                self.lists += 1;
                if self.lists > 1 {
                    self.metrics.watch_restarts.inc();
                    info!("relisting VMIs");
                }
                self.relist = Some((Vec::new(), HashSet::new()));
                None
            }
            Event::InitApply(object) => {
                let vmi_ref = object_ref(&object);
                let vm = self.project(&vmi_ref, object);
                if let Some((vms, keys)) = &mut self.relist {
                    keys.insert(key(&vmi_ref));
                    vms.extend(vm);
                }
                None
            }
            Event::InitDone => {
                let (vms, keys) = self.relist.take().unwrap_or_default();
                info!(
                    vmis = keys.len(),
                    with_records = vms.len(),
                    "VMI list complete"
                );
                self.known = keys;
                self.metrics.vmis_known.set(self.known.len() as i64);
                self.projector.forget_unused_labels();
                Some(SourceEvent::Resync(vms))
            }
            Event::Apply(object) => {
                let vmi_ref = object_ref(&object);
                let vm = self.project(&vmi_ref, object);
                self.known.insert(key(&vmi_ref));
                self.metrics.vmis_known.set(self.known.len() as i64);
                Some(SourceEvent::Apply { vmi: vmi_ref, vm })
            }
            Event::Delete(object) => {
                let vmi_ref = object_ref(&object);
                self.known.remove(key(&vmi_ref).as_ref());
                self.metrics.vmis_known.set(self.known.len() as i64);
                Some(SourceEvent::Delete(vmi_ref))
            }
        }
    }
}

fn object_ref(object: &WatchedVmi) -> VmiRef {
    VmiRef::new(
        object.metadata.namespace.as_deref(),
        object.metadata.name.as_deref(),
    )
}

fn key(vmi: &VmiRef) -> Box<str> {
    format!("{}/{}", vmi.namespace, vmi.name).into_boxed_str()
}

/// Watches VMIs in all namespaces and sends their projections until the
/// pipeline goes away. Errors are retried with backoff forever: an API outage
/// only pauses updates; the zone on disk keeps being served.
pub async fn run(
    client: Client,
    origin: Origin,
    sink: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
) {
    let api: Api<WatchedVmi> = Api::all(client);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    pin_mut!(stream);
    let mut watched = Watched {
        projector: Projector::new(origin, metrics.clone()),
        metrics,
        known: HashSet::new(),
        relist: None,
        lists: 0,
    };
    info!(
        resource = %format!("{}.{}/{}", VirtualMachineInstance::plural(&()), VirtualMachineInstance::group(&()), VirtualMachineInstance::version(&())),
        "watching VMIs in all namespaces"
    );
    async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    if let Some(event) = watched.handle(event)
                        && sink.send(event).await.is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    watched.metrics.watch_errors.inc();
                    warn!(error = %e, "VMI watch failed; retrying with backoff, the zone on disk stays as it is");
                }
            }
        }
    }
    .instrument(info_span!("watch", resource = "virtualmachineinstances"))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn watched() -> Watched {
        let metrics = Arc::new(Metrics::new());
        Watched {
            projector: Projector::new(Origin::for_domain("example.com").unwrap(), metrics.clone()),
            metrics,
            known: HashSet::new(),
            relist: None,
            lists: 0,
        }
    }

    fn object(name: &str, status: serde_json::Value) -> WatchedVmi {
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": "7"},
            "spec": {"networks": [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "r"}}]},
            "status": status
        }))
        .unwrap()
    }

    fn with_ip(name: &str, ip: &str) -> WatchedVmi {
        object(
            name,
            json!({"interfaces": [{"name": "red", "ipAddress": ip}], "phase": "Running"}),
        )
    }

    fn resync_names(event: Option<SourceEvent>) -> Vec<String> {
        match event {
            Some(SourceEvent::Resync(vms)) => vms.iter().map(|v| v.name().to_string()).collect(),
            other => panic!("expected a resync, got {other:?}"),
        }
    }

    #[test]
    fn a_list_is_sent_only_when_complete() {
        let mut w = watched();
        assert!(w.handle(Event::Init).is_none());
        assert!(
            w.handle(Event::InitApply(with_ip("a", "10.0.0.1")))
                .is_none()
        );
        assert!(
            w.handle(Event::InitApply(object("no-ip", json!(null))))
                .is_none()
        );
        assert!(
            w.handle(Event::InitApply(with_ip("b", "10.0.0.2")))
                .is_none()
        );
        assert_eq!(resync_names(w.handle(Event::InitDone)), ["a", "b"]);
        assert_eq!(w.known.len(), 3, "VMIs without records are known too");
        assert_eq!(w.metrics.watch_restarts.get(), 0);
    }

    #[test]
    fn a_relist_replaces_everything_and_counts_as_a_restart() {
        let mut w = watched();
        w.handle(Event::Init);
        w.handle(Event::InitApply(with_ip("gone", "10.0.0.1")));
        w.handle(Event::InitDone);
        w.handle(Event::Init);
        w.handle(Event::InitApply(with_ip("new", "10.0.0.2")));
        assert_eq!(resync_names(w.handle(Event::InitDone)), ["new"]);
        assert_eq!(w.known.len(), 1);
        assert_eq!(w.metrics.watch_restarts.get(), 1);
    }

    #[test]
    fn a_malformed_object_is_skipped_and_the_list_goes_on() {
        let mut w = watched();
        w.handle(Event::Init);
        w.handle(Event::InitApply(object(
            "bad",
            json!({"interfaces": "not a list"}),
        )));
        w.handle(Event::InitApply(with_ip("good", "10.0.0.1")));
        assert_eq!(resync_names(w.handle(Event::InitDone)), ["good"]);
        assert!(
            w.metrics
                .encode()
                .contains("objects_skipped_total{reason=\"malformed\"} 1")
        );
    }

    #[test]
    fn applies_and_deletes_are_passed_on_with_their_projection() {
        let mut w = watched();
        match w.handle(Event::Apply(with_ip("a", "10.0.0.1"))) {
            Some(SourceEvent::Apply { vmi, vm: Some(vm) }) => {
                assert_eq!(vmi.to_string(), "ns/a");
                assert_eq!(vm.interfaces().next().unwrap().ipv4().len(), 1);
            }
            other => panic!("{other:?}"),
        }
        match w.handle(Event::Apply(object("a", json!({"phase": "Succeeded"})))) {
            Some(SourceEvent::Apply { vm: None, .. }) => {}
            other => panic!("an address that goes away must be withdrawn: {other:?}"),
        }
        assert!(matches!(
            w.handle(Event::Delete(with_ip("a", "10.0.0.1"))),
            Some(SourceEvent::Delete(_))
        ));
        assert!(w.known.is_empty());
    }
}
