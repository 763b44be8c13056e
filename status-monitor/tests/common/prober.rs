//! A client that asks one name over and over, as users do, through UDP and TCP
//! at a fixed rate, each query on a socket of its own (so that the Service
//! spreads them over the pods), and checks every answer against the records
//! expected at that moment.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long one query may take before it counts as failed.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What one query got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The expected addresses.
    Right,
    /// An answer, but not the expected one (other addresses, NXDOMAIN…).
    Wrong(String),
    /// No answer in time, a refused connection, or SERVFAIL/REFUSED.
    Failed(String),
}

/// The tally of one transport over a period.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub right: usize,
    pub wrong: Vec<String>,
    pub failed: Vec<String>,
    /// Latencies of the answered queries.
    latencies: Vec<Duration>,
}

impl Tally {
    pub fn queries(&self) -> usize {
        self.right + self.wrong.len() + self.failed.len()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[at]
    }

    /// "N queries, F failed, W wrong, p50 …, p99 …".
    pub fn summary(&self) -> String {
        format!(
            "{} queries, {} failed, {} wrong, p50 {:.1} ms, p99 {:.1} ms",
            self.queries(),
            self.failed.len(),
            self.wrong.len(),
            self.percentile(0.5).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3
        )
    }
}

struct Shared {
    /// Any of these answers is right (several while a change spreads).
    expected: Vec<BTreeSet<IpAddr>>,
    tallies: [Tally; 2],
}

/// Asks `name` A at `per_second` over each transport until dropped.
pub struct Prober {
    shared: Arc<Mutex<Shared>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Prober {
    pub fn start(server: SocketAddr, name: &str, expected: &[&str], per_second: u32) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            expected: vec![addresses(expected)],
            tallies: Default::default(),
        }));
        let name = Name::from_ascii(name).unwrap();
        let tasks = [Transport::Udp, Transport::Tcp]
            .into_iter()
            .map(|transport| {
                let (shared, name) = (shared.clone(), name.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let (shared, name) = (shared.clone(), name.clone());
                        // Queries overlap when one is slow: the rate holds.
                        tokio::spawn(async move {
                            let started = Instant::now();
                            let answer = ask(server, transport, &name).await;
                            let took = started.elapsed();
                            let mut shared = shared.lock().unwrap();
                            let outcome = judge(answer, &shared.expected);
                            let tally = &mut shared.tallies[transport as usize];
                            match outcome {
                                Outcome::Right => {
                                    tally.right += 1;
                                    tally.latencies.push(took);
                                }
                                Outcome::Wrong(why) => {
                                    tally.wrong.push(why);
                                    tally.latencies.push(took);
                                }
                                // When it was sent (Unix time), to find it in
                                // captures and logs.
                                Outcome::Failed(why) => tally.failed.push(format!(
                                    "{why} (sent at {:.3})",
                                    unix_now() - took.as_secs_f64()
                                )),
                            }
                        });
                    }
                })
            })
            .collect();
        Self { shared, tasks }
    }

    /// From now on the answer must be `expected`.
    pub fn expect(&self, expected: &[&str]) {
        self.expect_any(&[expected]);
    }

    /// From now on the answer must be one of `expected` (the records before
    /// and after a change, while it reaches every pod).
    pub fn expect_any(&self, expected: &[&[&str]]) {
        self.shared.lock().unwrap().expected = expected.iter().map(|set| addresses(set)).collect();
    }

    /// The tallies since the last call (UDP, TCP), and a fresh start.
    pub async fn take(&self) -> [Tally; 2] {
        // Let the queries in flight finish.
        tokio::time::sleep(QUERY_TIMEOUT + Duration::from_millis(200)).await;
        std::mem::take(&mut self.shared.lock().unwrap().tallies)
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn addresses(list: &[&str]) -> BTreeSet<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn judge(answer: Result<Message, String>, expected: &[BTreeSet<IpAddr>]) -> Outcome {
    let message = match answer {
        Ok(message) => message,
        Err(why) => return Outcome::Failed(why),
    };
    let code = message.metadata.response_code;
    if matches!(code, ResponseCode::ServFail | ResponseCode::Refused) {
        return Outcome::Failed(code.to_string());
    }
    let got: BTreeSet<IpAddr> = message
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    if code == ResponseCode::NoError && expected.contains(&got) {
        Outcome::Right
    } else {
        Outcome::Wrong(format!("{code}: {got:?}, expected {expected:?}"))
    }
}

async fn ask(server: SocketAddr, transport: Transport, name: &Name) -> Result<Message, String> {
    let id: u16 = rand_id();
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(name.clone(), RecordType::A));
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let exchange = async {
        match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind((IpAddr::from([0, 0, 0, 0]), 0))
                    .await
                    .map_err(|e| e.to_string())?;
                socket.connect(server).await.map_err(|e| e.to_string())?;
                socket.send(&bytes).await.map_err(|e| e.to_string())?;
                let mut buffer = vec![0; 4096];
                loop {
                    let length = socket.recv(&mut buffer).await.map_err(|e| e.to_string())?;
                    let answer = Message::from_vec(&buffer[..length]).map_err(|e| e.to_string())?;
                    if answer.metadata.id == id
                        && answer.metadata.message_type == MessageType::Response
                    {
                        return Ok(answer);
                    }
                }
            }
            Transport::Tcp => {
                let mut stream = TcpStream::connect(server)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                stream.write_all(&framed).await.map_err(|e| e.to_string())?;
                let length = stream.read_u16().await.map_err(|e| e.to_string())?;
                let mut buffer = vec![0; length as usize];
                stream
                    .read_exact(&mut buffer)
                    .await
                    .map_err(|e| e.to_string())?;
                Message::from_vec(&buffer).map_err(|e| e.to_string())
            }
        }
    };
    timeout(QUERY_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err("no answer within 1 s".to_owned()))
}

fn rand_id() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u16
}
