//! The outputs: the zone files ([`zone`]) and, when enabled, external-dns
//! DNSEndpoints ([`endpoints`]). [`fan_out`] hands each source event to both.

use tokio::sync::mpsc;
use tracing::warn;

use crate::source::SourceEvent;

pub mod endpoints;
pub mod zone;

/// Hands every source event to the endpoint output (first, without waiting:
/// it must never slow the zone down) and then to the zone output, until the
/// source or the zone output goes away.
pub async fn fan_out(
    mut events: mpsc::Receiver<SourceEvent>,
    zone: mpsc::Sender<SourceEvent>,
    mut endpoints: Option<mpsc::UnboundedSender<SourceEvent>>,
) {
    while let Some(event) = events.recv().await {
        if let Some(output) = &endpoints
            && output.send(event.clone()).is_err()
        {
            warn!("the DNSEndpoint sink stopped; DNSEndpoints are no longer updated");
            endpoints = None;
        }
        if zone.send(event).await.is_err() {
            return;
        }
    }
}
