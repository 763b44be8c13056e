use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};
use tracing::error;
use zone_manager::{Serial, ZoneManager, render_zone};

use status_monitor::catalog::ManifestCatalog;
use status_monitor::config::Config;
use status_monitor::publisher::Publisher;
use status_monitor::{local, logging};

/// Keeps a DNS zone of KubeVirt VMs' secondary interfaces in ZONES_DIR.
///
/// Zone settings come from the environment: DOMAIN, NAME_SERVER_IP, ZONES_DIR,
/// SOA_RNAME, RECORD_TTL, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_NEGATIVE_TTL,
/// LOG_FORMAT, RUST_LOG (see README.md).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Read VMIs from manifest files in this directory (YAML or JSON, as
    /// `kubectl get vmi -A -o yaml` prints them) and follow its changes,
    /// instead of watching the Kubernetes API.
    #[arg(long, env = "VMI_SOURCE_DIR", value_name = "DIR")]
    source_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the zone for the VMIs in PATH (files or directories) and exit.
    Render {
        /// SOA serial to print; defaults to the current Unix time.
        #[arg(long)]
        serial: Option<u32>,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("status-monitor: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(config.log_format);
    match cli.command {
        Some(Command::Render { serial, paths }) => render(&config, serial, &paths),
        None => match cli.source_dir {
            Some(dir) => run_local(config, dir),
            None => {
                error!("no VMI source: pass --source-dir DIR or set VMI_SOURCE_DIR");
                ExitCode::from(2)
            }
        },
    }
}

fn render(config: &Config, serial: Option<u32>, paths: &[PathBuf]) -> ExitCode {
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        error!(path = %missing.display(), "no such file or directory");
        return ExitCode::from(2);
    }
    let mut catalog = ManifestCatalog::new(config.zone.origin.clone());
    catalog.scan(paths);
    let serial = serial.map_or_else(|| Serial::next(None, SystemTime::now()), Serial::new);
    print!("{}", render_zone(&config.zone, serial, &catalog.vms()));
    ExitCode::SUCCESS
}

fn run_local(config: Config, dir: PathBuf) -> ExitCode {
    let manager = match ZoneManager::open(config.zone.clone(), &config.zones_dir) {
        Ok(manager) => manager,
        Err(e) => {
            error!(error = %e, "cannot prepare ZONES_DIR");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(local::run(
        dir,
        config.zone.origin.clone(),
        Publisher::new(manager),
        shutdown_signal(),
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "stopped");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (Kubernetes) or Ctrl-C. Writes are never interrupted half-way: the
/// signal is only looked at between them.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops cleanly");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
