//! Crash consistency: status-monitor rewrites its zone continuously while the VMIs
//! keep changing, and is SIGKILLed at random moments. After every kill the zone
//! file parses and passes named-checkzone, the directory CoreDNS walks holds
//! only the zone (temporary files are staged beside it, as in the Deployment),
//! and the serial never goes back; after the last restart the serial is
//! greater than every serial seen and the zone converges.
//!
//! CoreDNS (COREDNS or ../shared/bin/coredns, with the shipped Corefile) serves
//! the zones directory the whole time, and a probe asks it for a VM whose
//! address never changes: every answer must be that address.
//!
//! CRASH_ITERATIONS (default 200) and CRASH_SEED tune it: `CRASH_ITERATIONS=2000
//! cargo test --release -p status-monitor --test crash -- --nocapture`.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::ParsedZone;
use common::coredns::{self, CoreDns};
use common::monitor::{Monitor, ORIGIN};
use zone_manager::Serial;

const FILES: usize = 3;
const VMS_PER_FILE: usize = 100;

/// Manifest `file` at `generation`: every VM's address moves with the generation.
fn manifest(file: usize, generation: u64) -> String {
    let items: Vec<serde_json::Value> = (0..VMS_PER_FILE)
        .map(|i| {
            serde_json::json!({
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": format!("vm-{file}-{i}"), "namespace": "crash"},
                "spec": {"networks": [{"name": "data", "multus": {"networkName": "data"}}]},
                "status": {"interfaces": [{"name": "data", "ipAddresses": [
                    format!("10.{}.{}.{}", file, generation % 250, i),
                    format!("fd00:{file:x}::{:x}:{i:x}", generation % 65_000)
                ]}]}
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// A VM that never changes, which the probe asks CoreDNS for throughout.
const ANCHOR_NAME: &str = "anchor.crash.vm.example.com";
const ANCHOR_ADDRESS: &str = "192.0.2.10";

fn write_anchor(dir: &Path) {
    let anchor = serde_json::json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": "anchor", "namespace": "crash"},
        "spec": {"networks": [{"name": "data", "multus": {"networkName": "data"}}]},
        "status": {"interfaces": [{"name": "data", "ipAddresses": [ANCHOR_ADDRESS]}]}
    });
    std::fs::write(dir.join("anchor.json"), anchor.to_string()).unwrap();
}

/// Asks CoreDNS for the anchor until `stop`; returns (probes, the failed ones
/// with what CoreDNS answered).
fn probe_anchor(port: u16, stop: &AtomicBool) -> (usize, Vec<String>) {
    let (mut probes, mut failures) = (0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let response = coredns::dig(port, &[ANCHOR_NAME, "A"]);
        probes += 1;
        if response.answer_data("A") != [ANCHOR_ADDRESS] || !response.is_authoritative() {
            failures.push(format!(
                "expected an authoritative {ANCHOR_ADDRESS}, CoreDNS answered:\n{}",
                response.text
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (probes, failures)
}

fn write_manifest(dir: &Path, file: usize, generation: u64) {
    let staging = dir.join(format!(".vmis-{file}.json.tmp"));
    std::fs::write(&staging, manifest(file, generation)).unwrap();
    std::fs::rename(staging, dir.join(format!("vmis-{file}.json"))).unwrap();
}

/// xorshift64*: reproducible kill moments from a printed seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn check_zone_file(path: &Path) -> ParsedZone {
    let text = std::fs::read_to_string(path).unwrap();
    let zone =
        ParsedZone::try_parse(&text, ORIGIN).unwrap_or_else(|e| panic!("torn zone: {e}\n{text}"));
    common::check_zone_with_bind_and_knot(path, ORIGIN.trim_end_matches('.'));
    zone
}

#[test]
fn sigkill_at_random_moments_never_tears_the_zone_nor_rewinds_the_serial() {
    let iterations: u64 = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash: {iterations} iterations, CRASH_SEED={seed}");
    let mut random = Random(seed);
    let source = tempfile::tempdir().unwrap();
    // The shipped layout: CoreDNS reads zones/, status-monitor stages beside it.
    let volume = tempfile::tempdir().unwrap();
    let zones = volume.path().join("zones");
    let staging = volume.path().join("staging");
    let generation = Arc::new(AtomicU64::new(0));
    for file in 0..FILES {
        write_manifest(source.path(), file, 0);
    }
    write_anchor(source.path());
    let args = [OsStr::new("--source-dir"), source.path().as_os_str()];
    let env = [
        ("RUST_LOG", "warn"),
        ("DEBOUNCE_WINDOW_MS", "1"),
        ("DEBOUNCE_MAX_DELAY_MS", "5"),
        ("STAGING_DIR", staging.to_str().unwrap()),
    ];
    let zone_path = zones.join("db.vm.example.com");

    // A first zone for CoreDNS to load, then the probe for the whole campaign.
    let coredns = {
        let first = Monitor::spawn(&zones, &env, &args);
        first.wait_for_zone("the first zone", |z| {
            z.get(&format!("{ANCHOR_NAME}."), "A") == [ANCHOR_ADDRESS]
        });
        CoreDns::serve(&zones)
    };
    let probing = Arc::new(AtomicBool::new(false));
    let probe = coredns.as_ref().map(|coredns| {
        coredns.wait_for_answer(ANCHOR_NAME, "A", &[ANCHOR_ADDRESS]);
        let (port, stop) = (coredns.ports.dns, probing.clone());
        std::thread::spawn(move || probe_anchor(port, &stop))
    });

    let mut highest: Option<Serial> = None;
    let mut last: Option<Serial> = None;
    let mut written = 0;
    let mut leftovers_seen = 0;
    for _ in 0..iterations {
        let mut monitor = Monitor::spawn(&zones, &env, &args);
        // Keep the VMIs changing while it runs, so that it keeps rewriting the zone.
        let stop = Arc::new(AtomicBool::new(false));
        let changer = {
            let (stop, generation, dir) = (
                stop.clone(),
                generation.clone(),
                source.path().to_path_buf(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = generation.fetch_add(1, Ordering::Relaxed) + 1;
                    write_manifest(&dir, (g as usize) % FILES, g);
                    std::thread::sleep(Duration::from_millis(3));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(random.below(250)));
        monitor.kill();
        stop.store(true, Ordering::Relaxed);
        changer.join().unwrap();

        // CoreDNS's directory holds the zone and nothing else, even mid-write;
        // what the kill left staged is never in its sight.
        for entry in std::fs::read_dir(&zones).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert_eq!(name, "db.vm.example.com", "in the directory CoreDNS walks");
        }
        let staged = std::fs::read_dir(&staging).map_or(0, Iterator::count);
        leftovers_seen = leftovers_seen.max(staged);
        if !zone_path.exists() {
            assert!(highest.is_none(), "the zone file disappeared");
            continue;
        }
        let serial = Serial::new(check_zone_file(&zone_path).serial);
        if Some(serial) != last {
            if let Some(highest) = highest {
                assert!(
                    serial.is_after(highest),
                    "serial went back: {serial:?} after {highest:?}"
                );
            }
            highest = Some(serial);
            last = Some(serial);
            written += 1;
        }
    }
    assert!(
        written >= iterations / 10,
        "only {written} of {iterations} runs wrote a zone: the kills were too early"
    );
    if let Some(probe) = probe {
        probing.store(true, Ordering::Relaxed);
        let (probes, failures) = probe.join().unwrap();
        assert!(
            failures.is_empty(),
            "{} of {probes} probes of {ANCHOR_NAME} failed; the first:\n{}",
            failures.len(),
            failures[0]
        );
        assert!(probes >= 100, "only {probes} probes during the campaign");
        println!("crash: CoreDNS answered all {probes} probes of {ANCHOR_NAME}");
    }
    drop(coredns);

    // Last restart: the VMIs changed since the last zone; it converges, with a greater serial.
    let g = generation.fetch_add(1, Ordering::Relaxed) + 1;
    write_manifest(source.path(), 0, g);
    let monitor = Monitor::spawn(&zones, &env, &args);
    let expected: BTreeSet<String> = {
        let (text, _) = common::render(
            &[("DOMAIN", "example.com"), ("NAME_SERVER_IP", "127.0.0.1")],
            &[source.path().to_str().unwrap()],
        );
        ParsedZone::parse(&text, ORIGIN)
            .rrsets
            .into_iter()
            .filter(|((_, t), _)| t != "SOA")
            .map(|(k, v)| format!("{k:?} {v:?}"))
            .collect()
    };
    let converged = monitor.wait_for_zone("convergence", |zone| {
        let now: BTreeSet<String> = zone
            .rrsets
            .iter()
            .filter(|((_, t), _)| t != "SOA")
            .map(|(k, v)| format!("{k:?} {v:?}"))
            .collect();
        now == expected
    });
    let final_serial = Serial::new(converged.serial);
    assert!(
        highest.is_none_or(|h| final_serial.is_after(h)),
        "{final_serial:?} after {highest:?}"
    );
    check_zone_file(&zone_path);
    // What the kills left staged (up to `leftovers_seen` at once) is gone.
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    println!(
        "crash: {written} distinct zones survived {iterations} kills ({leftovers_seen} staged files left at most); converged at serial {}",
        final_serial.get()
    );
}
