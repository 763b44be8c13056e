//! `status-monitor render examples/`: the checked-in zone stays in sync, parses,
//! and passes the strict checkers of BIND and Knot.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::{Path, PathBuf};

use common::{ParsedZone, render};

const SERIAL: &str = "2026112101";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn render_examples(domain: &str, name_server: &str) -> (String, String) {
    render(
        &[("DOMAIN", domain), ("NAME_SERVER_IP", name_server)],
        &["--serial", SERIAL, examples().to_str().unwrap()],
    )
}

#[test]
fn checked_in_example_zone_is_what_render_prints() {
    let (zone, _) = render_examples("example.com", "192.0.2.53");
    let expected_path = examples().join("expected/vm.example.com.zone");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, &zone).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(
        zone, expected,
        "examples/expected is stale: run `UPDATE_EXPECT=1 cargo test -p status-monitor --test examples`"
    );
}

#[test]
fn example_zone_serves_the_secondary_interfaces_and_nothing_else() {
    let (text, warnings) = render_examples("example.com", "192.0.2.53");
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    assert_eq!(zone.serial, 2026112101);
    // Pod network + Multus bridge: only the bridge, and the VM name.
    assert_eq!(
        zone.get("red.vm-bridge.default.vm.example.com.", "A"),
        ["10.10.0.5"]
    );
    assert_eq!(
        zone.get("vm-bridge.default.vm.example.com.", "A"),
        ["10.10.0.5"]
    );
    assert!(
        zone.get("red.vm-bridge.default.vm.example.com.", "AAAA")
            .is_empty(),
        "link-local dropped"
    );
    // Dual stack.
    assert_eq!(
        zone.get("storage.db1.tenant-a.vm.example.com.", "A"),
        ["10.20.0.7"]
    );
    assert_eq!(
        zone.get("storage.db1.tenant-a.vm.example.com.", "AAAA"),
        ["fd00:20::7"]
    );
    assert_eq!(zone.get("db1.tenant-a.vm.example.com.", "A"), ["10.30.0.7"]);
    assert_eq!(
        zone.get("db1.tenant-a.vm.example.com.", "AAAA"),
        ["fd00:20::7"]
    );
    // Guest-agent-reported addresses; the unnamed docker0 is not published.
    assert_eq!(
        zone.get("lab.builder.ci.vm.example.com.", "AAAA"),
        ["2001:db8:50::21"]
    );
    assert!(!text.contains("172.17.0.1"));
    // Lists from kubectl and from the API; a Multus default network is not secondary.
    assert_eq!(
        zone.get("data.cache.tenant-b.vm.example.com.", "A"),
        ["10.60.0.4"]
    );
    assert_eq!(
        zone.get("v6net.ipv6-only.net-ops.vm.example.com.", "AAAA"),
        ["fd00:60::10", "fd00:60::9"]
    );
    assert!(zone.address_owners().iter().all(|n| !n.contains("router")));
    // Invalid names: skipped, the rest of that file served, a warning naming each.
    assert_eq!(
        zone.get("blue.edge.default.vm.example.com.", "A"),
        ["10.40.0.3"]
    );
    assert!(!text.contains("10.10.0.9") && !text.contains("10.40.0.2"));
    assert!(warnings.contains("default/web.v2"), "{warnings}");
    assert!(
        warnings.contains("\"Blue_Net\"") && warnings.contains("default/edge"),
        "{warnings}"
    );
    // Names the owners chose: the subdomain scheme, its group, aliases, TTLs.
    assert_eq!(
        zone.get("front.shop.vm.example.com.", "A"),
        ["10.20.0.10", "10.20.0.11"]
    );
    assert_eq!(
        zone.get("www.shop.vm.example.com.", "CNAME"),
        ["web-0.shop.vm.example.com."]
    );
    let ttl = |name: &str| zone.ttls[&(name.to_owned(), "A".to_owned())];
    assert_eq!(ttl("web-0.front.shop.vm.example.com."), 600);
    assert_eq!(
        ttl("front.shop.vm.example.com."),
        60,
        "the smaller member's"
    );
    // 28 owner/type sets of VMs plus the ns glue.
    assert_eq!(zone.address_owners().len(), 29, "{text}");
}

#[test]
fn example_zones_pass_named_checkzone_and_kzonecheck() {
    for (domain, name_server, origin) in [
        ("example.com", "192.0.2.53", "vm.example.com"),
        ("", "2001:db8::53", "vm"),
        (
            "cluster.example.org.",
            "198.51.100.7",
            "vm.cluster.example.org",
        ),
    ] {
        let (text, _) = render_examples(domain, name_server);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("db.{origin}"));
        std::fs::write(&file, &text).unwrap();
        common::check_zone_with_bind_and_knot(&file, origin);
    }
}
