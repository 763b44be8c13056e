//! Readiness: the zone output says when the first complete zone is on disk,
//! the served watch when the DNS server beside status-monitor serves it;
//! `/readyz` reads both.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// When `/readyz` turns 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyWhen {
    /// Once the DNS server at `LOCAL_DNS_ADDR` serves every zone of the first
    /// complete publication, at its serial.
    Served,
    /// This long after the first complete zone is on disk (`LOCAL_DNS_ADDR`
    /// empty: no server to ask; `READY_DELAY_MS`).
    OnDiskFor(Duration),
}

#[derive(Debug, Default)]
struct Moments {
    on_disk: OnceLock<Instant>,
    served: OnceLock<Instant>,
}

#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<Moments>);

/// Where a starting pod is, as `/readyz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    NothingOnDisk,
    OnDiskFor(Duration),
    Served,
}

impl Readiness {
    /// The first complete zone is on disk.
    pub fn is_on_disk(&self) -> bool {
        self.0.on_disk.get().is_some()
    }

    pub fn set_on_disk(&self) {
        let _ = self.0.on_disk.set(Instant::now());
    }

    pub fn is_served(&self) -> bool {
        self.0.served.get().is_some()
    }

    pub fn set_served(&self) {
        let _ = self.0.served.set(Instant::now());
    }

    pub fn stage(&self) -> Stage {
        match (self.0.on_disk.get(), self.0.served.get()) {
            (_, Some(_)) => Stage::Served,
            (Some(since), None) => Stage::OnDiskFor(since.elapsed()),
            (None, None) => Stage::NothingOnDisk,
        }
    }

    pub fn is_ready(&self, when: ReadyWhen) -> bool {
        match (self.stage(), when) {
            (Stage::Served, _) => true,
            (Stage::OnDiskFor(since), ReadyWhen::OnDiskFor(delay)) => since >= delay,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_a_server_to_ask_only_served_zones_make_the_pod_ready() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready(ReadyWhen::Served));
        readiness.set_on_disk();
        assert!(!readiness.is_ready(ReadyWhen::Served));
        assert!(readiness.is_ready(ReadyWhen::OnDiskFor(Duration::ZERO)));
        assert!(!readiness.is_ready(ReadyWhen::OnDiskFor(Duration::from_secs(60))));
        readiness.set_served();
        assert!(readiness.is_ready(ReadyWhen::Served));
    }
}
