//! NOTIFY (RFC 1996) to the secondaries of `NOTIFY_SECONDARIES` once a written
//! zone is served (the served watch says when): a secondary told earlier would
//! ask for the SOA, see the old serial and wait for its refresh timer.
//!
//! Why not CoreDNS's own NOTIFY (`transfer { to ADDRESS }`): CoreDNS 1.14.7's
//! `auto` notifies every zone on every reload tick, one after another, and
//! waits up to 3 × 2 s for each answer. With one secondary that does not
//! answer, a change to one of 5 zones was served 21 s later (BENCHMARKS.md).
//! Here each zone and secondary is a task of its own: a silent secondary
//! costs its own retries and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};
use zone_manager::{Origin, Serial};

use crate::dns_query::{MessageIds, exchange};
use crate::metrics::Metrics;

/// How long each NOTIFY waits for its answer: four tries over 15 s.
const ATTEMPT_TIMEOUTS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// Hands served zones to the notifying task.
#[derive(Clone)]
pub struct Notifier {
    served: mpsc::UnboundedSender<(Origin, Serial)>,
}

impl Notifier {
    /// Starts the notifying task; `None` when there is no secondary to notify.
    pub fn spawn(secondaries: Vec<SocketAddr>, metrics: Arc<Metrics>) -> Option<Self> {
        if secondaries.is_empty() {
            return None;
        }
        let (served, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(secondaries, metrics, receiver));
        Some(Self { served })
    }

    /// `zone` is served with `serial`: tell every secondary.
    pub fn zone_served(&self, zone: Origin, serial: Serial) {
        // The task outlives every sender but at shutdown.
        let _ = self.served.send((zone, serial));
    }
}

async fn run(
    secondaries: Vec<SocketAddr>,
    metrics: Arc<Metrics>,
    mut served: mpsc::UnboundedReceiver<(Origin, Serial)>,
) {
    let ids = MessageIds::default();
    // The latest NOTIFY of each zone to each secondary; a newer one replaces it.
    let mut sending: HashMap<(Origin, SocketAddr), JoinHandle<()>> = HashMap::new();
    while let Some((zone, serial)) = served.recv().await {
        for &secondary in &secondaries {
            let span = info_span!("notify", zone = %zone, %serial, %secondary);
            let task =
                notify(zone.clone(), secondary, ids.clone(), metrics.clone()).instrument(span);
            if let Some(previous) = sending.insert((zone.clone(), secondary), tokio::spawn(task)) {
                previous.abort();
            }
        }
        sending.retain(|_, task| !task.is_finished());
    }
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
}
