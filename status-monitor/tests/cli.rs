//! The command line: configuration errors name their variable; render reads
//! files, directories, lists and JSON, and honours DOMAIN and NAME_SERVER_IP.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use common::{ParsedZone, render, run, status_monitor, text};

const VMI: &str = "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: vm1\n  namespace: ns\n\
                   spec:\n  networks:\n  - name: red\n    multus:\n      networkName: red\n\
                   status:\n  interfaces:\n  - name: red\n    ipAddress: 10.1.2.3\n";

#[test]
fn a_bad_variable_stops_startup_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vmi.yaml");
    std::fs::write(&file, VMI).unwrap();
    for (variable, value) in [
        ("DOMAIN", "bad domain"),
        ("NAME_SERVER_IP", "300.1.1.1"),
        ("RECORD_TTL", "-1"),
        ("SOA_RNAME", "@"),
        ("LOG_FORMAT", "yaml"),
        ("NOTIFY_SECONDARIES", "dns.example.com"),
        ("CATALOG_ZONE", "catalog.vm"),
        ("LOCAL_DNS_ADDR", "localhost:5353"),
    ] {
        let output = run(status_monitor(&[(variable, value)])
            .arg("render")
            .arg(&file));
        assert_eq!(output.status.code(), Some(2), "{variable}={value}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(output.stdout.is_empty(), "no zone on a bad configuration");
    }
}

#[test]
fn render_honours_domain_and_name_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vmi.yaml"), VMI).unwrap();
    let path = dir.path().to_str().unwrap();

    let (plain, _) = render(&[], &[path]);
    let zone = ParsedZone::parse(&plain, "vm.");
    assert_eq!(zone.get("red.vm1.ns.vm.", "A"), ["10.1.2.3"]);
    assert!(zone.get("vm.", "NS").is_empty());

    let (full, _) = render(
        &[
            ("DOMAIN", "corp.example"),
            ("NAME_SERVER_IP", "2001:db8::1"),
        ],
        &[path],
    );
    let zone = ParsedZone::parse(&full, "vm.corp.example.");
    assert_eq!(zone.get("vm1.ns.vm.corp.example.", "A"), ["10.1.2.3"]);
    assert_eq!(zone.get("vm.corp.example.", "NS"), ["ns.vm.corp.example."]);
    assert_eq!(zone.get("ns.vm.corp.example.", "AAAA"), ["2001:db8::1"]);
}

#[test]
fn render_reads_json_lists_and_notes_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let list = serde_json::json!({
        "apiVersion": "v1", "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"}},
            {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
             "metadata": {"name": "j", "namespace": "ns"},
             "spec": {"networks": [{"name": "n", "multus": {"networkName": "n"}}]},
             "status": {"interfaces": [{"name": "n", "ipAddresses": ["fd00::5"]}]}}
        ]
    });
    let file = dir.path().join("vmis.json");
    std::fs::write(&file, list.to_string()).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not a manifest").unwrap();
    let (zone_text, notes) = render(&[], &[file.to_str().unwrap()]);
    let zone = ParsedZone::parse(&zone_text, "vm.");
    assert_eq!(zone.get("n.j.ns.vm.", "AAAA"), ["fd00::5"]);
    assert!(
        notes.contains("not a VirtualMachineInstance") && notes.contains("ns/cm"),
        "{notes}"
    );
}

#[test]
fn render_fails_on_a_missing_path() {
    let output = run(status_monitor(&[]).args(["render", "/nonexistent/vmis"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/vmis"));
}

#[test]
fn the_same_vmi_in_two_files_is_published_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), VMI).unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        VMI.replace("10.1.2.3", "10.9.9.9"),
    )
    .unwrap();
    let (zone_text, _) = render(&[], &[dir.path().to_str().unwrap()]);
    let zone = ParsedZone::parse(&zone_text, "vm.");
    assert_eq!(
        zone.get("red.vm1.ns.vm.", "A"),
        ["10.1.2.3"],
        "the first file in path order wins"
    );
}

#[test]
fn a_source_directory_that_cannot_be_watched_stops_with_an_error() {
    let zones = tempfile::tempdir().unwrap();
    let output = run(status_monitor(&[
        ("ZONES_DIR", zones.path().to_str().unwrap()),
        ("HTTP_ADDR", "127.0.0.1:0"),
    ])
    .args(["--source-dir", "/nonexistent/manifests"]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("/nonexistent/manifests"), "{stderr}");
}

#[test]
fn network_addresses_need_the_kubernetes_api() {
    let output =
        run(
            status_monitor(&[("ADDRESS_SOURCE", "network"), ("HTTP_ADDR", "127.0.0.1:0")])
                .args(["--source-dir", "."]),
        );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("ADDRESS_SOURCE=network"));
}
