//! The zone output: applies source events to the zone manager, coalesces
//! them ([`debounce`]), publishes with retries ([`publisher`]), restores a
//! zone file someone removed ([`healing`]) and tells secondaries what changed
//! ([`notify`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};
use zone_manager::{NameCollision, Publication, Published, ZoneFileError, ZoneManager, ZonesDir};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::retry::Backoff;
use crate::source::SourceEvent;
use debounce::Debouncer;
pub use dns_notify::Notifier;
use healing::{HEAL_SETTLE, watch_zone_dir};
pub use served::ServedWatch;

pub mod debounce;
mod dns_notify;
mod healing;
mod publisher;
pub mod serial_ledger;
mod served;

pub use publisher::Serials;

/// The zone manager `config` asks for, writing into `dir`: its layout, its
/// reverse zones and its catalog.
pub fn open_zone_manager(
    config: &Config,
    dir: impl Into<ZonesDir>,
) -> Result<ZoneManager, ZoneFileError> {
    let manager = ZoneManager::open_with(
        config.zone.clone(),
        config.zone_layout,
        &config.reverse_zones,
        dir,
    )?
    .with_namespace_zone_limit(config.namespace_zones_max);
    Ok(match &config.catalog_zone {
        Some(catalog) => manager.with_catalog(catalog.clone()),
        None => manager,
    })
}

/// Why [`ZoneOutput::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM or Ctrl-C: a clean stop.
    Shutdown,
    /// The source ended (it could not start, or failed for good).
    SourceGone,
}

pub struct ZoneOutput {
    manager: ZoneManager,
    serials: Serials,
    retry: Backoff,
    debouncer: Debouncer,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    served: Option<ServedWatch>,
    synced: bool,
    retry_at: Option<Instant>,
    heal_at: Option<Instant>,
    /// The chosen names left out at the last publish, so that each loss is
    /// warned of and counted once.
    collisions: BTreeSet<NameCollision>,
}

impl ZoneOutput {
    pub fn new(
        manager: ZoneManager,
        debouncer: Debouncer,
        metrics: Arc<Metrics>,
        readiness: Readiness,
    ) -> Self {
        Self {
            manager,
            serials: Serials::Clock,
            retry: Backoff::default(),
            debouncer,
            metrics,
            readiness,
            served: None,
            synced: false,
            retry_at: None,
            heal_at: None,
            collisions: BTreeSet::new(),
        }
    }

    /// Takes the serials of new content from `serials` (the clock otherwise).
    pub fn with_serials(mut self, serials: Serials) -> Self {
        self.serials = serials;
        self
    }

    /// Hands every zone published from now on to `watch`, which follows it
    /// until the DNS server beside status-monitor serves it.
    pub fn with_served_watch(mut self, watch: ServedWatch) -> Self {
        self.served = Some(watch);
        self
    }

    /// Runs until `shutdown` resolves or every source is gone; then publishes
    /// what is pending, so a stop loses nothing that was already seen.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<SourceEvent>,
        shutdown: impl Future<Output = ()>,
    ) -> Stopped {
        let (zone_dir_tx, mut zone_dir_events) = mpsc::unbounded_channel();
        let dir = self.manager.zone_file().dir();
        let _zone_dir_watch = watch_zone_dir(dir, zone_dir_tx)
            .inspect_err(|e| {
                warn!(dir = %dir.display(), error = %e,
                "cannot watch ZONES_DIR; a removed zone file is restored only on the next change")
            })
            .ok();

        tokio::pin!(shutdown);
        let stopped = loop {
            let publish_at = self.publish_deadline();
            tokio::select! {
                () = &mut shutdown => {
                    info!("shutting down");
                    break Stopped::Shutdown;
                }
                event = events.recv() => match event {
                    Some(event) => self.apply(event),
                    None => break Stopped::SourceGone,
                },
                Some(()) = zone_dir_events.recv() => {
                    // Not pushed back by later events: a busy directory is still checked.
                    self.heal_at.get_or_insert_with(|| Instant::now() + HEAL_SETTLE);
                }
                () = sleep_until(publish_at.unwrap_or_else(Instant::now)), if publish_at.is_some() => {
                    self.publish().await;
                }
                () = sleep_until(self.heal_at.unwrap_or_else(Instant::now)), if self.heal_at.is_some() => {
                    self.heal_at = None;
                    self.restore_if_tampered().await;
                }
            }
        };
        if self.synced && (self.debouncer.is_pending() || self.retry_at.is_some()) {
            self.publish().await;
        }
        stopped
    }

    fn apply(&mut self, event: SourceEvent) {
        let manager = &mut self.manager;
        let changed = match event {
            SourceEvent::Apply { vmi, vm, .. } => {
                let changed = match vm {
                    Some(vm) => manager.upsert(vm),
                    None => manager.remove(&vmi.namespace, &vmi.name),
                };
                debug!(vmi = %vmi, changed, "VMI applied");
                changed
            }
            SourceEvent::Delete(vmi) => {
                let changed = manager.remove(&vmi.namespace, &vmi.name);
                debug!(vmi = %vmi, changed, "VMI deleted");
                changed
            }
            SourceEvent::Resync { vms, .. } => {
                let changed = manager.replace_all(vms);
                debug!(changed, "resync applied");
                if !self.synced {
                    self.synced = true;
                    // The first complete set is published even if empty: readiness
                    // means a complete zone is on disk.
                    self.debouncer.changed(Instant::now());
                }
                changed
            }
        };
        if changed {
            self.debouncer.changed(Instant::now());
        }
    }

    /// When to publish next: after the debounce, or the retry of a failed write.
    fn publish_deadline(&self) -> Option<Instant> {
        if !self.synced {
            return None;
        }
        match (self.debouncer.deadline(), self.retry_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    async fn publish(&mut self) {
        let started = StdInstant::now();
        // When the oldest change in this publication reached us.
        let changed = self.debouncer.first_pending().unwrap_or_else(Instant::now);
        let outcome =
            publisher::publish(&mut self.manager, &mut self.serials, &mut self.retry).await;
        let took = started.elapsed();
        match outcome {
            Ok(publication) => {
                self.retry_at = None;
                self.debouncer.published();
                let manager = &self.manager;
                let serial = publication.forward.serial();
                self.metrics.zone_on_disk(
                    serial.get(),
                    manager.record_counts(),
                    manager.ptr_counts().map(|(_, n)| n).sum(),
                    manager.vm_count(),
                    publication.wrote(),
                    took,
                );
                self.metrics
                    .zone_files_written(&publication, manager.zone_file_count());
                let collisions: BTreeSet<NameCollision> =
                    manager.name_collisions().into_iter().collect();
                for lost in collisions.difference(&self.collisions) {
                    let vmi = format!("{}/{}", lost.namespace, lost.vmi);
                    warn!(%vmi, "{lost}");
                    self.metrics.skip("name_collision");
                }
                self.collisions = collisions;
                let first = !self.readiness.is_on_disk();
                if let Some(watch) = &self.served {
                    // The first publication's zones all count for readiness,
                    // even those already on disk; after it, the written ones.
                    for (zone, published) in zones(&publication, &manager.settings().origin) {
                        match published {
                            Published::Written { serial, .. } => {
                                watch.zone_published(zone.clone(), serial, Some(changed), first);
                            }
                            Published::Unchanged(serial) | Published::Adopted(serial) if first => {
                                watch.zone_published(zone.clone(), serial, None, true);
                            }
                            _ => {}
                        }
                    }
                    for zone in &publication.removed {
                        watch.zone_removed(zone.clone());
                    }
                }
                if first {
                    info!(%serial, "first complete zone is on disk");
                    self.readiness.set_on_disk();
                }
            }
            Err(failed) => {
                error!(error = %failed.error, retry_in = ?failed.retry_in,
                    "zone not written; the previous zone stays in place");
                self.metrics.write_failed();
                self.retry_at = Some(Instant::now() + failed.retry_in);
            }
        }
    }
}

/// Every zone of `publication`, with what became of it.
fn zones<'a>(
    publication: &'a Publication,
    forward: &'a zone_manager::Origin,
) -> impl Iterator<Item = (&'a zone_manager::Origin, Published)> {
    std::iter::once((forward, publication.forward))
        .chain(publication.other_zones().map(|(o, p)| (o, *p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmi::VmiRef;
    use std::path::Path;
    use std::time::Duration;
    use zone_manager::{InterfaceAddresses, Label, Origin, VmAddresses, ZoneSettings};

    fn vm(name: &str, ip: &str) -> VmAddresses {
        let label = |s: &str| Label::new(s).unwrap();
        VmAddresses::new(
            label("ns"),
            label(name),
            [InterfaceAddresses::new(label("red"), [ip.parse().unwrap()])],
        )
    }

    fn pipeline(dir: &Path) -> ZoneOutput {
        let settings = ZoneSettings::new(Origin::for_domain("").unwrap());
        let manager = ZoneManager::open(settings, dir).unwrap();
        let debouncer = Debouncer::new(Duration::from_millis(200), Duration::from_secs(2));
        ZoneOutput::new(
            manager,
            debouncer,
            Arc::new(Metrics::new()),
            Readiness::default(),
        )
    }

    fn apply(p: &mut ZoneOutput, name: &str, ip: &str) {
        let vmi = VmiRef::new(Some("ns"), Some(name));
        p.apply(SourceEvent::Apply {
            vmi,
            vm: Some(vm(name, ip)),
            metadata: None,
        });
    }

    #[tokio::test]
    async fn nothing_is_published_before_the_first_complete_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pipeline(dir.path());
        apply(&mut p, "a", "10.0.0.1");
        assert_eq!(p.publish_deadline(), None);
        p.apply(SourceEvent::resync(vec![vm("a", "10.0.0.1")]));
        assert!(p.publish_deadline().is_some());
    }

    #[tokio::test]
    async fn an_update_with_the_same_projection_schedules_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pipeline(dir.path());
        p.apply(SourceEvent::resync(vec![vm("a", "10.0.0.1")]));
        p.debouncer.published();
        apply(&mut p, "a", "10.0.0.1");
        assert!(!p.debouncer.is_pending());
        apply(&mut p, "a", "10.0.0.2");
        assert!(p.debouncer.is_pending());
    }

    #[tokio::test]
    async fn deleting_an_unknown_vmi_schedules_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pipeline(dir.path());
        p.apply(SourceEvent::resync(Vec::new()));
        p.debouncer.published();
        p.apply(SourceEvent::Delete(VmiRef::new(
            Some("ns"),
            Some("never-seen"),
        )));
        assert!(!p.debouncer.is_pending());
    }
}
