//! The outputs: the zone files ([`zone`]) and the outputs beside it, each
//! enabled by the config: today external-dns DNSEndpoints ([`endpoints`]).
//! [`fan_out`] hands each source event to all of them.

use kube::Client;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::source::{KeptAnnotations, SourceEvent};
use std::sync::Arc;

pub mod endpoints;
pub mod zone;

/// A started output beside the zone. It hears every source event on a queue
/// of its own, so that it never slows the zone down.
pub struct SideOutput {
    name: &'static str,
    /// The VMI annotations it reads: the source passes these on.
    annotations: &'static [&'static str],
    events: mpsc::UnboundedSender<SourceEvent>,
}

impl SideOutput {
    pub fn new(
        name: &'static str,
        annotations: &'static [&'static str],
        events: mpsc::UnboundedSender<SourceEvent>,
    ) -> Self {
        Self {
            name,
            annotations,
            events,
        }
    }
}

/// Why an output cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the DNSEndpoint sink: {0}")]
    Endpoints(#[from] endpoints::SinkError),
}

/// Starts every output beside the zone that `config` enables; `client` is
/// there when VMIs come from a cluster. Adding an output is one line here.
pub async fn start_side_outputs(
    config: &Config,
    client: Option<&Client>,
    metrics: &Arc<Metrics>,
) -> Result<Vec<SideOutput>, StartError> {
    let started = [endpoints::start(config, client, metrics).await?];
    Ok(started.into_iter().flatten().collect())
}

/// The annotations that `outputs` read, for the source to pass on.
pub fn kept_annotations(outputs: &[SideOutput]) -> KeptAnnotations {
    KeptAnnotations(
        outputs
            .iter()
            .flat_map(|output| output.annotations.iter().copied())
            .collect(),
    )
}

/// Hands every source event to the outputs beside the zone (first, without
/// waiting) and then to the zone output, until the source or the zone output
/// goes away. An output that stopped is dropped from the list.
pub async fn fan_out(
    mut events: mpsc::Receiver<SourceEvent>,
    zone: mpsc::Sender<SourceEvent>,
    mut outputs: Vec<SideOutput>,
) {
    while let Some(event) = events.recv().await {
        outputs.retain(|output| {
            let alive = output.events.send(event.clone()).is_ok();
            if !alive {
                warn!(
                    output = output.name,
                    "output stopped; it is no longer updated"
                );
            }
            alive
        });
        if zone.send(event).await.is_err() {
            return;
        }
    }
}
