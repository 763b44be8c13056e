//! Publishing the zone with retries: a failed write leaves the previous zone in
//! place and is tried again with a growing delay.

use std::time::{Duration, SystemTime};

use tracing::{debug, error, info};
use zone_manager::{Publication, Published, ZoneManager};

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);

pub struct Publisher {
    manager: ZoneManager,
    next_retry: Duration,
}

impl Publisher {
    pub fn new(manager: ZoneManager) -> Self {
        Self {
            manager,
            next_retry: FIRST_RETRY,
        }
    }

    pub fn manager(&self) -> &ZoneManager {
        &self.manager
    }

    pub fn manager_mut(&mut self) -> &mut ZoneManager {
        &mut self.manager
    }

    /// Writes the zone if it changed. On failure returns how long to wait before
    /// trying again; the delay doubles up to 30 s while the fault lasts.
    pub fn publish(&mut self) -> Result<Publication, Duration> {
        match self.manager.publish_all(SystemTime::now()) {
            Ok(publication) => {
                self.next_retry = FIRST_RETRY;
                let zone = self.manager.settings().origin.to_string();
                log_outcome(&zone, publication.forward, self.manager.vm_count());
                for (origin, outcome) in &publication.reverse {
                    log_outcome(&origin.to_string(), *outcome, self.manager.vm_count());
                }
                Ok(publication)
            }
            Err(e) => {
                let retry = self.next_retry;
                self.next_retry = (retry * 2).min(MAX_RETRY);
                error!(error = %e, retry_in = ?retry, "zone not written; the previous zone stays in place");
                Err(retry)
            }
        }
    }
}

fn log_outcome(zone: &str, outcome: Published, vms: usize) {
    match outcome {
        Published::Written { serial, bytes } => info!(zone, %serial, bytes, vms, "zone written"),
        Published::Adopted(serial) => {
            info!(zone, %serial, "zone file on disk is up to date; keeping it and its serial")
        }
        Published::Unchanged(serial) => debug!(zone, %serial, "zone unchanged"),
    }
}
