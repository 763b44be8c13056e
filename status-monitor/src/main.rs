use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use tokio::sync::mpsc;
use tracing::{error, info};
use zone_manager::{Serial, VmAddresses, ZoneFileError, render_zone};

use status_monitor::config::{AddressSource, Config};
use status_monitor::explain;
use status_monitor::metrics::Metrics;
use status_monitor::output;
use status_monitor::output::zone::debounce::Debouncer;
use status_monitor::output::zone::serial_ledger::SerialLedger;
use status_monitor::output::zone::{
    Notifier, Serials, ServedWatch, Stopped, ZoneOutput, open_zone_manager,
};
use status_monitor::readiness::Readiness;
use status_monitor::source::directory::manifest_set::ManifestSet;
use status_monitor::source::{self, SourceEvent};
use status_monitor::vmi::VmiRef;
use status_monitor::{http, logging};

/// mimalloc: the manifest reader decodes on one thread and frees on another,
/// and glibc's malloc spent a fifth of `render`'s time on that (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th of `mi_option_e` in v3's
/// mimalloc.h), which libmimalloc-sys does not name; v3 defaults it to 1000 ms.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once: with mimalloc's 1 s delay
/// the monitor's peak at 100k VMIs was half as high again (BENCHMARKS.md).
/// `render` keeps the delay: it exits soon, and purging at once made it slower.
fn return_freed_memory_at_once() {
    // SAFETY: sets one of mimalloc's options; no memory is touched.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// Keeps a DNS zone of KubeVirt VMs' secondary interfaces in ZONES_DIR.
///
/// Without a subcommand it watches VirtualMachineInstances in all namespaces
/// (credentials from the in-cluster service account or KUBECONFIG), or the
/// manifests in --source-dir. Settings come from the environment: DOMAIN,
/// NAME_SERVER_IP, ZONES_DIR, HTTP_ADDR, ... (see README.md).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Read VMIs from manifest files in this directory (YAML or JSON, as
    /// `kubectl get vmi -A -o yaml` prints them) and follow its changes,
    /// instead of watching the Kubernetes API.
    /// Overrides VMI_SOURCE_DIR.
    #[arg(long, value_name = "DIR", global = true)]
    source_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the zone for the VMIs in PATH (files or directories) and exit:
    /// one zone with every record, for reading and diffing.
    Render {
        /// SOA serial to print; defaults to the current Unix time.
        #[arg(long)]
        serial: Option<u32>,
        /// Write the zone files the monitor would write (ZONE_LAYOUT,
        /// REVERSE_ZONES) into DIR instead of printing one zone.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Tell what the zones hold of one VMI, and why anything of it is left
    /// out: from the cluster (KUBECONFIG or the pod's service account), or
    /// from the manifests of --source-dir. Exits 1 if there is no such VMI.
    Explain {
        /// The VMI's namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// `text` for people, `json` for scripts.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// The VMI's name.
        vmi: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env().and_then(|c| c.with_source_dir(cli.source_dir)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("status-monitor: {e}");
            return ExitCode::from(2);
        }
    };
    // `explain` speaks to a person on stdout; its own errors go to stderr.
    if !matches!(cli.command, Some(Command::Explain { .. })) {
        logging::init(config.log_format);
    }
    match cli.command {
        Some(Command::Render { serial, out, paths }) => render(&config, serial, out, &paths),
        Some(Command::Explain {
            namespace,
            output,
            vmi,
        }) => explain(
            &config,
            &VmiRef {
                namespace,
                name: vmi,
            },
            output,
        ),
        None => {
            // A long-running process: its memory matters more than `render`'s pace.
            return_freed_memory_at_once();
            match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime.block_on(monitor(config)),
                Err(e) => {
                    error!(error = %e, "cannot start the async runtime");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn explain(config: &Config, wanted: &VmiRef, output: Output) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("status-monitor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let explanation = match runtime.block_on(explain::explain_vmi(config, wanted)) {
        Ok(explanation) => explanation,
        Err(e) => {
            eprintln!("status-monitor: {e}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        Output::Text => print!("{explanation}"),
        Output::Json => match serde_json::to_string_pretty(&explanation) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("status-monitor: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    if config.address_source == AddressSource::Network {
        eprintln!(
            "status-monitor: ADDRESS_SOURCE=network also leaves out addresses the CNI did not assign; explain does not look at the pods"
        );
    }
    ExitCode::SUCCESS
}

fn render(
    config: &Config,
    serial: Option<u32>,
    out: Option<PathBuf>,
    paths: &[PathBuf],
) -> ExitCode {
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        error!(path = %missing.display(), "no such file or directory");
        return ExitCode::from(2);
    }
    let mut manifests = ManifestSet::new(
        config.zone.origin.clone(),
        config.projection_rules(),
        Arc::new(Metrics::new()),
    );
    manifests.scan(paths);
    match out {
        Some(dir) => write_zone_files(config, serial, &dir, manifests.vms()),
        None => {
            let serial = serial.map_or_else(|| Serial::next(None, SystemTime::now()), Serial::new);
            print!("{}", render_zone(&config.zone, serial, &manifests.vms()));
            ExitCode::SUCCESS
        }
    }
}

/// `render --out DIR`: what the monitor would write, through the same zone
/// manager; `serial` stands for the clock.
fn write_zone_files(
    config: &Config,
    serial: Option<u32>,
    dir: &Path,
    vms: Vec<VmAddresses>,
) -> ExitCode {
    let now = serial.map_or_else(SystemTime::now, |serial| {
        UNIX_EPOCH + Duration::from_secs(u64::from(serial))
    });
    let written = open_zone_manager(config, dir).and_then(|mut manager| {
        manager.replace_all(vms);
        manager.publish_all(now)
    });
    match written {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            error!(dir = %dir.display(), error = %e, "cannot write the zone files");
            ExitCode::FAILURE
        }
    }
}

/// The long-running monitor: one source → fan-out → the zone output (and the
/// DNSEndpoint output when enabled), plus HTTP.
async fn monitor(config: Config) -> ExitCode {
    let manager = match open_zone_manager(&config, config.zones_dir.clone()) {
        Ok(manager) => manager,
        // A setting that cannot work, like any other bad setting.
        Err(e @ ZoneFileError::StagingElsewhere { .. }) => {
            error!(error = %e, "invalid configuration: STAGING_DIR must be on the filesystem of ZONES_DIR");
            return ExitCode::from(2);
        }
        Err(e) => {
            error!(error = %e, "cannot prepare ZONES_DIR");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    if let Err(e) = http::serve(
        config.http_addr,
        readiness.clone(),
        config.ready_when(),
        metrics.clone(),
    )
    .await
    {
        error!(address = %config.http_addr, error = %e, "cannot serve HTTP (HTTP_ADDR)");
        return ExitCode::FAILURE;
    }

    let client = match &config.source_dir {
        Some(_) => None,
        None => match kube::Client::try_default().await {
            Ok(client) => Some(client),
            Err(e) => {
                error!(error = %e, "no Kubernetes credentials (in-cluster service account or KUBECONFIG); \
                       use --source-dir to run without a cluster");
                return ExitCode::FAILURE;
            }
        },
    };
    // One monitor per manifest directory: its clock gives the serials.
    let serials = match (&config.serial_ledger, &client) {
        (Some(name), Some(client)) => Serials::shared(SerialLedger::new(
            client.clone(),
            client.default_namespace(),
            name,
        )),
        _ => Serials::Clock,
    };
    let outputs = match output::start_side_outputs(&config, client.as_ref(), &metrics).await {
        Ok(outputs) => outputs,
        Err(e) => {
            error!(error = %e, "an output cannot start");
            return ExitCode::FAILURE;
        }
    };
    // Bounded: a slow disk slows the source down instead of growing memory.
    let (source_tx, source_rx) = mpsc::channel::<SourceEvent>(1024);
    let (zone_tx, zone_rx) = mpsc::channel::<SourceEvent>(1024);
    let kept = output::kept_annotations(&outputs);
    let source = source::spawn(&config, client, source_tx, metrics.clone(), kept);
    let fan_out = tokio::spawn(output::fan_out(source_rx, zone_tx, outputs));

    let debouncer = Debouncer::new(config.debounce_window, config.debounce_max_delay);
    let notifier = Notifier::spawn(config.notify.secondaries.clone(), metrics.clone());
    let served = ServedWatch::spawn(
        config.notify.local_dns,
        metrics.clone(),
        readiness.clone(),
        move |zone, serial| {
            if let Some(notifier) = &notifier {
                notifier.zone_served(zone, serial);
            }
        },
    );
    let stopped = ZoneOutput::new(manager, debouncer, metrics, readiness)
        .with_serials(serials)
        .with_served_watch(served)
        .run(zone_rx, shutdown_signal())
        .await;
    source.abort();
    fan_out.abort();
    match stopped {
        Stopped::Shutdown => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Stopped::SourceGone => {
            error!("the VMI source stopped; exiting so that the pod restarts");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_at_startup_is_mimallocs_purge_delay() {
        // SAFETY: reads and sets one of mimalloc's options.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            default, 1000,
            "v3's options.c: purge_delay defaults to 1000 ms"
        );
        return_freed_memory_at_once();
        // SAFETY: as above.
        let set = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(set, 0);
    }
}
