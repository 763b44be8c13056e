//! Publishing the zones: a failed write leaves the previous zones in place and
//! is tried again after the [`Backoff`] delay.

use std::time::{Duration, SystemTime};

use tracing::{debug, error, info};
use zone_manager::{Publication, Published, ZoneManager};

use crate::retry::Backoff;

/// Writes the zones that changed. On failure returns how long to wait before
/// trying again; the delay grows while the fault lasts.
pub fn publish(manager: &mut ZoneManager, retry: &mut Backoff) -> Result<Publication, Duration> {
    match manager.publish_all(SystemTime::now()) {
        Ok(publication) => {
            retry.reset();
            let zone = manager.settings().origin.to_string();
            log_outcome(&zone, publication.forward, manager.vm_count());
            for (origin, outcome) in publication.other_zones() {
                log_outcome(&origin.to_string(), *outcome, manager.vm_count());
            }
            Ok(publication)
        }
        Err(e) => {
            let retry_in = retry.next_delay();
            error!(error = %e, ?retry_in, "zone not written; the previous zone stays in place");
            Err(retry_in)
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
