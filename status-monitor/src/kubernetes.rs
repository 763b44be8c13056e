//! The Kubernetes source: VirtualMachineInstances of every namespace, watched
//! with kube-runtime's watcher (list + watch, bookmarks, backoff on errors).
//!
//! Objects arrive as `DynamicObject`s and are decoded one by one, so a VMI whose
//! JSON does not fit is skipped with a warning instead of failing a whole list
//! page. Only the projection is kept; the object is dropped at once.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{StreamExt, pin_mut};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span, warn};
use zone_manager::{Origin, VmAddresses};

use crate::metrics::Metrics;
use crate::pipeline::SourceEvent;
use crate::projection::project_reporting;
use crate::vmi::{VirtualMachineInstance, VmiRef};

/// Decodes a watched object into our partial VMI type.
pub fn decode(object: DynamicObject) -> Result<VirtualMachineInstance, serde_json::Error> {
    let DynamicObject {
        metadata, mut data, ..
    } = object;
    let spec = serde_json::from_value(
        data.get_mut("spec")
            .map(serde_json::Value::take)
            .unwrap_or_default(),
    )?;
    let status = match data.get_mut("status").map(serde_json::Value::take) {
        None | Some(serde_json::Value::Null) => None,
        Some(status) => Some(serde_json::from_value(status)?),
    };
    Ok(VirtualMachineInstance {
        metadata,
        spec,
        status,
    })
}

/// The watched VMIs and where each one stands.
struct Watched {
    origin: Origin,
    metrics: Arc<Metrics>,
    /// `namespace/name` of every VMI in the watch, for the `vmis_known` metric.
    known: HashSet<Box<str>>,
    /// Between `Init` and `InitDone`: the relist being collected.
    relist: Option<(Vec<VmAddresses>, HashSet<Box<str>>)>,
    lists: u64,
}

impl Watched {
    /// Projects one object; `None` if it gives no records or was skipped.
    fn project(&self, vmi_ref: &VmiRef, object: DynamicObject) -> Option<VmAddresses> {
        let span = info_span!("vmi", namespace = %vmi_ref.namespace, name = %vmi_ref.name);
        let _entered = span.enter();
        match decode(object) {
            Ok(vmi) => {
                project_reporting(&vmi, &self.origin, &self.metrics).filter(|vm| !vm.is_empty())
            }
            Err(e) => {
                self.metrics.skip("malformed");
                warn!(vmi = %vmi_ref, error = %e, "skipping VMI whose JSON does not fit");
                None
            }
        }
    }

    /// Turns one watcher event into what the zone needs to hear, if anything.
    fn handle(&mut self, event: Event<DynamicObject>) -> Option<SourceEvent> {
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

fn object_ref(object: &DynamicObject) -> VmiRef {
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
    let resource = ApiResource::erase::<VirtualMachineInstance>(&());
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    pin_mut!(stream);
    let mut watched = Watched {
        origin,
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
