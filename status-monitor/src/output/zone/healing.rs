//! Self-healing: someone removed or replaced a zone file in ZONES_DIR; it is
//! written again. CoreDNS reloads it: with the clock's serials the serial is
//! new; with the ledger's it is the one of that content, which differs from the
//! intruder's (a file with our serial but other text was never loaded).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::ZoneOutput;
use crate::file_events::changes_content;

/// Wait this long after a change in ZONES_DIR before looking at the zone file.
pub const HEAL_SETTLE: Duration = Duration::from_millis(100);

impl ZoneOutput {
    /// Someone removed or replaced the zone file: write it again.
    pub(super) async fn restore_if_tampered(&mut self) {
        if !self.readiness.is_on_disk() {
            return;
        }
        match self.manager.on_disk_is_current() {
            Ok(true) => {}
            outcome => {
                let dir = self.manager.zone_file().dir().display();
                match outcome {
                    Err(e) => warn!(%dir, error = %e,
                        "cannot read back a zone file; writing the zones again"),
                    _ => warn!(%dir,
                        "a zone file was removed or changed by someone else; writing the zones again"),
                }
                self.metrics.zone_rewrites_after_tampering.inc();
                self.manager.forget_on_disk();
                self.publish().await;
            }
        }
    }
}

/// Watches the zone files' directory; each event about a zone file there
/// (`db.*`: the zones come and go with namespaces; temporary files are hidden)
/// or an overflow sends a unit. Returns the watcher, which must be kept alive.
pub fn watch_zone_dir(
    dir: &Path,
    tx: mpsc::UnboundedSender<()>,
) -> notify::Result<RecommendedWatcher> {
    let dir = dir.to_path_buf();
    let is_zone_file = |path: &PathBuf| {
        path.file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("db."))
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(e) => changes_content(e) && (e.paths.is_empty() || e.paths.iter().any(is_zone_file)),
            Err(_) => true,
        };
        // A closed channel means the zone output stopped: nothing is left to heal.
        if relevant && tx.send(()).is_err() {
            debug!("zone output gone; ignoring a ZONES_DIR event");
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
