//! What the process benchmarks share: synthetic VMIs as the API server and
//! kubectl show them, and the monitor run until its zone is complete.

#![allow(dead_code)] // each bench uses a part

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::json;

/// VMI `i`: a pod interface and two dual-stack secondary ones, in one of 100
/// namespaces.
pub fn vmi(i: usize) -> serde_json::Value {
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

/// VMIs `range` as `kubectl get vmi -A -o json` prints them: a `List`,
/// indented by four spaces.
pub fn kubectl_json_list(range: std::ops::Range<usize>) -> Vec<u8> {
    use serde::Serialize;
    let items: Vec<_> = range.map(vmi).collect();
    let list = json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    list.serialize(&mut serializer).unwrap();
    out
}

/// The same as `kubectl get vmi -A -o yaml` prints it.
pub fn kubectl_yaml_list(range: std::ops::Range<usize>) -> String {
    let mut out = String::from("apiVersion: v1\nitems:\n");
    for i in range {
        let item = serde_saphyr::to_string(&vmi(i)).unwrap();
        for (n, line) in item.lines().enumerate() {
            out.push_str(if n == 0 { "- " } else { "  " });
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
    out
}

/// A size from the environment (`VMIS=...`), else `default`.
pub fn size(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn status_field(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// What the monitor cost to get its first complete zone.
pub struct FirstZone {
    pub peak_kib: u64,
    pub rss_kib: u64,
    pub after: Duration,
}

/// Runs the monitor on `source` until the zone holds `vmis` VMs (6 address
/// records each: A and AAAA for the VM name and each interface).
pub fn monitor_until_complete(source: &Path, vmis: usize) -> FirstZone {
    let zones = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_status-monitor"))
        .arg("--source-dir")
        .arg(source)
        .env("ZONES_DIR", zones.path())
        .env("DOMAIN", "example.com")
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !zones_complete(zones.path(), 6 * vmis) {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no complete zone after 10 minutes"
        );
        sleep(Duration::from_millis(50));
    }
    let after = started.elapsed();
    sleep(Duration::from_millis(500));
    let pid = child.id();
    let (peak_kib, rss_kib) = (status_field(pid, "VmHWM:"), status_field(pid, "VmRSS:"));
    child.kill().unwrap();
    child.wait().unwrap();
    FirstZone {
        peak_kib,
        rss_kib,
        after,
    }
}

/// Whether the zone files in `dir` (one, or one per namespace) hold
/// `expected_lines` address records.
fn zones_complete(dir: &Path, expected_lines: usize) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let records: usize = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("db."))
        .filter_map(|entry| fs::read_to_string(entry.path()).ok())
        .map(|text| text.lines().filter(|l| l.contains("\tIN\tA")).count())
        .sum();
    records >= expected_lines
}
