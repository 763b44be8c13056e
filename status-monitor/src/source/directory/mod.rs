//! The directory source: a directory of VMI manifests watched with `notify`;
//! every rescan that finds changed files sends the complete set of VMs.

mod json_split;
pub mod manifest_set;
pub mod manifests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use zone_manager::Origin;

use crate::file_events::changes_content;
use crate::metrics::Metrics;
use crate::projection::Rules;
use crate::source::SourceEvent;
use manifest_set::ManifestSet;

/// Editors save in several steps (truncate, write, rename); wait this long after
/// the last event before reading, so that a half-saved file is rarely seen.
const SETTLE: Duration = Duration::from_millis(150);

#[derive(Debug, thiserror::Error)]
pub enum DirectorySourceError {
    #[error("cannot watch {dir}: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
}

/// Watches `source_dir` and sends its VMIs until the pipeline goes away.
pub async fn run(
    source_dir: PathBuf,
    origin: Origin,
    rules: Rules,
    events: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
) -> Result<(), DirectorySourceError> {
    let watch_error = |source| DirectorySourceError::Watch {
        dir: source_dir.clone(),
        source,
    };
    let (file_events_tx, mut file_events) = mpsc::unbounded_channel();
    let mut watcher: RecommendedWatcher = notify::recommended_watcher(move |event| {
        // The receiver is gone only when we are shutting down.
        let _ = file_events_tx.send(event);
    })
    .map_err(watch_error)?;
    watcher
        .watch(&source_dir, RecursiveMode::Recursive)
        .map_err(watch_error)?;
    info!(dir = %source_dir.display(), "watching VMI manifests");

    let roots = [source_dir.clone()];
    let mut set = ManifestSet::new(origin, rules, metrics.clone());
    set.scan(&roots);
    metrics.vmis_known.set(set.vmi_count() as i64);
    if events.send(SourceEvent::resync(set.vms())).await.is_err() {
        return Ok(());
    }
    let mut rescan_at: Option<Instant> = None;
    loop {
        tokio::select! {
            event = file_events.recv() => {
                match event {
                    Some(Ok(event)) if !changes_content(&event) => continue,
                    Some(Ok(event)) => debug!(?event, "manifest directory changed"),
                    Some(Err(e)) => warn!(error = %e, "file watch error; rescanning"),
                    None => return Ok(()),
                }
                rescan_at = Some(Instant::now() + SETTLE);
            }
            () = sleep_until(rescan_at.unwrap_or_else(Instant::now)), if rescan_at.is_some() => {
                rescan_at = None;
                let changed = set.scan(&roots);
                metrics.vmis_known.set(set.vmi_count() as i64);
                debug!(changed, "rescanned manifests");
                if changed && events.send(SourceEvent::resync(set.vms())).await.is_err() {
                    return Ok(());
                }
            }
            () = events.closed() => return Ok(()),
        }
    }
}
