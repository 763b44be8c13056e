//! One DNS question over UDP, as the served watch, NOTIFY and `explain` ask them.

use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;
use tokio::time::timeout;
use zone_manager::{Origin, Serial};

/// The serial `zone`'s SOA has at `server`, if it answers authoritatively
/// within `wait`.
pub async fn soa_serial(
    server: SocketAddr,
    zone: &Origin,
    ids: &MessageIds,
    wait: Duration,
) -> Option<Serial> {
    let name = Name::from_ascii(zone.to_string()).ok()?;
    let mut query = Message::new(ids.next(), MessageType::Query, OpCode::Query);
    query.add_query(Query::query(name, RecordType::SOA));
    let response = exchange(server, &query, wait).await?;
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

/// One question over UDP, with its answer (same id, a response) or `None`.
pub async fn exchange(server: SocketAddr, message: &Message, wait: Duration) -> Option<Message> {
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
pub struct MessageIds(Arc<(RandomState, AtomicU64)>);

impl MessageIds {
    pub fn next(&self) -> u16 {
        let (key, counter) = &*self.0;
        key.hash_one(counter.fetch_add(1, Ordering::Relaxed)) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_differ() {
        let ids = MessageIds::default();
        let drawn: std::collections::HashSet<u16> = (0..100).map(|_| ids.next()).collect();
        assert!(drawn.len() > 90, "{drawn:?}");
    }
}
