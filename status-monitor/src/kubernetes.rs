//! The Kubernetes source: VirtualMachineInstances of every namespace, watched
//! with kube-runtime's watcher (list + watch, bookmarks, backoff on errors).
//!
//! Objects arrive as [`WatchedVmi`]s (metadata and the two subtrees we read,
//! whatever their shape) and are decoded one by one, so a VMI whose JSON does not
//! fit is skipped with a warning instead of failing a whole list page. Only the
//! projection is kept; the object is dropped at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, pin_mut};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span, warn};
use zone_manager::{Origin, VmAddresses};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;

use crate::config::AddressSource;
use crate::dns_endpoint::{EndpointRequest, HOSTNAME_ANNOTATION, TTL_ANNOTATION};
use crate::endpoint_sink::{AnnotatedVmi, SinkEvent};
use crate::metrics::Metrics;
use crate::network_status::{
    LAUNCHER_SELECTOR, NETWORK_STATUS_ANNOTATION, NetworkAddresses, VMI_NAME_LABEL,
    network_addresses_only, parse_network_status,
};
use crate::pipeline::SourceEvent;
use crate::projection::{Projector, Rules};
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
    /// With `ADDRESS_SOURCE=network`: the VMIs joined with their pods' CNI addresses.
    network: Option<NetworkLayer>,
    /// With `DNS_ENDPOINTS=true`: what annotated VMIs ask of the DNSEndpoint sink.
    annotated: Option<Annotated>,
}

/// The annotated VMIs, by name: their uid and what their annotations ask.
#[derive(Default)]
struct Annotated {
    current: HashMap<VmiRef, (String, EndpointRequest)>,
    relist: Option<HashMap<VmiRef, (String, EndpointRequest)>>,
}

impl Annotated {
    fn note(&mut self, vmi: &VmiRef, meta: &ObjectMeta) {
        let annotations = meta.annotations.as_ref();
        let get = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
        let request =
            EndpointRequest::from_annotations(get(HOSTNAME_ANNOTATION), get(TTL_ANNOTATION));
        let map = self.relist.as_mut().unwrap_or(&mut self.current);
        match (request, meta.uid.clone()) {
            (Some(request), Some(uid)) => {
                map.insert(vmi.clone(), (uid, request));
            }
            _ => {
                map.remove(vmi);
            }
        }
    }

    /// What the sink needs to hear of a change the zone hears of.
    fn sink_event(&self, event: &SourceEvent) -> SinkEvent {
        match event {
            SourceEvent::Apply { vmi, vm } => match self.current.get(vmi) {
                Some((uid, request)) => SinkEvent::Wants(AnnotatedVmi {
                    vmi: vmi.clone(),
                    uid: uid.clone(),
                    request: request.clone(),
                    vm: vm.clone(),
                }),
                None => SinkEvent::WantsNothing(vmi.clone()),
            },
            SourceEvent::Delete(vmi) => SinkEvent::WantsNothing(vmi.clone()),
            SourceEvent::Resync(vms) => {
                let by_name: HashMap<(&str, &str), &VmAddresses> = vms
                    .iter()
                    .map(|vm| ((vm.namespace().as_str(), vm.name().as_str()), vm))
                    .collect();
                SinkEvent::Resync(
                    self.current
                        .iter()
                        .map(|(vmi, (uid, request))| AnnotatedVmi {
                            vmi: vmi.clone(),
                            uid: uid.clone(),
                            request: request.clone(),
                            vm: by_name
                                .get(&(vmi.namespace.as_str(), vmi.name.as_str()))
                                .map(|vm| (*vm).clone()),
                        })
                        .collect(),
                )
            }
        }
    }
}

/// `ADDRESS_SOURCE=network`: what is needed to publish only CNI-assigned
/// addresses, and to redo it when either side changes.
#[derive(Default)]
struct NetworkLayer {
    /// The decoded VMIs (networks and interfaces only), to project again when
    /// their pods change.
    vmis: HashMap<VmiRef, VirtualMachineInstance>,
    vmis_relist: Option<HashMap<VmiRef, VirtualMachineInstance>>,
    /// CNI addresses of the virt-launcher pods of each VMI, by pod name (a VMI
    /// has two pods during a live migration).
    pods: HashMap<VmiRef, HashMap<String, NetworkAddresses>>,
    pods_relist: Option<HashMap<VmiRef, HashMap<String, NetworkAddresses>>>,
    pods_listed: bool,
}

impl NetworkLayer {
    /// The CNI addresses of every pod of `vmi` (two during a live migration).
    fn addresses_of(&self, vmi: &VmiRef) -> NetworkAddresses {
        let mut all = NetworkAddresses::new();
        for networks in self.pods.get(vmi).into_iter().flat_map(HashMap::values) {
            for (network, addresses) in networks {
                all.entry(network.clone())
                    .or_default()
                    .extend(addresses.iter().copied());
            }
        }
        all
    }
}

impl Watched {
    /// Projects one object; `None` if it gives no records or was skipped.
    fn project(&mut self, vmi_ref: &VmiRef, object: WatchedVmi) -> Option<VmAddresses> {
        let span = info_span!("vmi", namespace = %vmi_ref.namespace, name = %vmi_ref.name);
        let _entered = span.enter();
        match object.decode() {
            Ok(vmi) => match &mut self.network {
                None => self.projector.project(&vmi).filter(|vm| !vm.is_empty()),
                Some(network) => {
                    let filtered = network_addresses_only(&vmi, &network.addresses_of(vmi_ref));
                    network
                        .vmis_relist
                        .as_mut()
                        .unwrap_or(&mut network.vmis)
                        .insert(vmi_ref.clone(), vmi);
                    self.projector
                        .project(&filtered)
                        .filter(|vm| !vm.is_empty())
                }
            },
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
                if let Some(network) = &mut self.network {
                    network.vmis_relist = Some(HashMap::new());
                }
                if let Some(annotated) = &mut self.annotated {
                    annotated.relist = Some(HashMap::new());
                }
                None
            }
            Event::InitApply(object) => {
                let vmi_ref = object_ref(&object);
                if let Some(annotated) = &mut self.annotated {
                    annotated.note(&vmi_ref, &object.metadata);
                }
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
                if let Some(annotated) = &mut self.annotated {
                    annotated.current = annotated.relist.take().unwrap_or_default();
                }
                if let Some(network) = &mut self.network {
                    network.vmis = network.vmis_relist.take().unwrap_or_default();
                    if !network.pods_listed {
                        // Publishing now would drop every address: the pod list's
                        // end sends the complete set.
                        return None;
                    }
                }
                Some(SourceEvent::Resync(vms))
            }
            Event::Apply(object) => {
                let vmi_ref = object_ref(&object);
                if let Some(annotated) = &mut self.annotated {
                    annotated.note(&vmi_ref, &object.metadata);
                }
                let vm = self.project(&vmi_ref, object);
                self.known.insert(key(&vmi_ref));
                self.metrics.vmis_known.set(self.known.len() as i64);
                Some(SourceEvent::Apply { vmi: vmi_ref, vm })
            }
            Event::Delete(object) => {
                let vmi_ref = object_ref(&object);
                if let Some(network) = &mut self.network {
                    network.vmis.remove(&vmi_ref);
                }
                if let Some(annotated) = &mut self.annotated {
                    annotated.current.remove(&vmi_ref);
                }
                self.known.remove(key(&vmi_ref).as_ref());
                self.metrics.vmis_known.set(self.known.len() as i64);
                Some(SourceEvent::Delete(vmi_ref))
            }
        }
    }
}

impl Watched {
    /// Turns one virt-launcher pod event into the VMI changes it causes.
    fn handle_pod(&mut self, event: Event<PartialObjectMeta<Pod>>) -> Vec<SourceEvent> {
        let Some(network) = &mut self.network else {
            return Vec::new();
        };
        let touched = match event {
            Event::Init => {
                network.pods_relist = Some(HashMap::new());
                return Vec::new();
            }
            Event::InitApply(pod) => {
                if let (Some(relist), Some((vmi, pod, networks))) =
                    (&mut network.pods_relist, pod_entry(&pod))
                {
                    relist.entry(vmi).or_default().insert(pod, networks);
                }
                return Vec::new();
            }
            Event::InitDone => {
                network.pods = network.pods_relist.take().unwrap_or_default();
                network.pods_listed = true;
                // Once the VMIs are listed too, everything is projected again: the
                // CNI addresses may have changed while the pod watch was away.
                let vmis_listed = self.lists > 0 && self.relist.is_none();
                return if vmis_listed {
                    vec![SourceEvent::Resync(self.project_all())]
                } else {
                    Vec::new()
                };
            }
            Event::Apply(pod) => {
                let Some((vmi, pod, networks)) = pod_entry(&pod) else {
                    return Vec::new();
                };
                let pods = network.pods.entry(vmi.clone()).or_default();
                if pods.get(&pod) == Some(&networks) {
                    return Vec::new();
                }
                pods.insert(pod, networks);
                vmi
            }
            Event::Delete(pod) => {
                let Some((vmi, pod, _)) = pod_entry(&pod) else {
                    return Vec::new();
                };
                let Some(pods) = network.pods.get_mut(&vmi) else {
                    return Vec::new();
                };
                if pods.remove(&pod).is_none() {
                    return Vec::new();
                }
                if pods.is_empty() {
                    network.pods.remove(&vmi);
                }
                vmi
            }
        };
        if !network.pods_listed {
            return Vec::new();
        }
        let Some(vmi) = network.vmis.get(&touched).cloned() else {
            return Vec::new();
        };
        let filtered = network_addresses_only(&vmi, &network.addresses_of(&touched));
        let vm = self
            .projector
            .project(&filtered)
            .filter(|vm| !vm.is_empty());
        vec![SourceEvent::Apply { vmi: touched, vm }]
    }

    /// Every known VMI projected again with the current CNI addresses.
    fn project_all(&mut self) -> Vec<VmAddresses> {
        let Some(network) = &self.network else {
            return Vec::new();
        };
        let filtered: Vec<VirtualMachineInstance> = network
            .vmis
            .iter()
            .map(|(vmi_ref, vmi)| network_addresses_only(vmi, &network.addresses_of(vmi_ref)))
            .collect();
        filtered
            .iter()
            .filter_map(|vmi| self.projector.project(vmi))
            .filter(|vm| !vm.is_empty())
            .collect()
    }
}

/// A virt-launcher pod as (its VMI, pod name, CNI addresses).
fn pod_entry(pod: &PartialObjectMeta<Pod>) -> Option<(VmiRef, String, NetworkAddresses)> {
    let meta = &pod.metadata;
    let namespace = meta.namespace.as_deref()?;
    let name = meta.name.clone()?;
    let vmi = VmiRef::new(
        Some(namespace),
        Some(meta.labels.as_ref()?.get(VMI_NAME_LABEL)?),
    );
    let networks = match meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(NETWORK_STATUS_ANNOTATION))
    {
        None => NetworkAddresses::new(),
        Some(text) => parse_network_status(text).unwrap_or_else(|e| {
            warn!(pod = %format!("{namespace}/{name}"), error = %e,
                "unreadable network-status annotation; no addresses from it");
            NetworkAddresses::new()
        }),
    };
    Some((vmi, name, networks))
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
    rules: Rules,
    sink: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
    address_source: AddressSource,
    mut endpoint_sink: Option<mpsc::UnboundedSender<SinkEvent>>,
) {
    let vmis: Api<WatchedVmi> = Api::all(client.clone());
    // Unselected VMIs never reach us: the API server filters the watch.
    let mut vmi_config = watcher::Config::default();
    if let Some(selector) = &rules.selector {
        vmi_config = vmi_config.labels(&selector.to_string());
    }
    let vmi_events = watcher::watcher(vmis, vmi_config).default_backoff();
    pin_mut!(vmi_events);
    // Pods are watched (metadata only) just when their CNI addresses are needed.
    let pod_events = match address_source {
        AddressSource::Any => None,
        AddressSource::Network => {
            // `PartialObjectMeta` makes these metadata-only requests.
            let pods: Api<PartialObjectMeta<Pod>> = Api::all(client);
            let config = watcher::Config::default().labels(LAUNCHER_SELECTOR);
            Some(watcher::watcher(pods, config).default_backoff().boxed())
        }
    };
    let mut pod_events = pod_events.unwrap_or_else(|| futures::stream::pending().boxed());
    let mut watched = Watched {
        projector: Projector::with_rules(origin, rules, metrics.clone()),
        metrics,
        known: HashSet::new(),
        relist: None,
        lists: 0,
        network: (address_source == AddressSource::Network).then(NetworkLayer::default),
        annotated: endpoint_sink.is_some().then(Annotated::default),
    };
    info!(
        resource = %format!("{}.{}/{}", VirtualMachineInstance::plural(&()), VirtualMachineInstance::group(&()), VirtualMachineInstance::version(&())),
        ?address_source,
        "watching VMIs in all namespaces"
    );
    async {
        loop {
            let events = tokio::select! {
                item = vmi_events.next() => match item {
                    Some(Ok(event)) => watched.handle(event).into_iter().collect(),
                    Some(Err(e)) => {
                        watched.metrics.watch_errors.inc();
                        warn!(error = %e, "VMI watch failed; retrying with backoff, the zone on disk stays as it is");
                        Vec::new()
                    }
                    None => return,
                },
                item = pod_events.next() => match item {
                    Some(Ok(event)) => watched.handle_pod(event),
                    Some(Err(e)) => {
                        watched.metrics.watch_errors.inc();
                        warn!(error = %e, "virt-launcher pod watch failed; retrying with backoff");
                        Vec::new()
                    }
                    None => return,
                },
            };
            for event in events {
                // The sink hears of every change first, without waiting: it must
                // never slow the zone down.
                if let (Some(endpoints), Some(annotated)) = (&endpoint_sink, &watched.annotated)
                    && endpoints.send(annotated.sink_event(&event)).is_err()
                {
                    warn!("the DNSEndpoint sink stopped; DNSEndpoints are no longer updated");
                    endpoint_sink = None;
                }
                if sink.send(event).await.is_err() {
                    return;
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
            network: None,
            annotated: None,
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

    fn addresses(events: Vec<SourceEvent>) -> Vec<(String, Vec<String>)> {
        let vms = match events.as_slice() {
            [SourceEvent::Resync(vms)] => vms.clone(),
            [SourceEvent::Apply { vm, .. }] => vm.iter().cloned().collect(),
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
    fn network_watched() -> (Watched, Vec<SourceEvent>) {
        let mut w = watched();
        w.network = Some(NetworkLayer::default());
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

    fn annotated(name: &str, ip: &str, hostname: Option<&str>) -> WatchedVmi {
        let mut object = with_ip(name, ip);
        object.metadata.uid = Some(format!("uid-{name}"));
        object.metadata.annotations =
            hostname.map(|h| [(HOSTNAME_ANNOTATION.to_owned(), h.to_owned())].into());
        object
    }

    #[test]
    fn the_endpoint_sink_hears_of_annotated_vmis_with_their_projection() {
        let mut w = watched();
        w.annotated = Some(Annotated::default());
        w.handle(Event::Init);
        w.handle(Event::InitApply(annotated(
            "a",
            "10.0.0.1",
            Some("a.example.org"),
        )));
        w.handle(Event::InitApply(annotated("b", "10.0.0.2", None)));
        let resync = w.handle(Event::InitDone).unwrap();
        let Some(annotated_vmis) = &w.annotated else {
            unreachable!()
        };
        match annotated_vmis.sink_event(&resync) {
            SinkEvent::Resync(vmis) => {
                assert_eq!(vmis.len(), 1, "only the annotated VMI");
                assert_eq!(vmis[0].vmi.name, "a");
                assert_eq!(vmis[0].uid, "uid-a");
                assert_eq!(vmis[0].request.hostnames, ["a.example.org"]);
                assert_eq!(vmis[0].vm.as_ref().unwrap().name().as_str(), "a");
            }
            other => panic!("{other:?}"),
        }

        // The annotation removed: the sink hears that nothing is wanted any more.
        let apply = w
            .handle(Event::Apply(annotated("a", "10.0.0.1", None)))
            .unwrap();
        let Some(annotated_vmis) = &w.annotated else {
            unreachable!()
        };
        assert!(matches!(
            annotated_vmis.sink_event(&apply),
            SinkEvent::WantsNothing(vmi) if vmi.name == "a"
        ));
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
        let event = w.handle(Event::Apply(with_ip("a", "10.0.0.9"))).unwrap();
        assert_eq!(
            addresses(vec![event]),
            [("a".to_owned(), vec!["10.0.0.9".to_owned()])]
        );
        // The pod goes: so do the addresses.
        let events = w.handle_pod(Event::Delete(pod("virt-launcher-a-x1", "a", &["10.0.0.9"])));
        assert_eq!(addresses(events), []);
    }

    #[test]
    fn pods_listed_before_vmis_give_the_set_at_the_vmi_list_end() {
        let mut w = watched();
        w.network = Some(NetworkLayer::default());
        w.handle_pod(Event::Init);
        w.handle_pod(Event::InitApply(pod(
            "virt-launcher-a-x1",
            "a",
            &["10.0.0.1"],
        )));
        assert!(
            w.handle_pod(Event::InitDone).is_empty(),
            "VMIs not listed yet"
        );
        w.handle(Event::Init);
        w.handle(Event::InitApply(with_ip("a", "10.0.0.1")));
        let event = w.handle(Event::InitDone).unwrap();
        assert_eq!(
            addresses(vec![event]),
            [("a".to_owned(), vec!["10.0.0.1".to_owned()])]
        );
    }
}
