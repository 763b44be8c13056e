//! The local source: a directory of VMI manifests watched with `notify`, kept in
//! sync with the zone as files are added, edited and removed.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use zone_manager::Origin;

use crate::catalog::ManifestCatalog;
use crate::publisher::Publisher;

/// Editors save in several steps (truncate, write, rename); wait this long after
/// the last event before reading, so that a half-saved file is rarely seen.
const SETTLE: Duration = Duration::from_millis(150);

#[derive(Debug, thiserror::Error)]
pub enum LocalSourceError {
    #[error("cannot watch {dir}: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
}

/// Watches `source_dir` and publishes its VMIs until `shutdown` resolves.
pub async fn run(
    source_dir: PathBuf,
    origin: Origin,
    mut publisher: Publisher,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LocalSourceError> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut watcher: RecommendedWatcher = notify::recommended_watcher(move |event| {
        // The receiver is gone only when we are shutting down.
        let _ = events_tx.send(event);
    })
    .map_err(|source| LocalSourceError::Watch {
        dir: source_dir.clone(),
        source,
    })?;
    watcher
        .watch(&source_dir, RecursiveMode::Recursive)
        .map_err(|source| LocalSourceError::Watch {
            dir: source_dir.clone(),
            source,
        })?;
    info!(dir = %source_dir.display(), "watching VMI manifests");

    let roots = [source_dir];
    let mut catalog = ManifestCatalog::new(origin);
    catalog.scan(&roots);
    publisher.manager_mut().replace_all(catalog.vms());
    let mut retry_at = publish(&mut publisher);
    let mut rescan_at: Option<Instant> = None;

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                info!("shutting down");
                return Ok(());
            }
            event = events.recv() => {
                match event {
                    Some(Ok(event)) => debug!(?event, "manifest directory changed"),
                    Some(Err(e)) => warn!(error = %e, "file watch error; rescanning"),
                    None => return Ok(()),
                }
                rescan_at = Some(Instant::now() + SETTLE);
            }
            () = sleep_until(rescan_at.unwrap_or_else(Instant::now)), if rescan_at.is_some() => {
                rescan_at = None;
                let changed = catalog.scan(&roots) && publisher.manager_mut().replace_all(catalog.vms());
                debug!(changed, "rescanned manifests");
                if changed {
                    retry_at = publish(&mut publisher);
                }
            }
            () = sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                retry_at = publish(&mut publisher);
            }
        }
    }
}

/// Publishes; returns when to try again if it failed.
fn publish(publisher: &mut Publisher) -> Option<Instant> {
    tokio::task::block_in_place(|| publisher.publish())
        .err()
        .map(|delay| Instant::now() + delay)
}
