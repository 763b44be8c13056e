//! The watched manifest directory, end to end: the real binary, real files,
//! real inotify, the zone read back with a real parser.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::fixtures::Vmi;
use common::monitor::{Monitor, fqdn as name};
use tempfile::TempDir;

fn vmi_yaml(name: &str, interfaces: &[(&str, &str)]) -> String {
    let vmi = Vmi::new("lab", name).pod_network(&["10.244.0.1"]);
    let vmi = interfaces.iter().fold(vmi, |vmi, (network, address)| {
        vmi.secondary(network, &[address])
    });
    vmi.yaml()
}

/// A manifest directory and a zones directory, with a monitor watching them.
struct Fixture {
    source: TempDir,
    zones: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            source: tempfile::tempdir().unwrap(),
            zones: tempfile::tempdir().unwrap(),
        }
    }

    fn start(&self) -> Monitor {
        self.start_with(&[])
    }

    fn start_with(&self, env: &[(&str, &str)]) -> Monitor {
        Monitor::spawn(
            self.zones.path(),
            env,
            &[OsStr::new("--source-dir"), self.source.path().as_os_str()],
        )
    }

    fn write(&self, file: &str, text: &str) {
        // Write then rename, as editors and kubectl-like tools do.
        let staging = self.source.path().join(format!(".{file}.swp"));
        fs::write(&staging, text).unwrap();
        fs::rename(staging, self.source.path().join(file)).unwrap();
    }
}

fn only_zone_file(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn files_added_edited_and_removed_keep_the_zone_in_sync() {
    let fixture = Fixture::new();
    let monitor = fixture.start();
    let empty = monitor.wait_for_zone("the first zone", |_| true);
    assert!(empty.address_owners().iter().all(|n| n.starts_with("ns.")));

    fixture.write("web.yaml", &vmi_yaml("web", &[("red", "10.10.0.5")]));
    let added = monitor.wait_for_zone("web to appear", |z| {
        !z.get(&name("red.web.lab"), "A").is_empty()
    });
    assert_eq!(added.get(&name("red.web.lab"), "A"), ["10.10.0.5"]);
    assert_eq!(added.get(&name("web.lab"), "A"), ["10.10.0.5"]);
    assert!(added.serial > empty.serial);

    fixture.write(
        "web.yaml",
        &vmi_yaml("web", &[("red", "10.10.0.6"), ("blue", "fd00::6")]),
    );
    let edited = monitor.wait_for_zone("the new address", |z| {
        z.get(&name("red.web.lab"), "A") == ["10.10.0.6"]
    });
    assert_eq!(edited.get(&name("blue.web.lab"), "AAAA"), ["fd00::6"]);
    assert!(edited.serial > added.serial);

    fs::remove_file(fixture.source.path().join("web.yaml")).unwrap();
    let removed =
        monitor.wait_for_zone("web to go", |z| z.get(&name("red.web.lab"), "A").is_empty());
    assert!(removed.address_owners().iter().all(|n| !n.contains("web")));
    assert!(removed.serial > edited.serial);
}

#[test]
fn reverse_zones_follow_the_interfaces_addresses() {
    const V4: &str = "10.10.in-addr.arpa.";
    const V6: &str = "0.0.d.f.ip6.arpa.";
    let fixture = Fixture::new();
    let monitor = fixture.start_with(&[("REVERSE_ZONES", "10.10.0.0/16, fd00::/16")]);
    fixture.write(
        "web.yaml",
        &vmi_yaml(
            "web",
            &[
                ("red", "10.10.0.5"),
                ("blue", "fd00::6"),
                ("green", "192.0.2.7"),
            ],
        ),
    );
    let v4 = monitor.wait_for_reverse_zone(V4, "web's IPv4 PTR", |z| {
        !z.get("5.0.10.10.in-addr.arpa.", "PTR").is_empty()
    });
    assert_eq!(
        v4.get("5.0.10.10.in-addr.arpa.", "PTR"),
        [name("red.web.lab")]
    );
    let v6 = monitor.wait_for_reverse_zone(V6, "web's IPv6 PTR", |z| {
        z.rrsets.keys().any(|(_, t)| t == "PTR")
    });
    // fd00::6: the nibble 6, then the 27 zero nibbles after fd00, then the origin.
    let v6_owner = format!("6{}.{V6}", ".0".repeat(27));
    assert_eq!(v6.get(&v6_owner, "PTR"), [name("blue.web.lab")]);
    let ptrs = |z: &common::ParsedZone| z.rrsets.keys().filter(|(_, t)| t == "PTR").count();
    assert_eq!(
        ptrs(&v4) + ptrs(&v6),
        2,
        "192.0.2.7 is outside every prefix"
    );
    for origin in [V4, V6] {
        common::check_zone_with_bind_and_knot(
            &monitor.reverse_zone_path(origin),
            origin.trim_end_matches('.'),
        );
    }

    fixture.write("web.yaml", &vmi_yaml("web", &[("red", "10.10.0.6")]));
    let moved = monitor.wait_for_reverse_zone(V4, "the PTR to move", |z| {
        !z.get("6.0.10.10.in-addr.arpa.", "PTR").is_empty()
    });
    assert!(moved.get("5.0.10.10.in-addr.arpa.", "PTR").is_empty());
    assert!(moved.serial > v4.serial);
    let v6_after = monitor.wait_for_reverse_zone(V6, "the IPv6 PTR to go", |z| ptrs(z) == 0);
    assert!(v6_after.serial > v6.serial);

    fs::remove_file(fixture.source.path().join("web.yaml")).unwrap();
    let gone = monitor.wait_for_reverse_zone(V4, "web's PTRs to go", |z| ptrs(z) == 0);
    assert_eq!(gone.get(V4, "NS"), ["ns.vm.example.com."]);
}

#[test]
fn a_file_that_stops_parsing_keeps_its_last_good_content() {
    let fixture = Fixture::new();
    let monitor = fixture.start();
    fixture.write("a.yaml", &vmi_yaml("a", &[("red", "10.0.0.1")]));
    fixture.write("b.yaml", &vmi_yaml("b", &[("red", "10.0.0.2")]));
    let good = monitor.wait_for_zone("both VMs", |z| {
        !z.get(&name("a.lab"), "A").is_empty() && !z.get(&name("b.lab"), "A").is_empty()
    });

    fixture.write("a.yaml", "apiVersion: kubevirt.io/v1\nkind: [unclosed\n");
    monitor.wait_for_log("keeping the last good content", 1);
    assert!(
        monitor.log().contains("a.yaml"),
        "the message names the file"
    );
    fixture.write("b.yaml", &vmi_yaml("b", &[("red", "10.0.0.3")]));
    let later = monitor.wait_for_zone("b's change", |z| z.get(&name("b.lab"), "A") == ["10.0.0.3"]);
    assert_eq!(
        later.get(&name("a.lab"), "A"),
        ["10.0.0.1"],
        "a is still served"
    );
    assert!(later.serial > good.serial);
}

#[test]
fn reordering_interfaces_rewrites_nothing() {
    let fixture = Fixture::new();
    let monitor = fixture.start();
    fixture.write(
        "web.yaml",
        &vmi_yaml("web", &[("red", "10.0.0.1"), ("blue", "10.0.0.2")]),
    );
    let first = monitor.wait_for_zone("web", |z| !z.get(&name("blue.web.lab"), "A").is_empty());
    let inode = fs::metadata(monitor.zone_path()).unwrap().ino();
    let unchanged = monitor
        .log()
        .matches("resync applied changed=false")
        .count();

    fixture.write(
        "web.yaml",
        &vmi_yaml("web", &[("blue", "10.0.0.2"), ("red", "10.0.0.1")]),
    );
    monitor.wait_for_log("resync applied changed=false", unchanged + 1);
    assert_eq!(
        fs::metadata(monitor.zone_path()).unwrap().ino(),
        inode,
        "zone rewritten"
    );
    assert_eq!(monitor.zone().unwrap().serial, first.serial);
}

#[test]
fn restart_keeps_the_zone_and_its_serial_then_keeps_growing() {
    let fixture = Fixture::new();
    let mut monitor = fixture.start();
    fixture.write("web.yaml", &vmi_yaml("web", &[("red", "10.0.0.1")]));
    let before = monitor.wait_for_zone("web", |z| !z.get(&name("web.lab"), "A").is_empty());
    let inode = fs::metadata(monitor.zone_path()).unwrap().ino();
    let status = monitor.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    assert_eq!(
        only_zone_file(fixture.zones.path()),
        ["db.vm.example.com"],
        "nothing half-written left"
    );

    let restarted = fixture.start();
    restarted.wait_for_log("keeping it and its serial", 1);
    assert_eq!(
        fs::metadata(restarted.zone_path()).unwrap().ino(),
        inode,
        "same records: no write"
    );
    assert_eq!(restarted.zone().unwrap().serial, before.serial);

    fixture.write("web.yaml", &vmi_yaml("web", &[("red", "10.0.0.2")]));
    let after = restarted.wait_for_zone("the change", |z| {
        z.get(&name("web.lab"), "A") == ["10.0.0.2"]
    });
    assert!(after.serial > before.serial);
}

#[test]
fn malformed_and_invalid_vmis_are_skipped_with_a_warning_and_the_rest_served() {
    let fixture = Fixture::new();
    let monitor = fixture.start();
    let bad_types = "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: typo\n  namespace: lab\n\
                     spec: {}\nstatus:\n  interfaces: {not: a list}\n";
    fixture.write(
        "mixed.yaml",
        &format!(
            "{}---\n{bad_types}---\n{}",
            vmi_yaml("good", &[("red", "10.0.0.1")]),
            vmi_yaml("bad.name", &[("red", "10.0.0.2")])
        ),
    );
    let zone = monitor.wait_for_zone("good", |z| !z.get(&name("good.lab"), "A").is_empty());
    assert!(
        zone.address_owners()
            .iter()
            .all(|n| !n.contains("bad") && !n.contains("typo"))
    );
    monitor.wait_for_log("lab/typo", 1);
    monitor.wait_for_log("lab/bad.name", 1);
}

#[test]
fn a_removed_or_replaced_zone_file_is_written_again_with_a_new_serial() {
    let fixture = Fixture::new();
    let monitor = fixture.start();
    fixture.write("web.yaml", &vmi_yaml("web", &[("red", "10.0.0.1")]));
    let first = monitor.wait_for_zone("web", |z| !z.get(&name("web.lab"), "A").is_empty());

    fs::remove_file(monitor.zone_path()).unwrap();
    let restored = monitor.wait_for_zone("the zone to come back", |z| z.serial > first.serial);
    assert_eq!(restored.get(&name("red.web.lab"), "A"), ["10.0.0.1"]);

    // Someone writes their own zone over ours.
    fs::write(
        monitor.zone_path(),
        "$ORIGIN vm.example.com.\n@ 60 IN SOA a. b. 1 1 1 1 1\n",
    )
    .unwrap();
    let again = monitor.wait_for_zone("our zone to come back", |z| z.serial > restored.serial);
    assert_eq!(again.get(&name("red.web.lab"), "A"), ["10.0.0.1"]);
    monitor.wait_for_log("removed or changed by someone else", 2);
}

#[test]
fn health_readiness_and_metrics_are_served() {
    let fixture = Fixture::new();
    let monitor = fixture.start();
    fixture.write(
        "web.yaml",
        &vmi_yaml("web", &[("red", "10.0.0.1"), ("blue", "fd00::1")]),
    );
    monitor.wait_for_zone("web", |z| !z.get(&name("blue.web.lab"), "AAAA").is_empty());
    let address = monitor.http_address();

    assert_eq!(common::http_get(&address, "/healthz").unwrap().0, 200);
    assert_eq!(common::http_get(&address, "/readyz").unwrap().0, 200);
    let (status, metrics) = common::http_get(&address, "/metrics").unwrap();
    assert_eq!(status, 200);
    for expected in [
        "kubevirt_dns_zone_records{type=\"A\"} 2",
        "kubevirt_dns_zone_records{type=\"AAAA\"} 2",
        "kubevirt_dns_vms_published 1",
        "kubevirt_dns_zone_writes_total{result=\"success\"}",
        "kubevirt_dns_zone_publish_duration_seconds_bucket",
        "kubevirt_dns_zone_serial ",
        "kubevirt_dns_zone_last_write_timestamp_seconds ",
        "kubevirt_dns_watch_restarts_total 0",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }
    assert_eq!(common::http_get(&address, "/nothing").unwrap().0, 404);
}

/// A VMI manifest from its metadata extras, networks, device interfaces,
/// phase and status interfaces.
fn life_vmi(
    name: &str,
    metadata: serde_json::Value,
    devices: serde_json::Value,
    phase: &str,
    interfaces: serde_json::Value,
) -> String {
    let mut meta = serde_json::json!({"name": name, "namespace": "lab"});
    meta.as_object_mut()
        .unwrap()
        .extend(metadata.as_object().unwrap().clone());
    serde_json::json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": meta,
        "spec": {
            "domain": {"devices": {"interfaces": devices}},
            "networks": [
                {"name": "default", "pod": {}},
                {"name": "data", "multus": {"networkName": "data"}},
                {"name": "service", "multus": {"networkName": "service"}}
            ]
        },
        "status": {"phase": phase, "interfaces": interfaces}
    })
    .to_string()
}

fn data_and_service() -> serde_json::Value {
    serde_json::json!([
        {"name": "data", "ipAddresses": ["10.1.0.5"]},
        {"name": "service", "ipAddresses": ["10.2.0.5", "fd00:2::5"]}
    ])
}

#[test]
fn each_rule_of_the_vms_life_holds_in_a_watched_directory() {
    let fixture = Fixture::new();
    let no = serde_json::json!({});
    let plain_devices = serde_json::json!([{"name": "data"}, {"name": "service"}]);
    // Finished, opted out, unselected: nothing. Unplugged, SR-IOV, chosen VM name: as the rules say.
    fixture.write(
        "done.json",
        &life_vmi(
            "done",
            serde_json::json!({"labels": {"dns": "on"}}),
            plain_devices.clone(),
            "Succeeded",
            data_and_service(),
        ),
    );
    fixture.write("hidden.json", &life_vmi("hidden", serde_json::json!({"labels": {"dns": "on"}, "annotations": {"kubevirt-dns.io/publish": "false"}}), plain_devices.clone(), "Running", data_and_service()));
    fixture.write(
        "other.json",
        &life_vmi(
            "other",
            no.clone(),
            plain_devices.clone(),
            "Running",
            data_and_service(),
        ),
    );
    fixture.write(
        "unplug.json",
        &life_vmi(
            "unplug",
            serde_json::json!({"labels": {"dns": "on"}}),
            serde_json::json!([{"name": "data", "state": "absent"}, {"name": "service"}]),
            "Running",
            data_and_service(),
        ),
    );
    fixture.write("sriov.json", &life_vmi("sriov", serde_json::json!({"labels": {"dns": "on"}}), serde_json::json!([{"name": "data", "sriov": {}, "macAddress": "02:00:00:AA:00:01"}]), "Running", serde_json::json!([
        {"name": "data", "infoSource": "domain, multus-status"},
        {"interfaceName": "eth1", "mac": "02:00:00:aa:00:01", "ipAddresses": ["10.1.0.9"], "infoSource": "guest-agent"}
    ])));
    fixture.write("chosen.json", &life_vmi("chosen", serde_json::json!({"labels": {"dns": "on"}, "annotations": {"kubevirt-dns.io/vm-name-interface": "service"}}), plain_devices.clone(), "Running", data_and_service()));
    let monitor = fixture.start_with(&[("VMI_LABEL_SELECTOR", "dns=on")]);
    let zone = monitor.wait_for_zone("the rules applied", |z| {
        !z.get(&name("chosen.lab"), "A").is_empty()
    });
    for gone in ["done.lab", "hidden.lab", "other.lab", "data.unplug.lab"] {
        assert!(zone.get(&name(gone), "A").is_empty(), "{gone}");
    }
    assert_eq!(zone.get(&name("unplug.lab"), "A"), ["10.2.0.5"]);
    assert_eq!(zone.get(&name("data.sriov.lab"), "A"), ["10.1.0.9"]);
    assert_eq!(zone.get(&name("chosen.lab"), "A"), ["10.2.0.5"]);
    assert_eq!(zone.get(&name("chosen.lab"), "AAAA"), ["fd00:2::5"]);
    for reason in ["final_phase", "opted_out", "unplugged"] {
        let sample = format!("kubevirt_dns_objects_skipped_total{{reason=\"{reason}\"}}");
        assert!(monitor.metric(&sample) >= 1.0, "{sample}");
    }

    // A new run of the finished VM brings its names back.
    fixture.write(
        "done.json",
        &life_vmi(
            "done",
            serde_json::json!({"labels": {"dns": "on"}}),
            plain_devices,
            "Running",
            data_and_service(),
        ),
    );
    monitor.wait_for_zone("the new run", |z| {
        z.get(&name("done.lab"), "A") == ["10.1.0.5"]
    });
}

/// The zone files of `dir`, each without its serial-bearing header.
fn zone_bodies(dir: &Path) -> std::collections::BTreeMap<String, String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("db."))
        .map(|e| {
            let text = fs::read_to_string(e.path()).unwrap();
            let body: Vec<&str> = text.lines().filter(|l| !l.contains("\tSOA\t")).collect();
            (
                e.file_name().to_string_lossy().into_owned(),
                body.join("\n"),
            )
        })
        .collect()
}

#[test]
fn render_out_writes_exactly_the_files_the_monitor_writes() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vmis");
    let env = [
        ("ZONE_LAYOUT", "namespace"),
        ("REVERSE_ZONES", "192.168.0.0/16,2001:db8::/32"),
        ("CATALOG_ZONE", "catalog.example.com"),
    ];
    let zones = tempfile::tempdir().unwrap();
    let monitor = Monitor::spawn(
        zones.path(),
        &env,
        &[OsStr::new("--source-dir"), examples.as_os_str()],
    );
    let rendered = tempfile::tempdir().unwrap();
    let mut render_env = vec![
        ("DOMAIN", common::monitor::DOMAIN),
        ("NAME_SERVER_IP", common::monitor::NAME_SERVER_IP),
    ];
    render_env.extend_from_slice(&env);
    let out = common::run(
        common::status_monitor(&render_env)
            .args(["render", "--out"])
            .arg(rendered.path())
            .arg(&examples),
    );
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let expected = zone_bodies(rendered.path());
    assert!(
        expected.len() > 5
            && expected.contains_key("db.tenant-a.vm.example.com")
            && expected.contains_key("db.catalog.example.com"),
        "{:?}",
        expected.keys()
    );
    common::monitor::wait_until(
        "the monitor's files to be the rendered ones",
        || format!("{:?}\n{}", zone_bodies(zones.path()).keys(), monitor.log()),
        || (zone_bodies(zones.path()) == expected).then_some(()),
    );
    for file in expected.keys() {
        let origin = file.strip_prefix("db.").unwrap();
        common::check_zone_with_bind_and_knot(&rendered.path().join(file), origin);
    }
    assert_eq!(
        monitor.metric("kubevirt_dns_zone_files"),
        expected.len() as f64
    );
    let namespace_writes =
        monitor.metric("kubevirt_dns_zone_file_writes_total{kind=\"namespace\"}");
    assert_eq!(
        namespace_writes,
        (expected.len() - 4) as f64,
        "one per namespace zone"
    );
    assert_eq!(
        monitor.metric("kubevirt_dns_zone_file_writes_total{kind=\"reverse\"}"),
        2.0
    );
    assert_eq!(
        monitor.metric("kubevirt_dns_zone_file_writes_total{kind=\"catalog\"}"),
        1.0
    );
}
