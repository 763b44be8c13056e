//! Readiness: set by the zone output once the first complete zone is on disk,
//! read by `/ready`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Since when the first complete zone is on disk.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<OnceLock<Instant>>);

impl Readiness {
    /// The first complete zone is on disk.
    pub fn is_ready(&self) -> bool {
        self.0.get().is_some()
    }

    /// How long the first complete zone has been on disk.
    pub fn ready_for(&self) -> Option<Duration> {
        self.0.get().map(Instant::elapsed)
    }

    pub fn set_ready(&self) {
        let _ = self.0.set(Instant::now());
    }
}
