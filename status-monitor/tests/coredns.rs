//! The zones as users get them: status-monitor watching a manifest directory
//! with reverse zones, and CoreDNS serving its ZONES_DIR with the shipped
//! Corefile (only the directory and the ports changed), asked with dig over UDP
//! and TCP. CoreDNS comes from COREDNS or ../shared/bin/coredns; without one
//! each test says so and skips. Every CoreDNS's log is checked on drop: no
//! `plugin/file` or `plugin/auto` error for a file status-monitor wrote.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use common::coredns::{CoreDns, Response};
use common::fixtures::Vmi;
use common::monitor::{Monitor, fqdn};

const REVERSE_ZONES: &str = "10.10.0.0/16,fd00:10::/64";

fn vmi(name: &str, interfaces: &[(&str, &[&str])]) -> String {
    let vmi = interfaces
        .iter()
        .fold(Vmi::new("lab", name), |vmi, (network, addresses)| {
            vmi.secondary(network, addresses)
        });
    vmi.manifest()
}

fn write(dir: &Path, file: &str, text: &str) {
    let staging = dir.join(format!(".{file}.tmp"));
    fs::write(&staging, text).unwrap();
    fs::rename(staging, dir.join(file)).unwrap();
}

/// What dig got, for failure messages that say what CoreDNS answered.
fn shown(response: &Response) -> String {
    format!("CoreDNS answered:\n{}", response.text)
}

#[test]
fn coredns_serves_forward_and_reverse_zones_as_status_monitor_writes_them() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    write(
        source.path(),
        "web.json",
        &vmi(
            "web",
            &[
                ("red", &["10.10.0.5", "fd00:10::5"]),
                ("blue", &["10.10.1.7"]),
            ],
        ),
    );
    let monitor = Monitor::spawn(
        zones.path(),
        &[("REVERSE_ZONES", REVERSE_ZONES)],
        &[OsStr::new("--source-dir"), source.path().as_os_str()],
    );
    monitor.wait_for_zone("web", |z| !z.get(&fqdn("web.lab"), "A").is_empty());
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    assert_eq!(coredns.http_status(coredns.ports.health, "/health"), 200);
    assert_eq!(coredns.http_status(coredns.ports.ready, "/ready"), 200);

    // Interface names and the VM name, A and AAAA, authoritative, UDP and TCP.
    let expected: [(&str, &str, &[&str]); 5] = [
        ("red.web.lab", "A", &["10.10.0.5"]),
        ("red.web.lab", "AAAA", &["fd00:10::5"]),
        ("blue.web.lab", "A", &["10.10.1.7"]),
        ("web.lab", "A", &["10.10.1.7"]), // the first interface by name: blue
        ("web.lab", "AAAA", &["fd00:10::5"]),
    ];
    for (short, rtype, addresses) in expected {
        coredns.wait_for_answer(&fqdn(short), rtype, addresses);
        for transport in ["+notcp", "+tcp"] {
            let response = coredns.dig(&[transport, &fqdn(short), rtype]);
            assert_eq!(
                response.answer_data(rtype),
                addresses,
                "{short} {rtype} over {transport}: {}",
                shown(&response)
            );
            assert!(
                response.is_authoritative(),
                "{short} {rtype} {transport}: the aa flag; {}",
                shown(&response)
            );
        }
    }

    // PTRs from both reverse zones; an address outside every prefix has none.
    for (address, target) in [
        ("10.10.0.5", fqdn("red.web.lab")),
        ("10.10.1.7", fqdn("blue.web.lab")),
        ("fd00:10::5", fqdn("red.web.lab")),
    ] {
        // Each reverse zone is a file of its own, written after the forward one.
        let reverse = hickory_proto::rr::Name::from(address.parse::<std::net::IpAddr>().unwrap());
        coredns.wait_for_answer(&reverse.to_string(), "PTR", &[target.as_str()]);
        for transport in ["+notcp", "+tcp"] {
            let response = coredns.dig(&[transport, "-x", address]);
            assert_eq!(
                response.answer_data("PTR"),
                std::slice::from_ref(&target),
                "PTR of {address} over {transport}: {}",
                shown(&response)
            );
            assert!(response.is_authoritative(), "{}", shown(&response));
        }
    }

    // An unknown name: NXDOMAIN with the zone's SOA in the authority section.
    for transport in ["+notcp", "+tcp"] {
        let response = coredns.dig(&[transport, &fqdn("nobody.lab"), "A"]);
        assert_eq!(
            response.status,
            "NXDOMAIN",
            "expected NXDOMAIN; {}",
            shown(&response)
        );
        assert!(
            response
                .authority
                .iter()
                .any(|(owner, t, _)| t == "SOA" && owner == "vm.example.com."),
            "the SOA in the authority section; {}",
            shown(&response)
        );
    }

    // A change: a new address, a greater serial, in the forward and the
    // reverse zone, once CoreDNS has reloaded them.
    let serial_of = |zone: &str| {
        let response = coredns.dig(&[zone, "SOA"]);
        response
            .soa_serial()
            .unwrap_or_else(|| panic!("the SOA of {zone}; {}", shown(&response)))
    };
    let (forward_before, reverse_before) =
        (serial_of("vm.example.com"), serial_of("10.10.in-addr.arpa"));
    write(
        source.path(),
        "web.json",
        &vmi(
            "web",
            &[
                ("red", &["10.10.0.6", "fd00:10::5"]),
                ("blue", &["10.10.1.7"]),
            ],
        ),
    );
    coredns.wait_for_answer(&fqdn("red.web.lab"), "A", &["10.10.0.6"]);
    let moved = coredns.wait_for_answer("6.0.10.10.in-addr.arpa", "PTR", &[&fqdn("red.web.lab")]);
    assert!(moved.is_authoritative(), "{}", shown(&moved));
    let gone = coredns.dig(&["-x", "10.10.0.5"]);
    assert_eq!(
        gone.status,
        "NXDOMAIN",
        "the old PTR is gone; {}",
        shown(&gone)
    );
    let (forward_after, reverse_after) =
        (serial_of("vm.example.com"), serial_of("10.10.in-addr.arpa"));
    assert!(
        zone_manager::Serial::new(forward_after)
            .is_after(zone_manager::Serial::new(forward_before)),
        "forward serial {forward_before} -> {forward_after}"
    );
    assert!(
        zone_manager::Serial::new(reverse_after)
            .is_after(zone_manager::Serial::new(reverse_before)),
        "reverse serial {reverse_before} -> {reverse_after}"
    );
}

#[test]
fn coredns_serves_the_checked_in_example_zone() {
    let zones = tempfile::tempdir().unwrap();
    let (text, _) = common::render(
        &[("DOMAIN", "example.com"), ("NAME_SERVER_IP", "192.0.2.53")],
        &[Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .to_str()
            .unwrap()],
    );
    fs::write(zones.path().join("db.vm.example.com"), text).unwrap();
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    let response = coredns.wait_for_answer("ns.vm.example.com", "A", &["192.0.2.53"]);
    assert!(response.is_authoritative(), "{}", shown(&response));
    let ns = coredns.dig(&["vm.example.com", "NS"]);
    assert_eq!(
        ns.answer_data("NS"),
        ["ns.vm.example.com."],
        "{}",
        shown(&ns)
    );
    coredns.wait_for_answer(
        &fqdn("ipv6-only.net-ops"),
        "AAAA",
        &["fd00:60::10", "fd00:60::9"],
    );
}

/// Names the owners chose, as clients get them (examples/vmis/vm-names.yaml):
/// an alias's CNAME with its target, the subdomain group with every member,
/// and the TTLs as set.
#[test]
fn coredns_answers_aliases_groups_and_ttls_as_the_owners_chose() {
    let zones = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vmis");
    let out = common::run(
        common::status_monitor(&[
            ("DOMAIN", "example.com"),
            ("NAME_SERVER_IP", "192.0.2.53"),
            ("ZONE_LAYOUT", "namespace"),
        ])
        .args(["render", "--out"])
        .arg(zones.path())
        .arg(&examples),
    );
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    coredns.wait_for_answer(&fqdn("www.shop"), "CNAME", &[&fqdn("web-0.shop")]);
    for transport in ["+notcp", "+tcp"] {
        let www = coredns.dig(&[transport, &fqdn("www.shop"), "A"]);
        assert_eq!(
            www.answer_data("CNAME"),
            [fqdn("web-0.shop")],
            "{}",
            shown(&www)
        );
        assert_eq!(
            www.answer_data("A"),
            ["10.20.0.10"],
            "the target follows; {}",
            shown(&www)
        );
        assert!(
            www.answer_ttls.iter().all(|ttl| *ttl == 600),
            "{}",
            shown(&www)
        );
        let group = coredns.dig(&[transport, &fqdn("front.shop"), "A"]);
        assert_eq!(
            group.answer_data("A"),
            ["10.20.0.10", "10.20.0.11"],
            "{}",
            shown(&group)
        );
        assert_eq!(
            group.answer_ttls,
            [60, 60],
            "the smaller member's; {}",
            shown(&group)
        );
        let scheme = coredns.dig(&[transport, &fqdn("web-1.front.shop"), "A"]);
        assert_eq!(
            scheme.answer_data("A"),
            ["10.20.0.11"],
            "{}",
            shown(&scheme)
        );
        assert!(scheme.is_authoritative(), "{}", shown(&scheme));
    }
}

/// The check every CoreDNS test ends with can fail: a zone CoreDNS cannot
/// parse shows in its log.
#[test]
fn a_zone_file_coredns_cannot_parse_shows_in_its_log() {
    let zones = tempfile::tempdir().unwrap();
    fs::write(
        zones.path().join("db.vm.example.com"),
        "$ORIGIN vm.example.com.\n@ IN SOA ns hostmaster 1 300 60 1209600 10\nbad IN A 999.1.1.1\n",
    )
    .unwrap();
    let Some(mut coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    let errors = common::monitor::wait_until(
        "CoreDNS to report the broken zone",
        || coredns.log(),
        || Some(coredns.zone_file_errors()).filter(|e| !e.is_empty()),
    );
    assert!(errors[0].contains("db.vm.example.com"), "{errors:?}");
    assert_eq!(coredns.take_zone_file_errors(), errors);
}

/// The pod's readiness as the Deployment sets it (LOCAL_DNS_ADDR: the CoreDNS
/// beside it): the moment status-monitor first says ready, CoreDNS, started on
/// the same empty directory, already answers for the VMs, and the change that
/// made the zone is in the freshness histogram.
#[test]
fn when_status_monitor_turns_ready_coredns_already_serves_the_zone() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    write(
        source.path(),
        "web.json",
        &vmi("web", &[("red", &["10.10.0.5"])]),
    );
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    let local = format!("127.0.0.1:{}", coredns.ports.dns);
    let monitor = Monitor::spawn(
        zones.path(),
        &[("LOCAL_DNS_ADDR", &local)],
        &[OsStr::new("--source-dir"), source.path().as_os_str()],
    );
    monitor.wait_until_ready();
    let response = coredns.dig(&[&fqdn("red.web.lab"), "A"]);
    assert_eq!(
        response.answer_data("A"),
        ["10.10.0.5"],
        "expected 10.10.0.5 as soon as the pod is ready; {}",
        shown(&response)
    );
    assert_eq!(
        monitor.metric("kubevirt_dns_change_to_served_seconds_count"),
        1.0
    );
    assert_eq!(monitor.metric("kubevirt_dns_zones_unserved"), 0.0);

    // A change is measured from its arrival to CoreDNS serving it.
    write(
        source.path(),
        "web.json",
        &vmi("web", &[("red", &["10.10.0.6"])]),
    );
    common::monitor::wait_until(
        "the change to be served and measured",
        || monitor.log(),
        || (monitor.metric("kubevirt_dns_change_to_served_seconds_count") == 2.0).then_some(()),
    );
    let response = coredns.dig(&[&fqdn("red.web.lab"), "A"]);
    assert_eq!(
        response.answer_data("A"),
        ["10.10.0.6"],
        "{}",
        shown(&response)
    );
    let took = monitor.metric("kubevirt_dns_change_to_served_seconds_sum");
    assert!(took > 0.0 && took < 10.0, "{took} s for two changes");
}

/// Zones on disk that the DNS server beside status-monitor does not serve (it
/// is not running) keep the pod unready, and the metrics say how many wait.
#[test]
fn zones_the_dns_server_beside_does_not_serve_keep_the_pod_unready() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    write(
        source.path(),
        "web.json",
        &vmi("web", &[("red", &["10.10.0.5"])]),
    );
    // A port nothing answers on.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = silent.local_addr().unwrap().to_string();
    let monitor = Monitor::spawn(
        zones.path(),
        &[("LOCAL_DNS_ADDR", &local)],
        &[OsStr::new("--source-dir"), source.path().as_os_str()],
    );
    monitor.wait_for_zone("the first zone", |z| {
        !z.get(&fqdn("red.web.lab"), "A").is_empty()
    });
    common::monitor::wait_until(
        "the waiting zone in the metrics",
        || monitor.log(),
        || (monitor.metric("kubevirt_dns_zones_unserved") == 1.0).then_some(()),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (status, body) = common::http_get(&monitor.http_address(), "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("LOCAL_DNS_ADDR"), "{body}");
    let oldest = monitor.metric("kubevirt_dns_zones_unserved_oldest_seconds");
    assert!(
        oldest >= 1.5,
        "{oldest}: {}",
        common::http_get(&monitor.http_address(), "/metrics")
            .unwrap()
            .1
    );
    assert_eq!(
        monitor.metric("kubevirt_dns_change_to_served_seconds_count"),
        0.0
    );
}
