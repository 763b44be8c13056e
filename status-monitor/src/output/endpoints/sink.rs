//! The DNSEndpoint sink's state and work: what VMIs want, which DNSEndpoints
//! exist, what we applied, and the keys due for a look.
//!
//! The work queue is kube-runtime's [`scheduler`]: it dedups keys, delays a
//! failed key by its backoff, and holds every key until both the VMIs and the
//! DNSEndpoints are listed. kube's `Controller` is not used: it would watch the
//! VMIs a second time, while the zone's watch already feeds us.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::core::PartialObjectMeta;
use kube::runtime::scheduler::{ScheduleRequest, Scheduler, scheduler};
use kube::runtime::watcher::Event;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use zone_manager::VmAddresses;

use super::dns_endpoint::{DNSEndpoint, DnsEndpointSpec, EndpointRequest, MANAGER};
use super::policy::{Action, Applied, Observed, Wanted, decide, owned_endpoint};
use crate::config::DnsEndpointSettings;
use crate::metrics::Metrics;
use crate::relist::Relist;
use crate::retry::Backoff;
use crate::vmi::VmiRef;

/// The keys to look at, deduplicated and delayed.
pub type Queue = Scheduler<VmiRef, UnboundedReceiver<ScheduleRequest<VmiRef>>>;

/// The sink's state: what VMIs want, which DNSEndpoints exist, what we applied.
pub struct Sink {
    client: Client,
    settings: DnsEndpointSettings,
    metrics: Arc<Metrics>,
    wanted: HashMap<VmiRef, Wanted>,
    observed: Relist<HashMap<VmiRef, Observed>>,
    applied: HashMap<VmiRef, Applied>,
    schedule: UnboundedSender<ScheduleRequest<VmiRef>>,
    /// Keys that failed, with the delay before their next try.
    backoff: HashMap<VmiRef, Backoff>,
    /// Foreign DNSEndpoints already reported, so that each is reported once.
    reported_foreign: BTreeSet<VmiRef>,
    vmis_listed: bool,
}

impl Sink {
    pub fn new(
        client: Client,
        settings: DnsEndpointSettings,
        metrics: Arc<Metrics>,
    ) -> (Self, Queue) {
        let (schedule, requests) = unbounded();
        let sink = Self {
            client,
            settings,
            metrics,
            wanted: HashMap::new(),
            observed: Relist::default(),
            applied: HashMap::new(),
            schedule,
            backoff: HashMap::new(),
            reported_foreign: BTreeSet::new(),
            vmis_listed: false,
        };
        (sink, scheduler(requests))
    }

    /// Both sides are listed: keys may be worked on.
    pub fn is_listed(&self) -> bool {
        self.vmis_listed && self.observed.is_complete()
    }

    fn mark(&mut self, key: VmiRef) {
        self.backoff.remove(&key);
        self.schedule_at(key, Instant::now());
    }

    fn schedule_at(&self, key: VmiRef, run_at: Instant) {
        // The queue lives as long as the sink.
        let _ = self.schedule.unbounded_send(ScheduleRequest {
            message: key,
            run_at,
        });
    }

    pub fn want(
        &mut self,
        vmi: VmiRef,
        uid: String,
        request: &EndpointRequest,
        vm: Option<&VmAddresses>,
    ) {
        let wanted = Wanted::new(uid, request, vm);
        if self.wanted.get(&vmi) != Some(&wanted) {
            for problem in &request.problems {
                warn!(vmi = %vmi, "{problem}");
            }
            self.wanted.insert(vmi.clone(), wanted);
        }
        self.mark(vmi);
    }

    pub fn want_nothing(&mut self, vmi: VmiRef) {
        self.wanted.remove(&vmi);
        self.mark(vmi);
    }

    /// After a (re)list of VMIs: `annotated` is every VMI that wants something.
    pub fn resync(
        &mut self,
        annotated: Vec<(VmiRef, String, EndpointRequest, Option<VmAddresses>)>,
    ) {
        let before: Vec<VmiRef> = self.wanted.keys().cloned().collect();
        let mut seen = BTreeSet::new();
        for (vmi, uid, request, vm) in annotated {
            seen.insert(vmi.clone());
            self.want(vmi, uid, &request, vm.as_ref());
        }
        for key in before.into_iter().filter(|k| !seen.contains(k)) {
            self.want_nothing(key);
        }
        // Ours whose VMI lost its annotation while we were away.
        let ours: Vec<VmiRef> = self
            .observed
            .current()
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

    pub fn on_endpoint_event(&mut self, event: Event<PartialObjectMeta<DNSEndpoint>>) {
        match event {
            Event::Init => self.observed.begin(),
            Event::InitApply(object) => {
                if let Some((key, observed)) = Observed::from_meta(&object.metadata) {
                    self.observed.target().insert(key, observed);
                }
            }
            Event::InitDone => {
                let before: Vec<VmiRef> = self.observed.current().keys().cloned().collect();
                let listed = self.observed.finish();
                let keys: BTreeSet<VmiRef> = listed
                    .keys()
                    .cloned()
                    .chain(before)
                    .chain(self.wanted.keys().cloned())
                    .collect();
                for key in keys {
                    self.mark(key);
                }
            }
            Event::Apply(object) => {
                if let Some((key, observed)) = Observed::from_meta(&object.metadata)
                    && self.observed.current().get(&key) != Some(&observed)
                {
                    self.observed.target().insert(key.clone(), observed);
                    self.mark(key);
                }
            }
            Event::Delete(object) => {
                if let Some((key, _)) = Observed::from_meta(&object.metadata) {
                    self.observed.target().remove(&key);
                    self.applied.remove(&key);
                    self.mark(key);
                }
            }
        }
    }

    /// Looks at one key; a failure is tried again after its backoff.
    pub async fn work(&mut self, key: VmiRef) {
        let requeue = match self.reconcile(&key).await {
            Ok(requeue) => {
                self.backoff.remove(&key);
                requeue
            }
            Err(error) => self.error_policy(&key, &error),
        };
        if let Requeue::After(delay) = requeue {
            self.schedule_at(key, Instant::now() + delay);
        }
    }

    /// What a failed look at `key` costs: counted, logged, and tried again
    /// after the key's backoff.
    fn error_policy(&mut self, key: &VmiRef, error: &ReconcileError) -> Requeue {
        match error {
            ReconcileError::Replaced(_) => debug!(error = %error, "looking again"),
            ReconcileError::Apply(_) | ReconcileError::Delete(_) => {
                self.metrics.endpoint_write(error.verb(), "failure");
                warn!(error = %error, "retrying with backoff");
            }
        }
        Requeue::After(self.backoff.entry(key.clone()).or_default().next_delay())
    }

    /// One key. Every success waits for the next change: the watches wake
    /// the key again.
    async fn reconcile(&mut self, key: &VmiRef) -> Result<Requeue, ReconcileError> {
        let action = decide(
            self.wanted.get(key),
            self.observed.current().get(key),
            self.applied.get(key),
            self.settings.keep_without_addresses,
        );
        if action != Action::LeaveForeign {
            self.reported_foreign.remove(key);
        }
        let api: Api<DNSEndpoint> = Api::namespaced(self.client.clone(), &key.namespace);
        match action {
            Action::Nothing => {}
            Action::LeaveForeign => {
                if self.reported_foreign.insert(key.clone()) {
                    warn!(
                        "a DNSEndpoint of this name exists and is not ours; leaving it alone, so the VMI's names are not published"
                    );
                }
            }
            Action::Create { uid, spec } => self.apply(&api, key, uid, spec, false).await?,
            Action::Update { uid, spec } => self.apply(&api, key, uid, spec, true).await?,
            Action::Delete { uid } => self.delete(&api, key, uid).await?,
        }
        Ok(Requeue::AwaitChange)
    }

    /// Deletes our DNSEndpoint for `key`, only if it is still the object
    /// `uid` names.
    async fn delete(
        &mut self,
        api: &Api<DNSEndpoint>,
        key: &VmiRef,
        uid: String,
    ) -> Result<(), ReconcileError> {
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
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            // Replaced by another object of the same name: look again once
            // the watch shows it.
            Err(e @ kube::Error::Api(_)) if is_conflict(&e) => {
                return Err(ReconcileError::Replaced(e));
            }
            Err(e) => return Err(ReconcileError::Delete(e)),
        }
        self.observed.current_mut().remove(key);
        self.applied.remove(key);
        Ok(())
    }

    /// Applies our DNSEndpoint for `key` server-side, with `force` only when it
    /// is already ours.
    async fn apply(
        &mut self,
        api: &Api<DNSEndpoint>,
        key: &VmiRef,
        uid: String,
        spec: DnsEndpointSpec,
        force: bool,
    ) -> Result<(), ReconcileError> {
        let object = owned_endpoint(key, &uid, spec.clone());
        let mut params = PatchParams::apply(MANAGER);
        params.force = force;
        match api.patch(&key.name, &params, &Patch::Apply(&object)).await {
            Ok(written) => {
                self.metrics.endpoint_write("apply", "success");
                if let Some((_, observed)) = Observed::from_meta(&written.metadata) {
                    self.observed.current_mut().insert(key.clone(), observed);
                }
                info!(
                    endpoints = spec.endpoints.len(),
                    created = !force,
                    "DNSEndpoint applied"
                );
                self.applied.insert(key.clone(), (uid, spec));
                Ok(())
            }
            Err(e) if !force && is_conflict(&e) => {
                // Someone created it between our look and our apply.
                self.metrics.endpoint_write("apply", "conflict");
                warn!(error = %e, "a DNSEndpoint of this name appeared meanwhile and is not ours; leaving it alone");
                Ok(())
            }
            Err(e) => Err(ReconcileError::Apply(e)),
        }
    }
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e) if e.code == 409)
}

/// Why a look at a key must be tried again.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot apply the DNSEndpoint: {0}")]
    Apply(#[source] kube::Error),
    #[error("cannot delete the DNSEndpoint: {0}")]
    Delete(#[source] kube::Error),
    #[error("the DNSEndpoint was replaced meanwhile: {0}")]
    Replaced(#[source] kube::Error),
}

impl ReconcileError {
    /// The write that failed, as the metrics name it.
    fn verb(&self) -> &'static str {
        match self {
            Self::Apply(_) => "apply",
            Self::Delete(_) | Self::Replaced(_) => "delete",
        }
    }
}

/// What becomes of a key after a look, in the shape of kube-runtime's
/// `controller::Action`.
enum Requeue {
    /// Nothing until a watch wakes the key again.
    AwaitChange,
    After(std::time::Duration),
}
