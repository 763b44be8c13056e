//! Peak RSS of the status-monitor process holding 100k VMIs, fed through the
//! watched-directory source: 100 files of 1000 VMIs each, as `kubectl get vmi -o
//! json` lists, each VMI with a pod interface and two dual-stack secondary ones.
//! Reports VmHWM once the complete zone is on disk.
//!
//! `cargo bench -p status-monitor --bench memory` (VMIS=N for another size).

#![allow(clippy::unwrap_used)] // benches may panic on broken fixtures

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::json;

fn vmi(i: usize) -> serde_json::Value {
    let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": format!("vm-{i}"), "namespace": format!("tenant-{}", i % 100),
                     "uid": format!("00000000-0000-4000-8000-{i:012}"), "resourceVersion": "1"},
        "spec": {"networks": [
            {"name": "default", "pod": {}},
            {"name": "data", "multus": {"networkName": "data"}},
            {"name": "storage", "multus": {"networkName": "storage"}}
        ]},
        "status": {"phase": "Running", "interfaces": [
            {"name": "default", "ipAddress": format!("10.244.{b}.{c}"), "ipAddresses": [format!("10.244.{b}.{c}")]},
            {"name": "data", "ipAddress": format!("10.{}.{b}.{c}", 1 + a), "ipAddresses": [format!("10.{}.{b}.{c}", 1 + a), format!("fd00:1::{:x}:{:x}", i >> 16, i & 0xffff)], "infoSource": "domain, guest-agent, multus-status"},
            {"name": "storage", "ipAddress": format!("10.{}.{b}.{c}", 101 + a), "ipAddresses": [format!("10.{}.{b}.{c}", 101 + a), format!("fd00:2::{:x}:{:x}", i >> 16, i & 0xffff)], "infoSource": "domain, guest-agent, multus-status"}
        ]}
    })
}

fn status_field(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let vmis: usize = std::env::var("VMIS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let per_file = 1000.min(vmis);
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    for file in 0..vmis.div_ceil(per_file) {
        let items: Vec<_> = (file * per_file..((file + 1) * per_file).min(vmis))
            .map(vmi)
            .collect();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        fs::write(
            source.path().join(format!("vmis-{file:04}.json")),
            list.to_string(),
        )
        .unwrap();
    }

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_status-monitor"))
        .arg("--source-dir")
        .arg(source.path())
        .env("ZONES_DIR", zones.path())
        .env("DOMAIN", "example.com")
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let zone = zones.path().join("db.vm.example.com");
    // 6 address records per VM: A and AAAA for the VM name and each interface.
    let expected_lines = 6 * vmis;
    while !zone_complete(&zone, expected_lines) {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no complete zone after 10 minutes"
        );
        sleep(Duration::from_millis(50));
    }
    let to_zone = started.elapsed();
    sleep(Duration::from_millis(500));
    let pid = child.id();
    let (peak, now) = (status_field(pid, "VmHWM:"), status_field(pid, "VmRSS:"));
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "memory: {vmis} VMIs from {} files: peak RSS {:.1} MiB, RSS after the first write {:.1} MiB, first complete zone after {:.2} s",
        vmis.div_ceil(per_file),
        peak as f64 / 1024.0,
        now as f64 / 1024.0,
        to_zone.as_secs_f64()
    );
}

fn zone_complete(path: &Path, expected_lines: usize) -> bool {
    fs::read_to_string(path)
        .is_ok_and(|text| text.lines().filter(|l| l.contains("\tIN\tA")).count() >= expected_lines)
}
