//! The VMIs of the watch and where each one stands: the relist buffers, the
//! projection of each event and, with `ADDRESS_SOURCE=network`, the join with
//! the virt-launcher pods' CNI addresses ([`VmiTable`]).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use tracing::{info, info_span, warn};
use zone_manager::VmAddresses;

use super::launcher_pods::pod_entry;
use super::table::{PodsChanged, VmiTable, assigned};
use crate::metrics::Metrics;
use crate::projection::Projector;
use crate::projection::network::{NetworkCandidate, NetworkIds};
use crate::relist::Relist;
use crate::source::{KeptAnnotations, SourceEvent, VmiMetadata};
use crate::vmi::VmiRef;
use crate::vmi::decode::LenientVmi;

/// The VMI watch's state: turns watcher events into [`SourceEvent`]s.
pub struct VmiWatch {
    projector: Projector,
    metrics: Arc<Metrics>,
    kept: KeptAnnotations,
    table: VmiTable,
    /// The kept metadata of the VMIs that have some.
    metadata: Relist<HashMap<VmiRef, VmiMetadata>>,
    /// While listing, in the `any` mode: the projections, sent at the end.
    listed: Vec<VmAddresses>,
    lists: u64,
    /// `ADDRESS_SOURCE=network`: publish only CNI-assigned addresses.
    network: bool,
    networks: NetworkIds,
}

impl VmiWatch {
    /// `network`: publish only CNI-assigned addresses (pods are watched too).
    pub fn new(
        projector: Projector,
        metrics: Arc<Metrics>,
        kept: KeptAnnotations,
        network: bool,
    ) -> Self {
        Self {
            projector,
            metrics,
            kept,
            table: VmiTable::default(),
            metadata: Relist::default(),
            listed: Vec::new(),
            lists: 0,
            network,
            networks: NetworkIds::default(),
        }
    }

    /// VMIs in the watch.
    pub fn known(&self) -> usize {
        self.table.vmi_count()
    }

    /// Projects one object into the set being filled; `None` if it gives no
    /// records or was skipped.
    fn project(&mut self, vmi_ref: &VmiRef, object: LenientVmi) -> Option<VmAddresses> {
        let span = info_span!("vmi", namespace = %vmi_ref.namespace, name = %vmi_ref.name);
        let _entered = span.enter();
        match self.kept.of(&object.metadata) {
            Some(metadata) => self.metadata.target().insert(vmi_ref.clone(), metadata),
            None => self.metadata.target().remove(vmi_ref),
        };
        let vmi = match object.decode() {
            Ok(vmi) => vmi,
            Err(e) => {
                self.metrics.skip("malformed");
                warn!(vmi = %e.vmi, error = %e.message, "skipping VMI whose JSON does not fit");
                self.table.set_vmi(vmi_ref, None);
                return None;
            }
        };
        let vm = self
            .projector
            .project(&vmi)
            .filter(|vm| !vm.publishes_nothing());
        if !self.network {
            self.table.set_vmi(vmi_ref, None);
            return vm;
        }
        let candidate = vm.map(|vm| NetworkCandidate::new(&vmi, vm, &mut self.networks));
        let publishable = candidate.as_ref().and_then(|candidate| {
            candidate
                .publishable(|network, address| self.table.is_assigned(vmi_ref, network, address))
        });
        self.table.set_vmi(vmi_ref, candidate);
        publishable
    }

    /// Turns one watcher event into what the outputs need to hear, if anything.
    pub fn handle(&mut self, event: Event<LenientVmi>) -> Option<SourceEvent> {
        match event {
            Event::Init => {
                self.lists += 1;
                if self.lists > 1 {
                    self.metrics.watch_restarts.inc();
                    info!("relisting VMIs");
                }
                self.table.begin_vmis();
                self.metadata.begin();
                self.listed.clear();
                None
            }
            Event::InitApply(object) => {
                let vmi_ref = object.vmi_ref();
                let vm = self.project(&vmi_ref, object);
                if !self.network {
                    self.listed.extend(vm);
                }
                None
            }
            Event::InitDone => {
                self.table.finish_vmis();
                self.metadata.finish();
                let vms = std::mem::take(&mut self.listed);
                info!(vmis = self.known(), "VMI list complete");
                self.metrics.vmis_known.set(self.known() as i64);
                self.projector.forget_unused_labels();
                if !self.network {
                    Some(self.resync(vms))
                } else if self.table.pods_listed() {
                    Some(self.network_resync())
                } else {
                    // Publishing now would drop every address: the pod list's
                    // end sends the complete set.
                    None
                }
            }
            Event::Apply(object) => {
                let vmi_ref = object.vmi_ref();
                let vm = self.project(&vmi_ref, object);
                self.metrics.vmis_known.set(self.known() as i64);
                let metadata = self.metadata.current().get(&vmi_ref).cloned();
                Some(SourceEvent::Apply {
                    vmi: vmi_ref,
                    vm,
                    metadata,
                })
            }
            Event::Delete(object) => {
                let vmi_ref = object.vmi_ref();
                self.table.remove_vmi(&vmi_ref);
                self.metadata.target().remove(&vmi_ref);
                self.metrics.vmis_known.set(self.known() as i64);
                Some(SourceEvent::Delete(vmi_ref))
            }
        }
    }

    /// Turns one virt-launcher pod event into the VMI changes it causes.
    pub fn handle_pod(&mut self, event: Event<PartialObjectMeta<Pod>>) -> Option<SourceEvent> {
        if !self.network {
            return None;
        }
        let (vmi, changed) = match event {
            Event::Init => {
                self.table.begin_pods();
                return None;
            }
            Event::InitApply(pod) => {
                let (vmi, pod, addresses) = pod_entry(&pod, &mut self.networks)?;
                self.table.set_pod(&vmi, pod, &addresses);
                return None;
            }
            Event::InitDone => {
                self.table.finish_pods();
                // Once the VMIs are listed too, everything is filtered again: the
                // CNI addresses may have changed while the pod watch was away.
                return self.table.vmis_complete().then(|| self.network_resync());
            }
            Event::Apply(pod) => {
                let (vmi, pod, addresses) = pod_entry(&pod, &mut self.networks)?;
                let changed = self.table.set_pod(&vmi, pod, &addresses);
                (vmi, changed)
            }
            Event::Delete(pod) => {
                let (vmi, pod, _) = pod_entry(&pod, &mut self.networks)?;
                let changed = self.table.remove_pod(&vmi, pod);
                (vmi, changed)
            }
        };
        if changed == PodsChanged::No || !self.table.pods_listed() {
            return None;
        }
        let candidate = self.table.candidate(&vmi)?;
        Some(SourceEvent::Apply {
            vm: candidate
                .publishable(|network, address| self.table.is_assigned(&vmi, network, address)),
            metadata: self.metadata.current().get(&vmi).cloned(),
            vmi,
        })
    }

    fn resync(&self, vms: Vec<VmAddresses>) -> SourceEvent {
        let metadata = self.metadata.current().iter();
        SourceEvent::Resync {
            vms,
            metadata: metadata.map(|(k, m)| (k.clone(), m.clone())).collect(),
        }
    }

    /// Every known VMI filtered again with the current CNI addresses.
    fn network_resync(&self) -> SourceEvent {
        let vms = self
            .table
            .candidates()
            .filter_map(|(_, candidate, pods)| {
                candidate.publishable(|network, address| assigned(pods, network, address))
            })
            .collect();
        self.resync(vms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::kubernetes::launcher_pods::NETWORK_STATUS_ANNOTATION;
    use serde_json::json;
    use zone_manager::Origin;

    fn watch_with(network: bool, kept: KeptAnnotations) -> VmiWatch {
        let metrics = Arc::new(Metrics::new());
        let projector = Projector::new(Origin::for_domain("example.com").unwrap(), metrics.clone());
        VmiWatch::new(projector, metrics, kept, network)
    }

    fn watched() -> VmiWatch {
        watch_with(false, KeptAnnotations::default())
    }

    fn object(name: &str, status: serde_json::Value) -> LenientVmi {
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": "7"},
            "spec": {"networks": [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "r"}}]},
            "status": status
        }))
        .unwrap()
    }

    fn with_ip(name: &str, ip: &str) -> LenientVmi {
        object(
            name,
            json!({"interfaces": [{"name": "red", "ipAddress": ip}], "phase": "Running"}),
        )
    }

    fn resync_names(event: Option<SourceEvent>) -> Vec<String> {
        match event {
            Some(SourceEvent::Resync { vms, .. }) => {
                vms.iter().map(|v| v.name().to_string()).collect()
            }
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
        assert_eq!(w.known(), 3, "VMIs without records are known too");
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
        assert_eq!(w.known(), 1);
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
            Some(SourceEvent::Apply {
                vmi, vm: Some(vm), ..
            }) => {
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
        assert_eq!(w.known(), 0);
    }

    const HOSTNAME: &str = "external-dns.alpha.kubernetes.io/hostname";

    fn annotated(name: &str, ip: &str, hostname: Option<&str>) -> LenientVmi {
        let mut object = with_ip(name, ip);
        object.metadata.uid = Some(format!("uid-{name}"));
        object.metadata.annotations = hostname.map(|h| {
            [
                (HOSTNAME.to_owned(), h.to_owned()),
                ("other".to_owned(), "x".to_owned()),
            ]
            .into()
        });
        object
    }

    #[test]
    fn kept_annotations_travel_with_the_vmi_and_nothing_else() {
        let mut w = watch_with(false, KeptAnnotations(vec![HOSTNAME]));
        w.handle(Event::Init);
        w.handle(Event::InitApply(annotated(
            "a",
            "10.0.0.1",
            Some("a.example.org"),
        )));
        w.handle(Event::InitApply(annotated("b", "10.0.0.2", None)));
        match w.handle(Event::InitDone) {
            Some(SourceEvent::Resync { vms, metadata }) => {
                assert_eq!(vms.len(), 2);
                assert_eq!(metadata.len(), 1, "only the annotated VMI");
                let (vmi, meta) = &metadata[0];
                assert_eq!(vmi.name, "a");
                assert_eq!(meta.uid, "uid-a");
                assert_eq!(
                    meta.annotations,
                    [(HOSTNAME.to_owned(), "a.example.org".to_owned())].into(),
                    "only the kept keys"
                );
            }
            other => panic!("{other:?}"),
        }
        // The annotation removed: no metadata any more.
        match w.handle(Event::Apply(annotated("a", "10.0.0.1", None))) {
            Some(SourceEvent::Apply { metadata: None, .. }) => {}
            other => panic!("{other:?}"),
        }
        // Nobody asked: nothing kept.
        let mut w = watched();
        assert!(matches!(
            w.handle(Event::Apply(annotated(
                "a",
                "10.0.0.1",
                Some("a.example.org")
            ))),
            Some(SourceEvent::Apply { metadata: None, .. })
        ));
    }

    fn pod(name: &str, vmi: &str, ips: &[&str]) -> PartialObjectMeta<Pod> {
        let status = json!([{"name": "ns/r", "interface": "net1", "ips": ips}]).to_string();
        serde_json::from_value(json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": name, "namespace": "ns",
                         "labels": {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": vmi},
                         "annotations": {NETWORK_STATUS_ANNOTATION: status}}
        }))
        .unwrap()
    }

    fn addresses(events: Option<SourceEvent>) -> Vec<(String, Vec<String>)> {
        let vms = match events {
            Some(SourceEvent::Resync { vms, .. }) => vms,
            Some(SourceEvent::Apply { vm, .. }) => vm.into_iter().collect(),
            other => panic!("{other:?}"),
        };
        // A resync is a set: its order (a HashMap's) means nothing.
        let mut addresses: Vec<(String, Vec<String>)> = vms
            .iter()
            .map(|vm| {
                let ips = vm
                    .interfaces()
                    .flat_map(|i| i.ipv4().iter().map(|a| a.to_string()))
                    .collect();
                (vm.name().to_string(), ips)
            })
            .collect();
        addresses.sort();
        addresses
    }

    /// VMIs a (10.0.0.1) and b (10.0.0.2 from the CNI, 6.6.6.6 from its guest)
    /// listed, then their pods.
    fn network_watched() -> (VmiWatch, Option<SourceEvent>) {
        let mut w = watch_with(true, KeptAnnotations::default());
        w.handle(Event::Init);
        w.handle(Event::InitApply(with_ip("a", "10.0.0.1")));
        w.handle(Event::InitApply(object(
            "b",
            json!({"interfaces": [{"name": "red", "ipAddresses": ["10.0.0.2", "6.6.6.6"]}]}),
        )));
        assert!(
            w.handle(Event::InitDone).is_none(),
            "no zone before the pods are known"
        );
        w.handle_pod(Event::Init);
        w.handle_pod(Event::InitApply(pod(
            "virt-launcher-a-x1",
            "a",
            &["10.0.0.1"],
        )));
        w.handle_pod(Event::InitApply(pod(
            "virt-launcher-b-y2",
            "b",
            &["10.0.0.2"],
        )));
        let events = w.handle_pod(Event::InitDone);
        (w, events)
    }

    #[test]
    fn with_network_addresses_only_the_cni_assignment_is_published() {
        let (_, events) = network_watched();
        assert_eq!(
            addresses(events),
            [
                ("a".to_owned(), vec!["10.0.0.1".to_owned()]),
                ("b".to_owned(), vec!["10.0.0.2".to_owned()])
            ]
        );
    }

    #[test]
    fn a_pod_change_projects_its_vmi_again() {
        let (mut w, _) = network_watched();
        // The CNI now says 10.0.0.9; the status still says 10.0.0.1: nothing to publish.
        let events = w.handle_pod(Event::Apply(pod("virt-launcher-a-x1", "a", &["10.0.0.9"])));
        assert_eq!(addresses(events), []);
        // KubeVirt catches up.
        let event = w.handle(Event::Apply(with_ip("a", "10.0.0.9")));
        assert_eq!(
            addresses(event),
            [("a".to_owned(), vec!["10.0.0.9".to_owned()])]
        );
        // The pod goes: so do the addresses.
        let events = w.handle_pod(Event::Delete(pod("virt-launcher-a-x1", "a", &["10.0.0.9"])));
        assert_eq!(addresses(events), []);
    }

    #[test]
    fn pods_listed_before_vmis_give_the_set_at_the_vmi_list_end() {
        let mut w = watch_with(true, KeptAnnotations::default());
        w.handle_pod(Event::Init);
        w.handle_pod(Event::InitApply(pod(
            "virt-launcher-a-x1",
            "a",
            &["10.0.0.1"],
        )));
        assert!(
            w.handle_pod(Event::InitDone).is_none(),
            "VMIs not listed yet"
        );
        w.handle(Event::Init);
        w.handle(Event::InitApply(with_ip("a", "10.0.0.1")));
        let event = w.handle(Event::InitDone);
        assert_eq!(
            addresses(event),
            [("a".to_owned(), vec!["10.0.0.1".to_owned()])]
        );
    }
}
