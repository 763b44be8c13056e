//! `make bench-e2e`: what users get, end to end. A VMI's address changes (in a
//! watched manifest directory, or on a real kube-apiserver) and CoreDNS, serving
//! status-monitor's ZONES_DIR with the shipped Corefile, is polled until it
//! answers the new address. Also the time from start to the first answer and
//! the peak RSS of both processes. A benchmark: it reports figures
//! (BENCHMARKS.md) and asserts only that every answer arrives.
//!
//! BENCH_E2E_SIZES (default 1000,10000,100000) VMIs, each with two dual-stack
//! secondary interfaces, in each of BENCH_E2E_NAMESPACES (default 200)
//! namespace counts; BENCH_E2E_CHANGES (default 20) changes per size; each
//! size with every BENCH_E2E_LAYOUTS (default namespace,single). With the
//! manifest directory also every NAMESPACE_ZONES_MAX of BENCH_E2E_ZONES_MAX
//! (default: the shipped default) and every CoreDNS `reload` tick of
//! BENCH_E2E_RELOAD (default 1s, as shipped), and, before the changes,
//! CoreDNS's idle CPU and its query latency at 100 queries a second.

#![allow(clippy::unwrap_used)] // a benchmark may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::coredns::{CoreDns, shipped_corefile};
use common::fixtures::{self, Vmi};
use common::monitor::Monitor;
use common::prober::Prober;
use common::vmis::Vmis;
use futures::{StreamExt, stream};

fn list(variable: &str, default: &str) -> Vec<String> {
    std::env::var(variable)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect()
}

fn sizes() -> Vec<usize> {
    let sizes = list("BENCH_E2E_SIZES", "1000,10000,100000");
    sizes.iter().map(|s| s.parse().unwrap()).collect()
}

/// `ZONE_LAYOUT` values to measure.
fn layouts() -> Vec<String> {
    list("BENCH_E2E_LAYOUTS", "namespace,single")
}

fn namespace_counts() -> Vec<usize> {
    let counts = list("BENCH_E2E_NAMESPACES", "200");
    counts.iter().map(|s| s.parse().unwrap()).collect()
}

/// `NAMESPACE_ZONES_MAX` values to measure; empty for the shipped default.
fn zone_limits() -> Vec<String> {
    list("BENCH_E2E_ZONES_MAX", "")
}

/// CoreDNS `reload` ticks to measure.
fn reload_ticks() -> Vec<String> {
    list("BENCH_E2E_RELOAD", "1s")
}

/// The namespace count of the run under way.
static NAMESPACES: AtomicUsize = AtomicUsize::new(200);

fn namespaces() -> usize {
    NAMESPACES.load(Ordering::Relaxed)
}

fn changes() -> usize {
    std::env::var("BENCH_E2E_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn namespace_of(vm: usize) -> String {
    format!("ns-{}", vm % namespaces())
}

/// VM `vm`'s interfaces at `generation`: red and blue, each IPv4 + IPv6.
fn interfaces(vm: usize, generation: usize) -> [(&'static str, [String; 2]); 2] {
    let (a, b, c) = (vm / 65536, (vm / 256) % 256, vm % 256);
    let g = generation % 200;
    [
        (
            "red",
            [
                format!("10.{}.{b}.{c}", a + g),
                format!("fd00:{g:x}::{vm:x}"),
            ],
        ),
        (
            "blue",
            [format!("172.16.{b}.{c}"), format!("fd01:{a:x}::{vm:x}")],
        ),
    ]
}

fn name_of(vm: usize) -> String {
    format!("red.vm-{vm}.{}.vm.example.com", namespace_of(vm))
}

fn vmi_json(vm: usize, generation: usize) -> serde_json::Value {
    let vmi = Vmi::new(&namespace_of(vm), &format!("vm-{vm}")).pod_network(&[]);
    let vmi = interfaces(vm, generation)
        .iter()
        .fold(vmi, |vmi, (network, [v4, v6])| {
            vmi.secondary(network, &[v4, v6])
        });
    vmi.json()
}

/// One manifest file per namespace, as `kubectl get vmi -n NS -o json` prints it.
fn write_namespace_file(dir: &Path, namespace: usize, vms: usize, generations: &[usize]) {
    let items: Vec<serde_json::Value> = (namespace..vms)
        .step_by(namespaces())
        .map(|vm| vmi_json(vm, generations[vm]))
        .collect();
    let text = fixtures::list(items);
    let staging = dir.join(format!(".ns-{namespace}.json.tmp"));
    std::fs::write(&staging, text).unwrap();
    std::fs::rename(staging, dir.join(format!("ns-{namespace}.json"))).unwrap();
}

/// Polls CoreDNS every 10 ms until NAME A is `address`; the time it took.
fn until_answered(coredns: &CoreDns, name: &str, address: &str, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(300);
    loop {
        if coredns.answers(name, "A") == [address] {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "CoreDNS never answered {name} A {address}; it answers {:?}\n{}",
            coredns.answers(name, "A"),
            coredns.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// VM `vm`'s interfaces at `generation` as `Vmis::set_interfaces` takes them.
fn status_of(vm: usize, generation: usize) -> Vec<(&'static str, Vec<String>)> {
    interfaces(vm, generation)
        .into_iter()
        .map(|(name, addresses)| (name, addresses.to_vec()))
        .collect()
}

/// Spreads the changes over CoreDNS's 2 s reload tick, so that they do not all
/// land at the same phase of it.
fn pause_before_change(change: usize) {
    std::thread::sleep(Duration::from_millis((change as u64 * 337) % 2000));
}

/// With `monitor` started at `started` on `zones`: CoreDNS beside it, the time
/// to its first answer for the last VM, then `changes()` changes, each made by
/// `change(vm, generation)` with generations after `generations_before`,
/// timed until CoreDNS answers the VM's new address. Prints one line of figures.
#[allow(clippy::too_many_arguments)]
fn measure(
    mode: &str,
    vms: usize,
    generations_before: usize,
    started: Instant,
    monitor: &Monitor,
    zones: &Path,
    reload: &str,
    mut change: impl FnMut(usize, usize),
) {
    let corefile = shipped_corefile().replace("reload 1s", &format!("reload {reload}"));
    let coredns = CoreDns::serve_corefile(zones, &corefile).unwrap();
    let last = vms - 1;
    let first_answer = until_answered(
        &coredns,
        &name_of(last),
        &interfaces(last, 0)[0].1[0],
        started,
    );
    let idle = idle_figures(&coredns, last);
    let mut latencies = Vec::new();
    for step in 0..changes() {
        pause_before_change(step);
        let vm = (step * 7919) % vms;
        let generation = generations_before + step + 1;
        let changed = Instant::now();
        change(vm, generation);
        let address = &interfaces(vm, generation)[0].1[0];
        latencies.push(until_answered(&coredns, &name_of(vm), address, changed));
    }
    latencies.sort();
    let percentile = |p: usize| {
        let index = (latencies.len() * p).div_ceil(100).max(1) - 1;
        latencies[index].as_secs_f64()
    };
    let zone_files: Vec<u64> = std::fs::read_dir(zones)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("db."))
        .map(|entry| entry.metadata().unwrap().len())
        .collect();
    println!(
        "bench-e2e | {mode}, reload {reload} | {vms} VMIs in {} namespaces | {} zone files, {:.1} MB, largest {:.1} MB | change→answer median {:.2} s, p95 {:.2} s ({} changes) | first answer {:.2} s | {idle} | peak RSS status-monitor {} MiB, CoreDNS {} MiB |",
        namespaces().min(vms),
        zone_files.len(),
        zone_files.iter().sum::<u64>() as f64 / 1e6,
        zone_files.iter().max().copied().unwrap_or(0) as f64 / 1e6,
        percentile(50),
        percentile(95),
        latencies.len(),
        first_answer.as_secs_f64(),
        monitor.peak_rss_kib() / 1024,
        coredns.peak_rss_kib() / 1024,
    );
}

/// Waits until CoreDNS has loaded every zone: `auto` walks the files in name
/// order, so the namespace zone whose file name comes last, and the parent
/// after it (`db.vm.…` follows `db.ns-…`), then one tick more.
fn settle(coredns: &CoreDns, vms: usize) {
    let last_file = (0..namespaces().min(vms))
        .max_by_key(|namespace| format!("ns-{namespace}"))
        .unwrap();
    // VM n is in namespace n (n < the namespace count).
    let address = &interfaces(last_file, 0)[0].1[0];
    until_answered(coredns, &name_of(last_file), address, Instant::now());
    let deadline = Instant::now() + Duration::from_secs(300);
    while coredns.answers("vm.example.com.", "SOA").is_empty() {
        assert!(Instant::now() < deadline, "CoreDNS never served the parent");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
}

/// Once every zone is loaded: CoreDNS's CPU over 10 s without queries, then
/// its UDP answer latency at 100 queries a second for 10 s (a name of the
/// last VM).
fn idle_figures(coredns: &CoreDns, last: usize) -> String {
    settle(coredns, last + 1);
    let window = Duration::from_secs(10);
    let (cpu_before, since) = (coredns.cpu_seconds(), Instant::now());
    std::thread::sleep(window);
    let cpu = (coredns.cpu_seconds() - cpu_before) / since.elapsed().as_secs_f64();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let [udp, _tcp] = runtime.block_on(async {
        let server = std::net::SocketAddr::from(([127, 0, 0, 1], coredns.ports.dns));
        let address = interfaces(last, 0)[0].1[0].clone();
        let name = format!("{}.", name_of(last));
        let prober = Prober::start(server, &name, &[&address], 100);
        tokio::time::sleep(window).await;
        prober.take().await
    });
    format!(
        "CoreDNS idle CPU {:.0}% | query latency median {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} queries, {} failed)",
        cpu * 100.0,
        udp.percentile(0.5).as_secs_f64() * 1e3,
        udp.percentile(0.99).as_secs_f64() * 1e3,
        udp.percentile(1.0).as_secs_f64() * 1e3,
        udp.queries(),
        udp.failed.len(),
    )
}

#[test]
#[ignore = "a benchmark: run `make bench-e2e`"]
fn source_dir_change_to_coredns_answer() {
    if common::coredns::binary().is_none() {
        return;
    }
    let mut runs = Vec::new();
    for vms in sizes() {
        for namespaces in namespace_counts() {
            for layout in layouts() {
                for limit in zone_limits() {
                    for reload in reload_ticks() {
                        runs.push((vms, namespaces, layout.clone(), limit.clone(), reload));
                    }
                }
            }
        }
    }
    for (vms, namespace_count, layout, limit, reload) in runs {
        NAMESPACES.store(namespace_count, Ordering::Relaxed);
        let source = tempfile::tempdir().unwrap();
        let zones = tempfile::tempdir().unwrap();
        let mut generations = vec![0; vms];
        for namespace in 0..namespaces().min(vms) {
            write_namespace_file(source.path(), namespace, vms, &generations);
        }
        let started = Instant::now();
        let monitor = Monitor::spawn(
            zones.path(),
            &[
                ("RUST_LOG", "warn"),
                ("ZONE_LAYOUT", &layout),
                ("NAMESPACE_ZONES_MAX", &limit),
            ],
            &[OsStr::new("--source-dir"), source.path().as_os_str()],
        );
        let limit = if limit.is_empty() { "default" } else { &limit };
        measure(
            &format!("source-dir, {layout}, NAMESPACE_ZONES_MAX {limit}"),
            vms,
            0,
            started,
            &monitor,
            zones.path(),
            &reload,
            |vm, generation| {
                generations[vm] = generation;
                write_namespace_file(source.path(), vm % namespaces(), vms, &generations);
            },
        );
    }
}

#[test]
#[ignore = "a benchmark: run `make bench-e2e`"]
fn kubernetes_change_to_coredns_answer() {
    if common::coredns::binary().is_none() {
        return;
    }
    NAMESPACES.store(namespace_counts()[0], Ordering::Relaxed);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for vms in sizes() {
        let cluster = Cluster::start();
        let vmis = runtime.block_on(Vmis::connect(&cluster));
        let set_interfaces = |vm: usize, generation: usize| {
            let vmis = &vmis;
            async move {
                let status = status_of(vm, generation);
                let status: Vec<(&str, Vec<&str>)> = status
                    .iter()
                    .map(|(i, a)| (*i, a.iter().map(String::as_str).collect()))
                    .collect();
                let status: Vec<(&str, &[&str])> =
                    status.iter().map(|(i, a)| (*i, a.as_slice())).collect();
                vmis.set_interfaces(&namespace_of(vm), &format!("vm-{vm}"), &status)
                    .await
            }
        };
        let creating = Instant::now();
        runtime.block_on(async {
            for namespace in 0..namespaces().min(vms) {
                vmis.create_namespace(&format!("ns-{namespace}")).await;
            }
            stream::iter(0..vms)
                .for_each_concurrent(64, |vm| {
                    let vmis = &vmis;
                    let set_interfaces = &set_interfaces;
                    async move {
                        vmis.create(&namespace_of(vm), &format!("vm-{vm}"), &["red", "blue"])
                            .await;
                        set_interfaces(vm, 0).await;
                    }
                })
                .await;
        });
        eprintln!(
            "bench-e2e: {vms} VMIs created in {:.0?}",
            creating.elapsed()
        );

        for (run, layout) in layouts().into_iter().enumerate() {
            let zones = tempfile::tempdir().unwrap();
            let kubeconfig = cluster.kubeconfig("monitor");
            let started = Instant::now();
            let monitor = Monitor::spawn(
                zones.path(),
                &[
                    ("KUBECONFIG", kubeconfig.to_str().unwrap()),
                    ("RUST_LOG", "warn"),
                    ("ZONE_LAYOUT", &layout),
                ],
                &[] as &[&OsStr],
            );
            measure(
                &format!("kubernetes, {layout}"),
                vms,
                // The VMIs keep the addresses of the runs before.
                run * changes(),
                started,
                &monitor,
                zones.path(),
                "1s",
                |vm, generation| {
                    runtime.block_on(set_interfaces(vm, generation));
                },
            );
        }
    }
}
