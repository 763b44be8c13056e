//! `ZONE_LAYOUT=namespace` as users get it: status-monitor watching a manifest
//! directory, CoreDNS serving ZONES_DIR with the shipped Corefile, asked with
//! dig. A namespace's zone appears with its first VM and goes with its last;
//! the names do not change, every answer is authoritative, and the namespace
//! `ns` lives beside the name server. CoreDNS comes from COREDNS or
//! ../shared/bin/coredns; without one each test says so and skips.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use common::fixtures::vmi_manifest as vmi;
use common::write_atomically as write;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use common::coredns::{CoreDns, Response};
use common::monitor::{Monitor, NAME_SERVER_IP, fqdn, wait_until};

fn zone_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("db."))
        .collect();
    names.sort();
    names
}

fn shown(response: &Response) -> String {
    format!("CoreDNS answered:\n{}", response.text)
}

fn serial(coredns: &CoreDns, zone: &str) -> u32 {
    let response = coredns.dig(&[zone, "SOA"]);
    assert!(response.is_authoritative(), "{}", shown(&response));
    response
        .soa_serial()
        .unwrap_or_else(|| panic!("the SOA of {zone}; {}", shown(&response)))
}

#[test]
fn namespace_zones_come_and_go_and_coredns_answers_the_same_names() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    write(source.path(), "web.json", &vmi("lab", "web", "10.10.0.5"));
    write(source.path(), "db.json", &vmi("ops", "db", "10.10.1.7"));
    write(
        source.path(),
        "tools.json",
        &vmi("ns", "tools", "10.10.2.9"),
    );
    let monitor = Monitor::spawn(
        zones.path(),
        &[("ZONE_LAYOUT", "namespace")],
        &[OsStr::new("--source-dir"), source.path().as_os_str()],
    );
    let all = [
        "db.lab.vm.example.com",
        "db.ops.vm.example.com",
        "db.vm.example.com",
    ];
    wait_until(
        "a zone per namespace but ns",
        || format!("{:?}\n{}", zone_files(zones.path()), monitor.log()),
        || (zone_files(zones.path()) == all).then_some(()),
    );
    for file in all {
        let origin = file.strip_prefix("db.").unwrap();
        common::check_zone_with_bind_and_knot(&zones.path().join(file), origin);
    }
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };

    // Every name as in one zone, authoritative; the name server's own name
    // and the namespace `ns` beside it.
    for (short, address) in [
        ("red.web.lab", "10.10.0.5"),
        ("web.lab", "10.10.0.5"),
        ("red.db.ops", "10.10.1.7"),
        ("red.tools.ns", "10.10.2.9"),
        ("tools.ns", "10.10.2.9"),
        ("ns", NAME_SERVER_IP),
    ] {
        coredns.wait_for_answer(&fqdn(short), "A", &[address]);
        for transport in ["+notcp", "+tcp"] {
            let response = coredns.dig(&[transport, &fqdn(short), "A"]);
            assert_eq!(response.answer_data("A"), [address], "{}", shown(&response));
            assert!(response.is_authoritative(), "{short}: {}", shown(&response));
        }
    }
    let delegation = coredns.dig(&["lab.vm.example.com", "NS"]);
    assert_eq!(
        delegation.answer_data("NS"),
        ["ns.vm.example.com."],
        "{}",
        shown(&delegation)
    );

    // A change in one namespace gives only its zone a new serial.
    let (lab, ops, parent) = (
        serial(&coredns, "lab.vm.example.com"),
        serial(&coredns, "ops.vm.example.com"),
        serial(&coredns, "vm.example.com"),
    );
    write(source.path(), "web.json", &vmi("lab", "web", "10.10.0.6"));
    coredns.wait_for_answer(&fqdn("red.web.lab"), "A", &["10.10.0.6"]);
    assert!(serial(&coredns, "lab.vm.example.com") != lab);
    assert_eq!(serial(&coredns, "ops.vm.example.com"), ops);
    assert_eq!(serial(&coredns, "vm.example.com"), parent);

    // A new namespace: its zone, delegated, answered.
    write(source.path(), "app.json", &vmi("new", "app", "10.10.3.1"));
    let response = coredns.wait_for_answer(&fqdn("red.app.new"), "A", &["10.10.3.1"]);
    assert!(response.is_authoritative(), "{}", shown(&response));
    assert!(zones.path().join("db.new.vm.example.com").exists());

    // Its last VM gone: the delegation first, then the file; the names are
    // NXDOMAIN from the parent, with its SOA.
    fs::remove_file(source.path().join("db.json")).unwrap();
    let gone = coredns.wait_for_rcode(&fqdn("red.db.ops"), "A", "NXDOMAIN");
    assert!(
        gone.authority
            .iter()
            .any(|(owner, t, _)| t == "SOA" && owner == "vm.example.com."),
        "the parent's SOA; {}",
        shown(&gone)
    );
    coredns.wait_for_rcode("ops.vm.example.com", "SOA", "NXDOMAIN");
    assert!(!zones.path().join("db.ops.vm.example.com").exists());
    let parent = fs::read_to_string(zones.path().join("db.vm.example.com")).unwrap();
    assert!(!parent.contains("ops"), "{parent}");
    // The others still answer.
    coredns.wait_for_answer(&fqdn("red.web.lab"), "A", &["10.10.0.6"]);
    // CoreDNS's reload of a zone may run before `auto` sees its file gone:
    // at most that, once, and for that zone only.
    let mut coredns = coredns;
    for error in coredns.take_zone_file_errors() {
        assert!(
            error.contains("Failed to open zone \"ops.vm.example.com.\"")
                && error.contains("no such file"),
            "{error}"
        );
    }
}

#[test]
fn a_restart_removes_the_zones_of_namespaces_gone_meanwhile() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    write(source.path(), "web.json", &vmi("lab", "web", "10.10.0.5"));
    write(source.path(), "db.json", &vmi("ops", "db", "10.10.1.7"));
    let args = [OsStr::new("--source-dir"), source.path().as_os_str()];
    let env = [("ZONE_LAYOUT", "namespace")];
    let mut first = Monitor::spawn(zones.path(), &env, &args);
    wait_until(
        "both namespace zones",
        || first.log(),
        || (zone_files(zones.path()).len() == 3).then_some(()),
    );
    first.terminate();
    fs::remove_file(source.path().join("db.json")).unwrap();
    fs::write(zones.path().join("notes.db.txt"), "not a zone of ours").unwrap();

    let second = Monitor::spawn(zones.path(), &env, &args);
    wait_until(
        "the zone of ops removed",
        || second.log(),
        || {
            (zone_files(zones.path()) == ["db.lab.vm.example.com", "db.vm.example.com"])
                .then_some(())
        },
    );
    assert!(zones.path().join("notes.db.txt").exists());
    assert!(
        second.log().contains("namespace zone removed"),
        "{}",
        second.log()
    );
    wait_until(
        "the zone files metric",
        || second.log(),
        || (second.metric("kubevirt_dns_zone_files") == 2.0).then_some(()),
    );
}
