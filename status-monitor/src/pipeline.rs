//! The zone loop: applies source events to the zone manager, coalesces them,
//! publishes, retries failed writes and restores a zone file someone removed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant as StdInstant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use zone_manager::VmAddresses;

use crate::debounce::Debouncer;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::vmi::VmiRef;

/// What a source (the Kubernetes watch or a manifest directory) tells the zone.
#[derive(Debug)]
pub enum SourceEvent {
    /// A VMI was added or changed. `None`: it gives no records (no secondary
    /// address yet, or skipped), so whatever it had before goes.
    Apply {
        vmi: VmiRef,
        vm: Option<VmAddresses>,
    },
    /// A VMI was deleted.
    Delete(VmiRef),
    /// The complete set of VMs, after a (re)list or a rescan. Until the first one
    /// arrives nothing is published: a partial zone is never written.
    Resync(Vec<VmAddresses>),
}

/// Why [`Pipeline::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM or Ctrl-C: a clean stop.
    Shutdown,
    /// The source ended (it could not start, or failed for good).
    SourceGone,
}

/// Wait this long after a change in ZONES_DIR before looking at the zone file.
const HEAL_SETTLE: Duration = Duration::from_millis(100);

/// Readiness: since when the first complete zone is on disk.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<OnceLock<StdInstant>>);

impl Readiness {
    /// The first complete zone is on disk.
    pub fn is_ready(&self) -> bool {
        self.0.get().is_some()
    }

    /// How long the first complete zone has been on disk.
    pub fn ready_for(&self) -> Option<std::time::Duration> {
        self.0.get().map(StdInstant::elapsed)
    }

    fn set_ready(&self) {
        let _ = self.0.set(StdInstant::now());
    }
}

pub struct Pipeline {
    publisher: Publisher,
    debouncer: Debouncer,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    synced: bool,
    retry_at: Option<Instant>,
    heal_at: Option<Instant>,
}

impl Pipeline {
    pub fn new(
        publisher: Publisher,
        debouncer: Debouncer,
        metrics: Arc<Metrics>,
        readiness: Readiness,
    ) -> Self {
        Self {
            publisher,
            debouncer,
            metrics,
            readiness,
            synced: false,
            retry_at: None,
            heal_at: None,
        }
    }

    /// Runs until `shutdown` resolves or every source is gone; then publishes
    /// what is pending, so a stop loses nothing that was already seen.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<SourceEvent>,
        shutdown: impl Future<Output = ()>,
    ) -> Stopped {
        let (zone_dir_tx, mut zone_dir_events) = mpsc::unbounded_channel();
        let manager = self.publisher.manager();
        let zone_paths = std::iter::once(manager.zone_file())
            .chain(manager.reverse_zone_files())
            .map(|file| file.path().to_path_buf())
            .collect();
        let _zone_dir_watch = watch_zone_dir(zone_paths, zone_dir_tx);

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
                    self.publish();
                }
                () = sleep_until(self.heal_at.unwrap_or_else(Instant::now)), if self.heal_at.is_some() => {
                    self.heal_at = None;
                    self.restore_if_tampered();
                }
            }
        };
        if self.synced && (self.debouncer.is_pending() || self.retry_at.is_some()) {
            self.publish();
        }
        stopped
    }

    fn apply(&mut self, event: SourceEvent) {
        let manager = self.publisher.manager_mut();
        let changed = match event {
            SourceEvent::Apply { vmi, vm } => {
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
            SourceEvent::Resync(vms) => {
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

    fn publish(&mut self) {
        let started = StdInstant::now();
        let outcome = tokio::task::block_in_place(|| self.publisher.publish());
        let took = started.elapsed();
        match outcome {
            Ok(publication) => {
                self.retry_at = None;
                self.debouncer.published();
                let manager = self.publisher.manager();
                let serial = publication.forward.serial();
                self.metrics.zone_on_disk(
                    serial.get(),
                    manager.record_counts(),
                    manager.ptr_counts().map(|(_, n)| n).sum(),
                    manager.vm_count(),
                    publication.wrote(),
                    took,
                );
                if !self.readiness.is_ready() {
                    info!(%serial, "first complete zone is on disk: ready");
                    self.readiness.set_ready();
                }
            }
            Err(retry_in) => {
                self.metrics.write_failed();
                self.retry_at = Some(Instant::now() + retry_in);
            }
        }
    }

    /// Someone removed or replaced the zone file: write it again, with a new
    /// serial so that CoreDNS reloads it.
    fn restore_if_tampered(&mut self) {
        if !self.readiness.is_ready() {
            return;
        }
        match self.publisher.manager().on_disk_is_current() {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                warn!(
                    dir = %self.publisher.manager().zone_file().dir().display(),
                    "a zone file was removed or changed by someone else; writing the zones again"
                );
                self.metrics.zone_rewrites_after_tampering.inc();
                self.publisher.manager_mut().forget_on_disk();
                self.publish();
            }
        }
    }
}

/// Watches the zone files' directory; each event about one of `zone_paths` (or
/// an overflow) sends a unit. Returns the watcher, which must be kept alive.
fn watch_zone_dir(
    zone_paths: Vec<PathBuf>,
    tx: mpsc::UnboundedSender<()>,
) -> Option<RecommendedWatcher> {
    let dir = zone_paths
        .first()
        .and_then(|path| path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(e) => {
                changes_content(e)
                    && (e.paths.is_empty() || e.paths.iter().any(|p| zone_paths.contains(p)))
            }
            Err(_) => true,
        };
        if relevant {
            let _ = tx.send(());
        }
    });
    match watcher.and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w)) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "cannot watch ZONES_DIR; a removed zone file is restored only on the next change");
            None
        }
    }
}

/// Whether a file event may mean new content. Opening and reading do not: our
/// own reads would otherwise wake us up again, forever.
pub fn changes_content(event: &notify::Event) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zone_manager::{InterfaceAddresses, Label, Origin, ZoneManager, ZoneSettings};

    fn vm(name: &str, ip: &str) -> VmAddresses {
        let label = |s: &str| Label::new(s).unwrap();
        VmAddresses::new(
            label("ns"),
            label(name),
            [InterfaceAddresses::new(label("red"), [ip.parse().unwrap()])],
        )
    }

    fn pipeline(dir: &Path) -> Pipeline {
        let settings = ZoneSettings::new(Origin::for_domain("").unwrap());
        let publisher = Publisher::new(ZoneManager::open(settings, dir).unwrap());
        let debouncer = Debouncer::new(Duration::from_millis(200), Duration::from_secs(2));
        Pipeline::new(
            publisher,
            debouncer,
            Arc::new(Metrics::new()),
            Readiness::default(),
        )
    }

    fn apply(p: &mut Pipeline, name: &str, ip: &str) {
        let vmi = VmiRef::new(Some("ns"), Some(name));
        p.apply(SourceEvent::Apply {
            vmi,
            vm: Some(vm(name, ip)),
        });
    }

    #[tokio::test]
    async fn nothing_is_published_before_the_first_complete_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pipeline(dir.path());
        apply(&mut p, "a", "10.0.0.1");
        assert_eq!(p.publish_deadline(), None);
        p.apply(SourceEvent::Resync(vec![vm("a", "10.0.0.1")]));
        assert!(p.publish_deadline().is_some());
    }

    #[tokio::test]
    async fn an_update_with_the_same_projection_schedules_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pipeline(dir.path());
        p.apply(SourceEvent::Resync(vec![vm("a", "10.0.0.1")]));
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
        p.apply(SourceEvent::Resync(Vec::new()));
        p.debouncer.published();
        p.apply(SourceEvent::Delete(VmiRef::new(
            Some("ns"),
            Some("never-seen"),
        )));
        assert!(!p.debouncer.is_pending());
    }
}
