//! Publishing the zones: serials from this process's clock or from the ledger
//! the replicas share; a failed write leaves the previous zones in place and is
//! tried again after the [`Backoff`] delay.

use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};
use zone_manager::{Origin, Publication, Published, SerialGrants, ZoneFileError, ZoneManager};

use super::serial_ledger::{LedgerError, SerialLedger};
use crate::retry::Backoff;

/// Publishes with serials from the ledger at most this many times in a row:
/// the zones, then the catalog that lists new ones, each once more after
/// the ledger granted what they await.
const PASSES: usize = 4;

/// Where the serials of new content come from.
pub enum Serials {
    /// This process's clock: one writer per zone (a manifest directory, or
    /// `SERIAL_LEDGER` turned off).
    Clock,
    /// The ledger the replicas share.
    Ledger(Box<SharedSerials>),
}

impl Serials {
    pub fn shared(ledger: SerialLedger) -> Self {
        Self::Ledger(Box::new(SharedSerials {
            ledger,
            grants: SerialGrants::default(),
            to_forget: Vec::new(),
        }))
    }
}

/// The ledger, what it granted, and the removed zones it has yet to drop.
pub struct SharedSerials {
    ledger: SerialLedger,
    grants: SerialGrants,
    to_forget: Vec<Origin>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Zone(#[from] ZoneFileError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A publish that failed, with when to try again: the previous zones stay in
/// place meanwhile.
#[derive(Debug, thiserror::Error)]
#[error("{error} (tried again in {retry_in:?})")]
pub struct PublishFailed {
    #[source]
    pub error: PublishError,
    pub retry_in: Duration,
}

impl SharedSerials {
    async fn publish(&mut self, manager: &mut ZoneManager) -> Result<Publication, PublishError> {
        // Requests a failed publish left are stale: this one asks again.
        self.grants.take_requests();
        let mut result = Err(PublishError::Zone(ZoneFileError::AwaitingSerial {
            zone: manager.settings().origin.clone(),
        }));
        for _ in 0..PASSES {
            result = tokio::task::block_in_place(|| manager.publish_with(&mut self.grants))
                .map_err(PublishError::from);
            match &result {
                Err(PublishError::Zone(ZoneFileError::AwaitingSerial { .. })) => {
                    let requests = self.grants.take_requests();
                    self.ledger
                        .grant(requests, &mut self.grants, SystemTime::now())
                        .await?;
                }
                _ => break,
            }
        }
        if let Ok(publication) = &result {
            self.to_forget.extend(publication.removed.iter().cloned());
        }
        if !self.to_forget.is_empty() {
            match self.ledger.forget(&self.to_forget).await {
                Ok(()) => self.to_forget.clear(),
                // Harmless meanwhile; tried again after the next publish.
                Err(e) => warn!(error = %e, "removed zones stay in the serial ledger for now"),
            }
        }
        result
    }
}

/// Writes the zones that changed. A failure says how long to wait before
/// trying again; the delay grows while the fault lasts.
pub async fn publish(
    manager: &mut ZoneManager,
    serials: &mut Serials,
    retry: &mut Backoff,
) -> Result<Publication, PublishFailed> {
    let result = match serials {
        Serials::Clock => tokio::task::block_in_place(|| manager.publish_all(SystemTime::now()))
            .map_err(PublishError::from),
        Serials::Ledger(shared) => shared.publish(manager).await,
    };
    match result {
        Ok(publication) => {
            retry.reset();
            // The VM count is every zone's: it goes with the parent's line only.
            log_outcome(
                &manager.settings().origin,
                publication.forward,
                Some(manager.vm_count()),
            );
            for (origin, outcome) in publication.other_zones() {
                log_outcome(origin, *outcome, None);
            }
            Ok(publication)
        }
        Err(error) => Err(PublishFailed {
            error,
            retry_in: retry.next_delay(),
        }),
    }
}
fn log_outcome(zone: &Origin, outcome: Published, vms: Option<usize>) {
    match (outcome, vms) {
        (Published::Written { serial, bytes }, Some(vms)) => {
            info!(zone = %zone, %serial, bytes, vms, "zone written")
        }
        (Published::Written { serial, bytes }, None) => {
            info!(zone = %zone, %serial, bytes, "zone written")
        }
        (Published::Adopted(serial), _) => {
            info!(zone = %zone, %serial, "zone file on disk is up to date; keeping it and its serial")
        }
        (Published::Unchanged(serial), _) => debug!(zone = %zone, %serial, "zone unchanged"),
    }
}
