//! The external-dns DNSEndpoint sink (`DNS_ENDPOINTS=true`): for every VMI
//! annotated `external-dns.alpha.kubernetes.io/hostname`, a DNSEndpoint of the
//! same name in its namespace, owned by the VMI, kept up to date with
//! server-side apply. It is fed by the same VMI watch as the zone, and watches
//! the metadata of DNSEndpoints to know which ones exist and which are ours.
//!
//! Never touched: a DNSEndpoint that is not ours (no `managed-by` label and
//! controller reference to its VMI), whatever its name.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, pin_mut};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{Instrument, debug, info, info_span, warn};
use zone_manager::VmAddresses;

use crate::config::DnsEndpointSettings;
use crate::dns_endpoint::{
    DNSEndpoint, DnsEndpointSpec, EndpointRequest, MANAGED_BY_LABEL, MANAGER,
};
use crate::metrics::Metrics;
use crate::vmi::{VirtualMachineInstance, VmiRef};

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// What the VMI watch tells the sink.
#[derive(Clone, Debug)]
pub enum SinkEvent {
    /// An annotated VMI as it is now.
    Wants(AnnotatedVmi),
    /// A VMI without the annotation, or deleted.
    WantsNothing(VmiRef),
    /// After a (re)list: every annotated VMI; any other wants nothing.
    Resync(Vec<AnnotatedVmi>),
}

/// An annotated VMI: its uid (for the owner reference), what its annotations
/// ask and its projection.
#[derive(Clone, Debug)]
pub struct AnnotatedVmi {
    pub vmi: VmiRef,
    pub uid: String,
    pub request: EndpointRequest,
    pub vm: Option<VmAddresses>,
}

/// What an annotated VMI wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    Publish {
        uid: String,
        spec: DnsEndpointSpec,
    },
    /// No address right now (booting, migrating).
    NoAddresses,
    /// Annotated, but no name in it is valid: whatever exists is left alone.
    NoValidName,
}

impl Wanted {
    fn new(uid: String, request: &EndpointRequest, vm: Option<&VmAddresses>) -> Self {
        if request.hostnames.is_empty() {
            return Wanted::NoValidName;
        }
        match request.endpoints(vm) {
            Some(spec) => Wanted::Publish { uid, spec },
            None => Wanted::NoAddresses,
        }
    }
}

/// A DNSEndpoint as its metadata shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub uid: String,
    /// The uid of the VMI it belongs to, when it is ours; `None`: someone else's.
    pub owner: Option<String>,
}

impl Observed {
    /// `None` for an object without name, namespace or uid.
    pub fn from_meta(meta: &ObjectMeta) -> Option<(VmiRef, Self)> {
        let name = meta.name.as_deref()?;
        let key = VmiRef::new(Some(meta.namespace.as_deref()?), Some(name));
        let labelled = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY_LABEL))
            .is_some_and(|v| v == MANAGER);
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|r| {
                r.controller == Some(true)
                    && r.kind == VirtualMachineInstance::kind(&())
                    && r.api_version == VirtualMachineInstance::api_version(&())
                    && r.name == name
            })
            .filter(|_| labelled)
            .map(|r| r.uid.clone());
        let uid = meta.uid.clone()?;
        Some((key, Self { uid, owner }))
    }

    fn is_ours(&self) -> bool {
        self.owner.is_some()
    }
}

/// What we last applied: for which VMI uid, with which spec.
type Applied = (String, DnsEndpointSpec);

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// No DNSEndpoint of that name: create ours (an apply that yields to anyone
    /// who created it meanwhile).
    Create {
        uid: String,
        spec: DnsEndpointSpec,
    },
    /// Ours, out of date: apply, taking back fields someone else changed.
    Update {
        uid: String,
        spec: DnsEndpointSpec,
    },
    /// Ours and no longer wanted: delete exactly that object.
    Delete {
        uid: String,
    },
    /// Wanted, but the name is taken by someone else's DNSEndpoint.
    LeaveForeign,
}

/// The whole policy, as a function of what is wanted, what exists and what we
/// applied last.
pub fn decide(
    wanted: Option<&Wanted>,
    observed: Option<&Observed>,
    applied: Option<&Applied>,
    keep_without_addresses: bool,
) -> Action {
    let ours = observed.filter(|o| o.is_ours());
    match (wanted, observed) {
        (Some(Wanted::Publish { .. }), Some(o)) if !o.is_ours() => Action::LeaveForeign,
        (Some(Wanted::Publish { uid, spec }), None) => Action::Create {
            uid: uid.clone(),
            spec: spec.clone(),
        },
        (Some(Wanted::Publish { uid, spec }), Some(o)) => {
            let current = o.owner.as_ref() == Some(uid)
                && applied.is_some_and(|(u, s)| u == uid && s == spec);
            if current {
                Action::Nothing
            } else {
                Action::Update {
                    uid: uid.clone(),
                    spec: spec.clone(),
                }
            }
        }
        (Some(Wanted::NoAddresses), Some(o)) if o.is_ours() && !keep_without_addresses => {
            Action::Delete { uid: o.uid.clone() }
        }
        (Some(_), _) => Action::Nothing,
        (None, _) => match ours {
            Some(o) => Action::Delete { uid: o.uid.clone() },
            None => Action::Nothing,
        },
    }
}

/// When a key is due for another look, and how long to wait after a failure.
#[derive(Clone, Copy, Debug)]
struct Due {
    at: Instant,
    delay: Duration,
}

/// The sink's state: what VMIs want, which DNSEndpoints exist, what we applied.
struct Sink {
    client: Client,
    settings: DnsEndpointSettings,
    metrics: Arc<Metrics>,
    wanted: HashMap<VmiRef, Wanted>,
    observed: HashMap<VmiRef, Observed>,
    observed_relist: Option<HashMap<VmiRef, Observed>>,
    applied: HashMap<VmiRef, Applied>,
    due: HashMap<VmiRef, Due>,
    /// Foreign DNSEndpoints already reported, so that each is reported once.
    reported_foreign: BTreeSet<VmiRef>,
    vmis_listed: bool,
    endpoints_listed: bool,
}

impl Sink {
    fn mark(&mut self, key: VmiRef) {
        self.due.insert(
            key,
            Due {
                at: Instant::now(),
                delay: FIRST_RETRY,
            },
        );
    }

    fn want(
        &mut self,
        vmi: VmiRef,
        uid: String,
        request: &EndpointRequest,
        vm: Option<&VmAddresses>,
    ) {
        let wanted = Wanted::new(uid, request, vm);
        if self.wanted.get(&vmi) != Some(&wanted) {
            for problem in &request.problems {
                warn!(vmi = %vmi, annotation = crate::dns_endpoint::HOSTNAME_ANNOTATION, "{problem}");
            }
            self.wanted.insert(vmi.clone(), wanted);
        }
        self.mark(vmi);
    }

    fn on_vmi_event(&mut self, event: SinkEvent) {
        match event {
            SinkEvent::Wants(a) => self.want(a.vmi, a.uid, &a.request, a.vm.as_ref()),
            SinkEvent::WantsNothing(vmi) => {
                self.wanted.remove(&vmi);
                self.mark(vmi);
            }
            SinkEvent::Resync(annotated) => {
                let before: Vec<VmiRef> = self.wanted.keys().cloned().collect();
                let mut seen = BTreeSet::new();
                for a in annotated {
                    seen.insert(a.vmi.clone());
                    self.want(a.vmi, a.uid, &a.request, a.vm.as_ref());
                }
                for key in before.into_iter().filter(|k| !seen.contains(k)) {
                    self.wanted.remove(&key);
                    self.mark(key);
                }
                // Ours whose VMI lost its annotation while we were away.
                let ours: Vec<VmiRef> = self
                    .observed
                    .iter()
                    .filter(|(_, o)| o.is_ours())
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in ours {
                    self.mark(key);
                }
                if !self.vmis_listed {
                    info!(
                        annotated = self.wanted.len(),
                        "VMIs listed; DNSEndpoints follow"
                    );
                }
                self.vmis_listed = true;
            }
        }
    }

    fn on_endpoint_event(&mut self, event: Event<PartialObjectMeta<DNSEndpoint>>) {
        match event {
            Event::Init => self.observed_relist = Some(HashMap::new()),
            Event::InitApply(object) => {
                if let (Some(relist), Some((key, observed))) = (
                    &mut self.observed_relist,
                    Observed::from_meta(&object.metadata),
                ) {
                    relist.insert(key, observed);
                }
            }
            Event::InitDone => {
                let listed = self.observed_relist.take().unwrap_or_default();
                let keys: BTreeSet<VmiRef> = listed
                    .keys()
                    .chain(self.observed.keys())
                    .chain(self.wanted.keys())
                    .cloned()
                    .collect();
                self.observed = listed;
                for key in keys {
                    self.mark(key);
                }
                self.endpoints_listed = true;
            }
            Event::Apply(object) => {
                if let Some((key, observed)) = Observed::from_meta(&object.metadata)
                    && self.observed.get(&key) != Some(&observed)
                {
                    self.observed.insert(key.clone(), observed);
                    self.mark(key);
                }
            }
            Event::Delete(object) => {
                if let Some((key, _)) = Observed::from_meta(&object.metadata) {
                    self.observed.remove(&key);
                    self.applied.remove(&key);
                    self.mark(key);
                }
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        if !(self.vmis_listed && self.endpoints_listed) {
            return None;
        }
        self.due.values().map(|d| d.at).min()
    }

    /// Acts on every key that is due.
    async fn work(&mut self) {
        if !(self.vmis_listed && self.endpoints_listed) {
            return;
        }
        let now = Instant::now();
        let mut keys: Vec<VmiRef> = self
            .due
            .iter()
            .filter(|(_, d)| d.at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        for key in keys {
            let span = info_span!("dnsendpoint", namespace = %key.namespace, name = %key.name);
            let done = self.reconcile(&key).instrument(span).await;
            if done {
                self.due.remove(&key);
            } else if let Some(due) = self.due.get_mut(&key) {
                due.at = Instant::now() + due.delay;
                due.delay = (due.delay * 2).min(MAX_RETRY);
            }
        }
    }

    /// One key; `false` when it must be tried again later.
    async fn reconcile(&mut self, key: &VmiRef) -> bool {
        let action = decide(
            self.wanted.get(key),
            self.observed.get(key),
            self.applied.get(key),
            self.settings.keep_without_addresses,
        );
        if action != Action::LeaveForeign {
            self.reported_foreign.remove(key);
        }
        let api: Api<DNSEndpoint> = Api::namespaced(self.client.clone(), &key.namespace);
        match action {
            Action::Nothing => true,
            Action::LeaveForeign => {
                if self.reported_foreign.insert(key.clone()) {
                    warn!(
                        "a DNSEndpoint of this name exists and is not ours; leaving it alone, so the VMI's names are not published"
                    );
                }
                true
            }
            Action::Create { uid, spec } => self.apply(&api, key, uid, spec, false).await,
            Action::Update { uid, spec } => self.apply(&api, key, uid, spec, true).await,
            Action::Delete { uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&key.name, &params).await {
                    Ok(_) => {
                        self.metrics.endpoint_write("delete", "success");
                        info!("DNSEndpoint deleted");
                        self.observed.remove(key);
                        self.applied.remove(key);
                        true
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        self.observed.remove(key);
                        self.applied.remove(key);
                        true
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        // Replaced by another object of the same name: look again
                        // once the watch shows it.
                        debug!(error = %e, "DNSEndpoint was replaced; looking again");
                        false
                    }
                    Err(e) => {
                        self.metrics.endpoint_write("delete", "failure");
                        warn!(error = %e, "cannot delete the DNSEndpoint; retrying with backoff");
                        false
                    }
                }
            }
        }
    }

    /// Applies our DNSEndpoint for `key` server-side, with `force` only when it
    /// is already ours. `false` when it must be tried again later.
    async fn apply(
        &mut self,
        api: &Api<DNSEndpoint>,
        key: &VmiRef,
        uid: String,
        spec: DnsEndpointSpec,
        force: bool,
    ) -> bool {
        let object = owned_endpoint(key, &uid, spec.clone());
        let mut params = PatchParams::apply(MANAGER);
        params.force = force;
        match api.patch(&key.name, &params, &Patch::Apply(&object)).await {
            Ok(written) => {
                self.metrics.endpoint_write("apply", "success");
                if let Some((_, observed)) = Observed::from_meta(&written.metadata) {
                    self.observed.insert(key.clone(), observed);
                }
                info!(
                    endpoints = spec.endpoints.len(),
                    created = !force,
                    "DNSEndpoint applied"
                );
                self.applied.insert(key.clone(), (uid, spec));
                true
            }
            Err(kube::Error::Api(e)) if e.code == 409 && !force => {
                // Someone created it between our look and our apply.
                self.metrics.endpoint_write("apply", "conflict");
                warn!(error = %e, "a DNSEndpoint of this name appeared meanwhile and is not ours; leaving it alone");
                true
            }
            Err(e) => {
                self.metrics.endpoint_write("apply", "failure");
                warn!(error = %e, "cannot apply the DNSEndpoint; retrying with backoff");
                false
            }
        }
    }
}

/// Our DNSEndpoint for `vmi`: labelled as ours and controlled by the VMI, so that
/// Kubernetes deletes it with the VMI.
fn owned_endpoint(vmi: &VmiRef, uid: &str, spec: DnsEndpointSpec) -> DNSEndpoint {
    let mut object = DNSEndpoint::new(&vmi.name, spec);
    object.metadata.namespace = Some(vmi.namespace.clone());
    object.metadata.labels = Some([(MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned())].into());
    object.metadata.owner_references = Some(vec![OwnerReference {
        api_version: VirtualMachineInstance::api_version(&()).into_owned(),
        kind: VirtualMachineInstance::kind(&()).into_owned(),
        name: vmi.name.clone(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    object
}

/// Why the sink cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "DNS_ENDPOINTS=true but the DNSEndpoint CRD (dnsendpoints.externaldns.k8s.io, v1alpha1) is not installed; install external-dns' CRD or set DNS_ENDPOINTS=false"
    )]
    CrdMissing,
    #[error(
        "DNS_ENDPOINTS=true but the service account may not read DNSEndpoints ({0}); apply the dns-endpoints component (deploy/components/dns-endpoints)"
    )]
    Forbidden(String),
}

/// Checks that DNSEndpoints are served and readable. Transient errors (API
/// down) are retried; a missing CRD or missing RBAC is an error at once.
pub async fn check_available(client: &Client) -> Result<(), SinkError> {
    let api: Api<PartialObjectMeta<DNSEndpoint>> = Api::all(client.clone());
    let mut delay = FIRST_RETRY;
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => return Err(SinkError::CrdMissing),
            Err(kube::Error::Api(e)) if e.code == 403 => {
                return Err(SinkError::Forbidden(e.message));
            }
            Err(e) => {
                warn!(error = %e, retry_in = ?delay, "cannot check for the DNSEndpoint CRD yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY);
            }
        }
    }
}

/// Runs the sink until the VMI side goes away.
pub async fn run(
    client: Client,
    settings: DnsEndpointSettings,
    mut events: mpsc::UnboundedReceiver<SinkEvent>,
    metrics: Arc<Metrics>,
) {
    let endpoints: Api<PartialObjectMeta<DNSEndpoint>> = Api::all(client.clone());
    let endpoint_events = watcher::watcher(endpoints, watcher::Config::default()).default_backoff();
    pin_mut!(endpoint_events);
    let mut sink = Sink {
        client,
        settings,
        metrics,
        wanted: HashMap::new(),
        observed: HashMap::new(),
        observed_relist: None,
        applied: HashMap::new(),
        due: HashMap::new(),
        reported_foreign: BTreeSet::new(),
        vmis_listed: false,
        endpoints_listed: false,
    };
    info!(
        keep_without_addresses = settings.keep_without_addresses,
        "DNSEndpoint sink started"
    );
    async {
        loop {
            let due = sink.next_due();
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => {
                        sink.on_vmi_event(event);
                        while let Ok(event) = events.try_recv() {
                            sink.on_vmi_event(event);
                        }
                    }
                    None => return,
                },
                item = endpoint_events.next() => match item {
                    Some(Ok(event)) => sink.on_endpoint_event(event),
                    Some(Err(e)) => warn!(error = %e, "DNSEndpoint watch failed; retrying with backoff"),
                    None => return,
                },
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            }
            sink.work().await;
        }
    }
    .instrument(info_span!("sink", resource = "dnsendpoints"))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns_endpoint::Endpoint;

    fn spec(target: &str) -> DnsEndpointSpec {
        DnsEndpointSpec {
            endpoints: vec![Endpoint {
                dns_name: "web.example.com".into(),
                record_type: "A".into(),
                targets: vec![target.into()],
                record_ttl: None,
            }],
        }
    }

    fn publish(uid: &str, target: &str) -> Wanted {
        Wanted::Publish {
            uid: uid.into(),
            spec: spec(target),
        }
    }

    fn ours(owner: &str) -> Observed {
        Observed {
            uid: "endpoint-uid".into(),
            owner: Some(owner.into()),
        }
    }

    fn foreign() -> Observed {
        Observed {
            uid: "endpoint-uid".into(),
            owner: None,
        }
    }

    #[test]
    fn a_new_annotated_vmi_gets_a_dnsendpoint() {
        let wanted = publish("vmi-1", "10.0.0.1");
        assert_eq!(
            decide(Some(&wanted), None, None, true),
            Action::Create {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.1")
            }
        );
    }

    #[test]
    fn ours_is_updated_only_when_something_changed() {
        let wanted = publish("vmi-1", "10.0.0.2");
        let applied = ("vmi-1".to_owned(), spec("10.0.0.2"));
        assert_eq!(
            decide(Some(&wanted), Some(&ours("vmi-1")), Some(&applied), true),
            Action::Nothing
        );
        let stale = ("vmi-1".to_owned(), spec("10.0.0.1"));
        assert_eq!(
            decide(Some(&wanted), Some(&ours("vmi-1")), Some(&stale), true),
            Action::Update {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.2")
            }
        );
        // After a restart nothing is known to be applied: apply once (a no-op
        // for the API server when nothing changed).
        assert_eq!(
            decide(Some(&wanted), Some(&ours("vmi-1")), None, true),
            Action::Update {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.2")
            }
        );
        // A VMI recreated under the same name: the owner reference moves to it.
        let applied_old = ("vmi-0".to_owned(), spec("10.0.0.2"));
        assert_eq!(
            decide(
                Some(&wanted),
                Some(&ours("vmi-0")),
                Some(&applied_old),
                true
            ),
            Action::Update {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.2")
            }
        );
    }

    #[test]
    fn someone_elses_dnsendpoint_is_never_touched() {
        let wanted = publish("vmi-1", "10.0.0.1");
        assert_eq!(
            decide(Some(&wanted), Some(&foreign()), None, true),
            Action::LeaveForeign
        );
        assert_eq!(decide(None, Some(&foreign()), None, true), Action::Nothing);
        assert_eq!(
            decide(Some(&Wanted::NoAddresses), Some(&foreign()), None, false),
            Action::Nothing
        );
    }

    #[test]
    fn ours_is_deleted_when_the_annotation_or_the_vmi_goes() {
        assert_eq!(
            decide(None, Some(&ours("vmi-1")), None, true),
            Action::Delete {
                uid: "endpoint-uid".into()
            }
        );
        assert_eq!(decide(None, None, None, true), Action::Nothing);
    }

    #[test]
    fn without_addresses_ours_is_kept_unless_configured_otherwise() {
        let no_addresses = Wanted::NoAddresses;
        assert_eq!(
            decide(Some(&no_addresses), Some(&ours("vmi-1")), None, true),
            Action::Nothing
        );
        assert_eq!(
            decide(Some(&no_addresses), Some(&ours("vmi-1")), None, false),
            Action::Delete {
                uid: "endpoint-uid".into()
            }
        );
        assert_eq!(
            decide(Some(&no_addresses), None, None, false),
            Action::Nothing
        );
    }

    #[test]
    fn an_annotation_with_no_valid_name_leaves_everything_as_it_is() {
        assert_eq!(
            decide(
                Some(&Wanted::NoValidName),
                Some(&ours("vmi-1")),
                None,
                false
            ),
            Action::Nothing
        );
    }

    #[test]
    fn ours_means_our_label_and_a_controller_reference_to_the_vmi_of_that_name() {
        let meta = |labelled: bool, owner_name: &str, controller: bool| ObjectMeta {
            name: Some("web".into()),
            namespace: Some("lab".into()),
            uid: Some("endpoint-uid".into()),
            labels: labelled.then(|| [(MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned())].into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "kubevirt.io/v1".into(),
                kind: "VirtualMachineInstance".into(),
                name: owner_name.into(),
                uid: "vmi-1".into(),
                controller: Some(controller),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        };
        let owner = |m: ObjectMeta| Observed::from_meta(&m).unwrap().1.owner;
        assert_eq!(owner(meta(true, "web", true)), Some("vmi-1".into()));
        assert_eq!(owner(meta(false, "web", true)), None, "not labelled");
        assert_eq!(owner(meta(true, "other", true)), None, "another VMI");
        assert_eq!(owner(meta(true, "web", false)), None, "not the controller");
        let object = owned_endpoint(
            &VmiRef::new(Some("lab"), Some("web")),
            "vmi-1",
            spec("10.0.0.1"),
        );
        assert_eq!(
            Observed::from_meta(&ObjectMeta {
                uid: Some("endpoint-uid".into()),
                ..object.metadata
            }),
            Some((VmiRef::new(Some("lab"), Some("web")), ours("vmi-1"))),
            "what we apply is what we recognise as ours"
        );
    }
}
