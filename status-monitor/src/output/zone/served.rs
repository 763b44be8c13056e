//! The served watch: asks the DNS server beside status-monitor (`LOCAL_DNS_ADDR`,
//! CoreDNS in the same pod) for the serial of every zone published, until it
//! serves it. That is what turns the pod ready (every zone of the first complete
//! publication served), what the freshness histogram measures (a change reaching
//! status-monitor → the new serial served), and when NOTIFY may go.
//!
//! Cheap on purpose: one SOA question per waiting zone per try, the tries
//! spaced 100 ms × 1.5ⁿ up to 5 s, at most [`MAX_PER_ROUND`] per round.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval};
use tracing::{info, warn};
use zone_manager::{Origin, Serial};

use crate::dns_query::{MessageIds, soa_serial};
use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// How often the watch looks for zones due for a question.
const TICK: Duration = Duration::from_millis(100);
/// The first try, and the growth and cap of the spacing between tries.
const FIRST_TRY: Duration = Duration::from_millis(100);
const GROWTH: f64 = 1.5;
const LONGEST_SPACING: Duration = Duration::from_secs(5);
/// How long one SOA question to the local server may take.
const LOCAL_TIMEOUT: Duration = Duration::from_millis(500);
/// Questions per round, and at once: thousands of zones written at startup
/// must not flood the server that is loading them.
const MAX_PER_ROUND: usize = 1000;
const CONCURRENT: usize = 64;
/// A zone not served after this long is reported (once), and still asked.
const REPORT_AFTER: Duration = Duration::from_secs(120);

/// What the zone output tells the watch.
#[derive(Debug)]
enum Event {
    /// `zone`'s file holds `serial`.
    Published {
        zone: Origin,
        serial: Serial,
        /// When the oldest change in it reached status-monitor; `None` for a
        /// zone found already on disk at startup (no change, nothing to notify).
        changed: Option<Instant>,
        /// One of the first complete publication's zones, which readiness waits for.
        first: bool,
    },
    /// `zone`'s file is gone (its namespace is): nothing to wait for.
    Removed(Origin),
}

/// Hands published and removed zones to the watching task.
#[derive(Clone)]
pub struct ServedWatch {
    events: mpsc::UnboundedSender<Event>,
}

impl ServedWatch {
    /// Starts the watch. `on_served` gets every changed zone once its serial
    /// is served (at once when there is no local server to ask).
    pub fn spawn(
        local_dns: Option<SocketAddr>,
        metrics: Arc<Metrics>,
        readiness: Readiness,
        on_served: impl Fn(Origin, Serial) + Send + 'static,
    ) -> Self {
        let (events, receiver) = mpsc::unbounded_channel();
        match local_dns {
            Some(server) => {
                tokio::spawn(watch(server, metrics, readiness, receiver, on_served));
            }
            None => {
                tokio::spawn(pass_through(receiver, on_served));
            }
        }
        Self { events }
    }

    /// `zone`'s file holds `serial`; `changed` is when its oldest change
    /// reached status-monitor, `None` when it was already on disk; `first`
    /// for the zones of the first complete publication.
    pub fn zone_published(
        &self,
        zone: Origin,
        serial: Serial,
        changed: Option<Instant>,
        first: bool,
    ) {
        // The task outlives every sender but at shutdown.
        let _ = self.events.send(Event::Published {
            zone,
            serial,
            changed,
            first,
        });
    }

    /// `zone`'s file was removed.
    pub fn zone_removed(&self, zone: Origin) {
        let _ = self.events.send(Event::Removed(zone));
    }
}

/// No local server: a changed zone counts as served once written.
async fn pass_through(
    mut events: mpsc::UnboundedReceiver<Event>,
    on_served: impl Fn(Origin, Serial),
) {
    while let Some(event) = events.recv().await {
        if let Event::Published {
            zone,
            serial,
            changed: Some(_),
            ..
        } = event
        {
            on_served(zone, serial);
        }
    }
}

/// A published serial the local server does not serve yet.
struct Waiting {
    serial: Serial,
    changed: Option<Instant>,
    since: Instant,
    next_try: Instant,
    spacing: Duration,
    reported: bool,
}

async fn watch(
    server: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    mut events: mpsc::UnboundedReceiver<Event>,
    on_served: impl Fn(Origin, Serial),
) {
    let ids = MessageIds::default();
    let mut waiting: HashMap<Origin, Waiting> = HashMap::new();
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first complete publication's zones not served yet: the pod is ready
    // once there are none, whatever later writes keep waiting.
    let mut initial: HashSet<Origin> = HashSet::new();
    let mut received_first = false;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Removed(zone)) => {
                    waiting.remove(&zone);
                    initial.remove(&zone);
                    if waiting.is_empty() {
                        // No round runs with nothing waiting: say so here.
                        metrics.zones_unserved(0, Duration::ZERO);
                    }
                }
                Some(Event::Published { zone, serial, changed, first }) => {
                    if first {
                        received_first = true;
                        initial.insert(zone.clone());
                    }
                    let now = Instant::now();
                    // A newer serial before the older was served: the older
                    // change is served with it.
                    let changed = match (waiting.get(&zone).and_then(|w| w.changed), changed) {
                        (Some(old), Some(new)) => Some(old.min(new)),
                        (old, new) => new.or(old),
                    };
                    waiting.insert(zone, Waiting {
                        serial, changed, since: now, next_try: now + FIRST_TRY,
                        spacing: FIRST_TRY, reported: false,
                    });
                }
                None => return,
            },
            _ = tick.tick(), if !waiting.is_empty() => {
                let now = Instant::now();
                // The longest due first; only those asked are cloned.
                let mut due: Vec<(&Origin, &Waiting)> = waiting
                    .iter()
                    .filter(|(_, w)| w.next_try <= now)
                    .collect();
                due.sort_by_key(|(_, w)| w.next_try);
                let due: Vec<(Origin, Serial)> = due
                    .into_iter()
                    .take(MAX_PER_ROUND)
                    .map(|(zone, w)| (zone.clone(), w.serial))
                    .collect();
                let ids = &ids;
                let answers: Vec<_> = futures::stream::iter(due)
                    .map(|(zone, serial)| async move {
                        let served = soa_serial(server, &zone, ids, LOCAL_TIMEOUT).await;
                        (zone, serial, served)
                    })
                    .buffer_unordered(CONCURRENT)
                    .collect()
                    .await;
                let now = Instant::now();
                for (zone, serial, served) in answers {
                    let Some(entry) = waiting.get_mut(&zone) else { continue };
                    if entry.serial != serial {
                        continue; // republished meanwhile: asked again later
                    }
                    if served.is_some_and(|served| !serial.is_after(served)) {
                        if let Some(changed) = entry.changed {
                            metrics.change_served(now - changed);
                            on_served(zone.clone(), serial);
                        }
                        waiting.remove(&zone);
                        initial.remove(&zone);
                        continue;
                    }
                    entry.spacing = entry.spacing.mul_f64(GROWTH).min(LONGEST_SPACING);
                    entry.next_try = now + entry.spacing;
                    if !entry.reported && now - entry.since > REPORT_AFTER {
                        entry.reported = true;
                        warn!(zone = %zone, %serial, local = %server,
                            "the DNS server beside status-monitor does not serve this serial yet");
                    }
                }
                metrics.zones_unserved(
                    waiting.len(),
                    waiting.values().map(|w| now - w.since).max().unwrap_or_default(),
                );
            }
        }
        if received_first && initial.is_empty() && !readiness.is_served() {
            info!(local = %server, "the DNS server beside status-monitor serves every zone of the first write: ready");
            readiness.set_served();
        }
    }
}
