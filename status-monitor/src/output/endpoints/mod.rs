//! The external-dns DNSEndpoint output (`DNS_ENDPOINTS=true`): for every VMI
//! annotated `external-dns.kubernetes.io/hostname` (or its alpha form), a DNSEndpoint of the
//! same name in its namespace, owned by the VMI, kept up to date with
//! server-side apply. It hears the same source events as the zone (with the
//! annotations it asks for, [`KEPT_ANNOTATIONS`]), and watches the metadata of
//! DNSEndpoints to know which ones exist and which are ours.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{StreamExt, pin_mut};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span, warn};
use zone_manager::VmAddresses;

use super::SideOutput;
use crate::config::{Config, DnsEndpointSettings};
use crate::metrics::Metrics;
use crate::retry::Backoff;
use crate::source::{SourceEvent, VmiMetadata};
use dns_endpoint::{DNSEndpoint, EndpointRequest, HOSTNAME_ANNOTATIONS, TTL_ANNOTATIONS};
use sink::Sink;

pub mod dns_endpoint;
pub mod policy;
mod sink;

/// The VMI annotations this output reads.
pub const KEPT_ANNOTATIONS: [&str; 4] = [
    HOSTNAME_ANNOTATIONS[0],
    HOSTNAME_ANNOTATIONS[1],
    TTL_ANNOTATIONS[0],
    TTL_ANNOTATIONS[1],
];

/// What a VMI's kept annotations ask, if anything: each setting from the
/// first of its annotations that is set.
fn request_of(metadata: Option<&VmiMetadata>) -> Option<(String, EndpointRequest)> {
    let metadata = metadata?;
    let first = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|key| metadata.annotations.get(*key).map(String::as_str))
    };
    let request =
        EndpointRequest::from_annotations(first(HOSTNAME_ANNOTATIONS), first(TTL_ANNOTATIONS))?;
    Some((metadata.uid.clone(), request))
}

/// Hands one source event to the sink.
fn apply(sink: &mut Sink, event: SourceEvent) {
    match event {
        SourceEvent::Apply { vmi, vm, metadata } => match request_of(metadata.as_ref()) {
            Some((uid, request)) => sink.want(vmi, uid, &request, vm.as_ref()),
            None => sink.want_nothing(vmi),
        },
        SourceEvent::Delete(vmi) => sink.want_nothing(vmi),
        SourceEvent::Resync { vms, metadata } => {
            let by_name: HashMap<(&str, &str), &VmAddresses> = vms
                .iter()
                .map(|vm| ((vm.namespace().as_str(), vm.name().as_str()), vm))
                .collect();
            let annotated = metadata
                .iter()
                .filter_map(|(vmi, metadata)| {
                    let (uid, request) = request_of(Some(metadata))?;
                    let vm = by_name
                        .get(&(vmi.namespace.as_str(), vmi.name.as_str()))
                        .map(|vm| (*vm).clone());
                    Some((vmi.clone(), uid, request, vm))
                })
                .collect();
            sink.resync(annotated);
        }
    }
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
async fn check_available(client: &Client) -> Result<(), SinkError> {
    let api: Api<PartialObjectMeta<DNSEndpoint>> = Api::all(client.clone());
    let mut backoff = Backoff::default();
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => return Err(SinkError::CrdMissing),
            Err(kube::Error::Api(e)) if e.code == 403 => {
                return Err(SinkError::Forbidden(e.message));
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in = ?delay, "cannot check for the DNSEndpoint CRD yet; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Starts the sink when `config` enables it: checks that DNSEndpoints can be
/// read, then runs it on its own queue. `client` is always there when it is
/// enabled: the config refuses DNS_ENDPOINTS with a manifest directory.
pub async fn start(
    config: &Config,
    client: Option<&Client>,
    metrics: &Arc<Metrics>,
) -> Result<Option<SideOutput>, SinkError> {
    let (Some(settings), Some(client)) = (config.dns_endpoints, client) else {
        return Ok(None);
    };
    check_available(client).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(client.clone(), settings, rx, metrics.clone()));
    Ok(Some(SideOutput::new(
        "DNSEndpoint sink",
        &KEPT_ANNOTATIONS,
        tx,
    )))
}

/// Runs the sink until the sources go away.
async fn run(
    client: Client,
    settings: DnsEndpointSettings,
    mut events: mpsc::UnboundedReceiver<SourceEvent>,
    metrics: Arc<Metrics>,
) {
    let endpoints: Api<PartialObjectMeta<DNSEndpoint>> = Api::all(client.clone());
    let endpoint_events = watcher::watcher(endpoints, watcher::Config::default()).default_backoff();
    pin_mut!(endpoint_events);
    let (mut sink, queue) = Sink::new(client, settings, metrics);
    pin_mut!(queue);
    info!(
        keep_without_addresses = settings.keep_without_addresses,
        "DNSEndpoint sink started"
    );
    async {
        loop {
            let listed = sink.is_listed();
            let mut due = queue.as_mut().hold_unless(|_| listed);
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => apply(&mut sink, event),
                    None => return,
                },
                item = endpoint_events.next() => match item {
                    Some(Ok(event)) => sink.on_endpoint_event(event),
                    Some(Err(e)) => warn!(error = %e, "DNSEndpoint watch failed; retrying with backoff"),
                    None => return,
                },
                Some(key) = due.next() => {
                    let span = info_span!("dnsendpoint", namespace = %key.namespace, name = %key.name);
                    sink.work(key).instrument(span).await;
                }
            }
        }
    }
    .instrument(info_span!("sink", resource = "dnsendpoints"))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(hostname: Option<&str>) -> VmiMetadata {
        annotated(
            &hostname
                .map(|h| vec![(HOSTNAME_ANNOTATIONS[1], h)])
                .unwrap_or_default(),
        )
    }

    fn annotated(annotations: &[(&str, &str)]) -> VmiMetadata {
        VmiMetadata {
            uid: "uid-a".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_current_external_dns_prefix_is_read_and_wins_over_the_alpha_one() {
        let request = |annotations: &[(&str, &str)]| {
            let (_, request) = request_of(Some(&annotated(annotations))).unwrap();
            (request.hostnames, request.ttl)
        };
        let new = "external-dns.kubernetes.io/";
        let alpha = "external-dns.alpha.kubernetes.io/";
        let (hostname, ttl) = (
            |p: &str| format!("{p}hostname"),
            |p: &str| format!("{p}ttl"),
        );
        assert_eq!(
            request(&[(&hostname(new), "new.example.org"), (&ttl(new), "60")]),
            (vec!["new.example.org".to_owned()], Some(60)),
            "the current prefix alone"
        );
        assert_eq!(
            request(&[
                (&hostname(new), "new.example.org"),
                (&hostname(alpha), "old.example.org"),
                (&ttl(new), "60"),
                (&ttl(alpha), "600"),
            ]),
            (vec!["new.example.org".to_owned()], Some(60)),
            "both: the current one wins"
        );
        assert_eq!(
            request(&[(&hostname(alpha), "old.example.org"), (&ttl(alpha), "600")]),
            (vec!["old.example.org".to_owned()], Some(600)),
            "the alpha prefix alone"
        );
        assert_eq!(
            request(&[(&hostname(new), "new.example.org"), (&ttl(alpha), "600")]),
            (vec!["new.example.org".to_owned()], Some(600)),
            "each setting from whichever prefix has it"
        );
        for key in KEPT_ANNOTATIONS {
            assert!(key.starts_with(new) || key.starts_with(alpha), "{key}");
        }
    }

    #[test]
    fn the_endpoint_output_hears_of_annotated_vmis_with_their_uid_and_names() {
        let (uid, request) = request_of(Some(&metadata(Some("a.example.org")))).unwrap();
        assert_eq!(uid, "uid-a");
        assert_eq!(request.hostnames, ["a.example.org"]);
        assert!(
            request_of(Some(&metadata(None))).is_none(),
            "the annotation removed"
        );
        assert!(request_of(None).is_none());
    }
}
