//! NOTIFY (RFC 1996) to the secondaries of `NOTIFY_SECONDARIES` after a zone
//! is written, once the DNS server beside status-monitor (`LOCAL_DNS_ADDR`,
//! CoreDNS in the same pod) serves the new serial: a secondary told earlier
//! would ask for the SOA, see the old serial and wait for its refresh timer.
//!
//! Why not CoreDNS's own NOTIFY (`transfer { to ADDRESS }`): CoreDNS 1.14.7's
//! `auto` notifies every zone on every reload tick, one after another, and
//! waits up to 3 × 2 s for each answer. With one secondary that does not
//! answer, a change to one of 5 zones was served 21 s later (BENCHMARKS.md).
//! Here each zone and secondary is a task of its own: a silent secondary
//! costs its own retries and nothing else.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};
use tracing::{Instrument, debug, info_span, warn};
use zone_manager::{Origin, Serial};

use crate::config::NotifySettings;
use crate::metrics::Metrics;

/// How often the local server is asked whether it serves a written serial yet.
const POLL: Duration = Duration::from_millis(100);
/// How long one SOA question to the local server may take.
const LOCAL_TIMEOUT: Duration = Duration::from_millis(500);
/// A serial the local server has not loaded after this long is not notified:
/// it never will be (the file was replaced meanwhile, or the server is down).
const GIVE_UP_WAITING: Duration = Duration::from_secs(120);
/// How long each NOTIFY waits for its answer: four tries over 15 s.
const ATTEMPT_TIMEOUTS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// Hands written zones to the notifying task.
#[derive(Clone)]
pub struct Notifier {
    written: mpsc::UnboundedSender<(Origin, Serial)>,
}

impl Notifier {
    /// Starts the notifying task; `None` when there is no secondary to notify.
    pub fn spawn(settings: NotifySettings, metrics: Arc<Metrics>) -> Option<Self> {
        if settings.secondaries.is_empty() {
            return None;
        }
        let (written, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(settings, metrics, receiver));
        Some(Self { written })
    }

    /// `zone` was written with `serial`: notify once the local server serves it.
    pub fn zone_written(&self, zone: Origin, serial: Serial) {
        // The task outlives every sender but at shutdown.
        let _ = self.written.send((zone, serial));
    }
}

/// A written serial the local server does not serve yet.
struct Waiting {
    serial: Serial,
    since: Instant,
}

async fn run(
    settings: NotifySettings,
    metrics: Arc<Metrics>,
    mut written: mpsc::UnboundedReceiver<(Origin, Serial)>,
) {
    let ids = MessageIds::default();
    let mut waiting: HashMap<Origin, Waiting> = HashMap::new();
    // The latest NOTIFY of each zone to each secondary; a newer one replaces it.
    let mut sending: HashMap<(Origin, SocketAddr), JoinHandle<()>> = HashMap::new();
    // An interval, not a sleep per loop: zones written in a steady stream do
    // not push the next round back.
    let mut poll = interval(POLL);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            zone = written.recv() => match zone {
                Some((zone, serial)) => {
                    waiting.insert(zone, Waiting { serial, since: Instant::now() });
                }
                None => return,
            },
            _ = poll.tick(), if !waiting.is_empty() => {
                // Every waiting zone at once: a local server that does not
                // answer costs one timeout per round, not one per zone.
                let asked = waiting.iter().map(|(zone, wanted)| {
                    let (zone, serial, since) = (zone.clone(), wanted.serial, wanted.since);
                    let ids = &ids;
                    async move {
                        let served = local_serial(settings.local_dns, &zone, ids).await;
                        (zone, serial, since, served)
                    }
                });
                for (zone, serial, since, served) in futures::future::join_all(asked).await {
                    if served.is_some_and(|served| !serial.is_after(served)) {
                        waiting.remove(&zone);
                        for &secondary in &settings.secondaries {
                            let span = info_span!("notify", zone = %zone, %serial, %secondary);
                            let task = notify(zone.clone(), secondary, ids.clone(), metrics.clone())
                                .instrument(span);
                            if let Some(previous) = sending.insert((zone.clone(), secondary), tokio::spawn(task)) {
                                previous.abort();
                            }
                        }
                    } else if since.elapsed() > GIVE_UP_WAITING {
                        waiting.remove(&zone);
                        warn!(zone = %zone, %serial, local = %settings.local_dns,
                            "the local DNS server does not serve this serial; no NOTIFY sent");
                    }
                }
                sending.retain(|_, task| !task.is_finished());
            }
        }
    }
}

/// The serial `zone`'s SOA has at `server`, if it answers authoritatively.
async fn local_serial(server: SocketAddr, zone: &Origin, ids: &MessageIds) -> Option<Serial> {
    let name = Name::from_ascii(zone.to_string()).ok()?;
    let mut query = Message::new(ids.next(), MessageType::Query, OpCode::Query);
    query.add_query(Query::query(name, RecordType::SOA));
    let response = exchange(server, &query, LOCAL_TIMEOUT).await?;
    if response.metadata.response_code != ResponseCode::NoError || !response.metadata.authoritative
    {
        return None;
    }
    response
        .answers
        .iter()
        .find_map(|record| match &record.data {
            RData::SOA(soa) => Some(Serial::new(soa.serial)),
            _ => None,
        })
}

/// Sends one NOTIFY for `zone` to `secondary`, retried until it is answered.
async fn notify(zone: Origin, secondary: SocketAddr, ids: MessageIds, metrics: Arc<Metrics>) {
    let Ok(name) = Name::from_ascii(zone.to_string()) else {
        return;
    };
    for (attempt, wait) in ATTEMPT_TIMEOUTS.into_iter().enumerate() {
        let message = notify_message(name.clone(), ids.next());
        let Some(answer) = exchange(secondary, &message, wait).await else {
            debug!(attempt, "NOTIFY not answered");
            continue;
        };
        let code = answer.metadata.response_code;
        if code == ResponseCode::NoError {
            debug!("NOTIFY accepted");
            metrics.notify("accepted");
        } else {
            warn!(response = %code, "the secondary refused NOTIFY; check its ACL for this pod's address");
            metrics.notify("refused");
        }
        return;
    }
    warn!(
        tries = ATTEMPT_TIMEOUTS.len(),
        "no answer to NOTIFY; the secondary catches up at its SOA refresh"
    );
    metrics.notify("unanswered");
}

/// NOTIFY for `zone` (RFC 1996 §3.6: the question is the zone's SOA, AA set).
fn notify_message(zone: Name, id: u16) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    message.add_query(Query::query(zone, RecordType::SOA));
    message
}

/// One question over UDP, with its answer (same id, a response) or `None`.
async fn exchange(server: SocketAddr, message: &Message, wait: Duration) -> Option<Message> {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).await.ok()?;
    socket.connect(server).await.ok()?;
    socket.send(&message.to_vec().ok()?).await.ok()?;
    let id = message.metadata.id;
    let answer = async {
        let mut buffer = vec![0; 4096];
        loop {
            let length = socket.recv(&mut buffer).await.ok()?;
            let Ok(answer) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            if answer.metadata.id == id && answer.metadata.message_type == MessageType::Response {
                return Some(answer);
            }
        }
    };
    timeout(wait, answer).await.ok().flatten()
}

/// Message ids no one off the path can guess: keyed hashes of a counter.
#[derive(Clone, Default)]
struct MessageIds(Arc<(RandomState, AtomicU64)>);

impl MessageIds {
    fn next(&self) -> u16 {
        let (key, counter) = &*self.0;
        key.hash_one(counter.fetch_add(1, Ordering::Relaxed)) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_is_an_authoritative_soa_question_with_the_notify_opcode() {
        let name = Name::from_ascii("tenant.vm.example.com.").unwrap();
        let wire = notify_message(name.clone(), 7).to_vec().unwrap();
        let parsed = Message::from_vec(&wire).unwrap();
        assert_eq!(parsed.metadata.id, 7);
        assert_eq!(parsed.metadata.op_code, OpCode::Notify);
        assert_eq!(parsed.metadata.message_type, MessageType::Query);
        assert!(parsed.metadata.authoritative);
        assert_eq!(parsed.queries, [Query::query(name, RecordType::SOA)]);
    }

    #[test]
    fn message_ids_differ() {
        let ids = MessageIds::default();
        let drawn: std::collections::HashSet<u16> = (0..100).map(|_| ids.next()).collect();
        assert!(drawn.len() > 90, "{drawn:?}");
    }
}
