//! Zone transfers to the DNS servers users already run, set up as docs/secondaries.md's
//! "Serving from your own DNS (secondaries)" says: status-monitor watching a
//! manifest directory, CoreDNS serving the Corefile of
//! deploy/components/zone-transfer with the TSIG key the command in docs/secondaries.md makes,
//! and knotd as a secondary with the Knot configuration of docs/secondaries.mds. CoreDNS comes
//! from COREDNS or ../shared/bin/coredns; without one each test says so and
//! skips.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use common::fixtures::vmi_manifest as vmi;
use common::write_atomically as write;

use std::ffi::OsStr;
use std::fs;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::coredns::CoreDns;
use common::dns::dig_output;
use common::monitor::{Monitor, wait_until};
use common::secondary::{BindSecondary, KnotSecondary, TransferKey, adapted, readme_block};

const CATALOG: &str = "catalog.example.com";

/// dig against CoreDNS on TCP with `extra` (a key, or none): the output.
fn axfr(coredns: &CoreDns, zone: &str, extra: &[&str]) -> String {
    let port = coredns.ports.dns;
    let mut args = vec!["+tcp", "AXFR", zone];
    args.extend_from_slice(extra);
    let out = dig_output(port, &args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The records of an AXFR's output (comments dropped, fields separated by
/// one space), without TSIG.
fn records(axfr: &str) -> Vec<String> {
    axfr.lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.contains(" TSIG "))
        .collect()
}

/// Everything a test needs: manifests, zones, key, CoreDNS, status-monitor.
struct Primary {
    source: tempfile::TempDir,
    zones: tempfile::TempDir,
    key: TransferKey,
    coredns: CoreDns,
}

impl Primary {
    /// CoreDNS serving the zone-transfer Corefile; `None` without CoreDNS.
    fn start() -> Option<Self> {
        let source = tempfile::tempdir().unwrap();
        let zones = tempfile::tempdir().unwrap();
        let key = TransferKey::make();
        let coredns = common::secondary::serve_transfers(zones.path(), &key)?;
        Some(Self {
            source,
            zones,
            key,
            coredns,
        })
    }

    /// status-monitor on the manifests with `env`, notifying `secondaries`
    /// and asking this CoreDNS for serials.
    fn monitor(&self, env: &[(&str, &str)], secondaries: &[u16]) -> Monitor {
        let notify: Vec<String> = secondaries
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let notify = notify.join(",");
        let local = format!("127.0.0.1:{}", self.coredns.ports.dns);
        let mut all = vec![
            ("REVERSE_ZONES", "10.10.0.0/16"),
            ("NOTIFY_SECONDARIES", notify.as_str()),
            ("LOCAL_DNS_ADDR", local.as_str()),
        ];
        all.extend_from_slice(env);
        Monitor::spawn(
            self.zones.path(),
            &all,
            &[OsStr::new("--source-dir"), self.source.path().as_os_str()],
        )
    }
}

#[test]
fn axfr_of_forward_and_reverse_zones_needs_the_tsig_key() {
    let Some(primary) = Primary::start() else {
        return;
    };
    write(
        primary.source.path(),
        "a.json",
        &vmi("default", "a", "10.10.0.1"),
    );
    let _monitor = primary.monitor(&[("ZONE_LAYOUT", "single")], &[]);
    primary
        .coredns
        .wait_for_answer("red.a.default.vm.example.com", "A", &["10.10.0.1"]);
    primary
        .coredns
        .wait_for_ptr("10.10.0.1", &["red.a.default.vm.example.com."]);
    let key = primary.key.dig_arg();
    let wrong = format!(
        "hmac-sha256:{}:{}",
        common::secondary::KEY_NAME,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    );
    for (zone, record) in [
        (
            "vm.example.com",
            "red.a.default.vm.example.com. 30 IN A 10.10.0.1",
        ),
        (
            "10.10.in-addr.arpa",
            "1.0.10.10.in-addr.arpa. 30 IN PTR red.a.default.vm.example.com.",
        ),
    ] {
        let signed = axfr(&primary.coredns, zone, &["-y", &key]);
        let transferred = records(&signed);
        assert!(
            transferred.iter().any(|r| r == record),
            "{zone}: {record} in\n{signed}"
        );
        let soas = transferred.iter().filter(|r| r.contains(" SOA ")).count();
        assert_eq!(
            soas, 2,
            "a whole transfer starts and ends with the SOA:\n{signed}"
        );
        assert!(
            signed.contains("\tTSIG\t"),
            "the answer is signed:\n{signed}"
        );

        let unsigned = axfr(&primary.coredns, zone, &[]);
        assert!(
            records(&unsigned).is_empty(),
            "{zone} without a key:\n{unsigned}"
        );
        assert!(unsigned.contains("Transfer failed"), "{unsigned}");
        let wrong_key = axfr(&primary.coredns, zone, &["-y", &wrong]);
        assert!(
            records(&wrong_key).is_empty(),
            "{zone} with a wrong key:\n{wrong_key}"
        );
        assert!(wrong_key.contains("BADSIG"), "{wrong_key}");
    }
    let log = primary.coredns.log();
    assert!(log.contains("\"AXFR IN vm.example.com. tcp"), "{log}");
    assert!(
        log.contains("REFUSED"),
        "the unsigned request is refused:\n{log}"
    );
}

#[test]
fn notify_brings_a_change_to_the_secondary_before_its_refresh_even_with_a_silent_one() {
    let Some(primary) = Primary::start() else {
        return;
    };
    let key = &primary.key;
    let knot = KnotSecondary::start("knot-plain", primary.coredns.ports.dns, key);
    // A secondary that never answers, listed first: it must cost nothing.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    write(
        primary.source.path(),
        "a.json",
        &vmi("default", "a", "10.10.0.1"),
    );
    let monitor = primary.monitor(&[("ZONE_LAYOUT", "single")], &[silent_port, knot.port]);
    wait_until(
        "knotd to have the first zone",
        || knot.log(),
        || (knot.answers("red.a.default.vm.example.com", "A") == ["10.10.0.1"]).then_some(()),
    );
    wait_until(
        "knotd to have the reverse zone",
        || knot.log(),
        || {
            (knot.answers("1.0.10.10.in-addr.arpa", "PTR") == ["red.a.default.vm.example.com."])
                .then_some(())
        },
    );

    // Every change: how long until CoreDNS answers it, and until knotd does.
    let mut served = Vec::new();
    let mut transferred = Vec::new();
    for round in 2..=6 {
        let address = format!("10.10.0.{round}");
        let started = Instant::now();
        write(
            primary.source.path(),
            "a.json",
            &vmi("default", "a", &address),
        );
        primary
            .coredns
            .wait_for_answer("red.a.default.vm.example.com", "A", &[&address]);
        served.push(started.elapsed());
        wait_until(
            "knotd to have the change",
            || knot.log(),
            || {
                (knot.answers("red.a.default.vm.example.com", "A") == [address.clone()])
                    .then_some(())
            },
        );
        transferred.push(started.elapsed());
    }
    served.sort();
    transferred.sort();
    eprintln!("change → CoreDNS answers: {served:?}; change → knotd answers: {transferred:?}");
    let refresh = Duration::from_secs(300);
    assert!(
        transferred[transferred.len() - 1] < refresh / 10,
        "NOTIFY, not the SOA refresh ({refresh:?}), brought every change: {transferred:?}"
    );
    assert!(
        served[served.len() / 2] < Duration::from_secs(3),
        "the silent secondary does not hold up CoreDNS: {served:?}"
    );
    let log = knot.log();
    assert!(log.contains("notify, incoming"), "{log}");
    assert!(monitor.metric("kubevirt_dns_notifies_total{result=\"accepted\"}") >= 5.0);
    // The silent one was asked too.
    silent
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buffer = [0u8; 512];
    let (length, _) = silent.recv_from(&mut buffer).unwrap();
    assert_eq!(buffer[2] & 0x78, 4 << 3, "opcode NOTIFY ({length} octets)");
}

#[test]
fn knot_following_the_catalog_adds_and_drops_namespace_zones() {
    let Some(primary) = Primary::start() else {
        return;
    };
    let knot = KnotSecondary::start("knot-catalog", primary.coredns.ports.dns, &primary.key);
    write(
        primary.source.path(),
        "a.json",
        &vmi("default", "a", "10.10.0.1"),
    );
    let _monitor = primary.monitor(
        &[("ZONE_LAYOUT", "namespace"), ("CATALOG_ZONE", CATALOG)],
        &[knot.port],
    );
    wait_until(
        "knotd to take the zones of the catalog",
        || knot.log(),
        || {
            (knot.answers("red.a.default.vm.example.com", "A") == ["10.10.0.1"]
                && knot.answers("1.0.10.10.in-addr.arpa", "PTR")
                    == ["red.a.default.vm.example.com."])
            .then_some(())
        },
    );
    for zone in [
        "vm.example.com.",
        "default.vm.example.com.",
        "10.10.in-addr.arpa.",
    ] {
        assert!(knot.has_zone(zone), "{zone}");
    }

    // A new namespace: its zone reaches knotd with no configuration change.
    let started = Instant::now();
    write(
        primary.source.path(),
        "b.json",
        &vmi("tenant", "b", "10.10.0.2"),
    );
    wait_until(
        "knotd to create the new namespace's zone",
        || knot.log(),
        || (knot.answers("red.b.tenant.vm.example.com", "A") == ["10.10.0.2"]).then_some(()),
    );
    eprintln!(
        "new namespace → knotd answers from its new zone: {:?}",
        started.elapsed()
    );
    assert!(knot.has_zone("tenant.vm.example.com."));

    // Its last VM goes: knotd drops the zone.
    fs::remove_file(primary.source.path().join("b.json")).unwrap();
    wait_until(
        "knotd to drop the gone namespace's zone",
        || knot.log(),
        || (!knot.has_zone("tenant.vm.example.com.")).then_some(()),
    );
    assert!(knot.has_zone("default.vm.example.com."), "the others stay");
    assert!(knot.answers("red.b.tenant.vm.example.com", "A").is_empty());
    assert!(
        !primary
            .zones
            .path()
            .join("db.tenant.vm.example.com")
            .exists()
    );

    // CoreDNS may log that it could not reopen the removed zone's file (its
    // per-zone reload races `auto`'s walk; docs/operating.md, Troubleshooting): at most
    // that, and for that zone only.
    let Primary {
        mut coredns, zones, ..
    } = primary;
    for error in coredns.take_zone_file_errors() {
        assert!(
            error.contains("Failed to open zone \"tenant.vm.example.com.\"")
                && error.contains("no such file"),
            "{error}"
        );
    }

    // The catalog itself, as written, passes BIND's and Knot's checkers.
    common::check_zone_with_bind_and_knot(&zones.path().join(format!("db.{CATALOG}")), CATALOG);
}

#[test]
fn bind_following_the_catalog_holds_the_final_records_after_each_burst() {
    let Some(primary) = Primary::start() else {
        return;
    };
    let bind = BindSecondary::start_at(
        "127.0.0.3",
        "127.0.0.1",
        primary.coredns.ports.dns,
        "127.0.0.1",
        &primary.key,
    );
    // 20 VMs in 5 namespaces; a burst is 100 changes, 5 per VM, across all.
    let vms: Vec<(String, String)> = (0..20)
        .map(|i| (format!("ns{}", i % 5), format!("vm{i}")))
        .collect();
    let address =
        |burst: usize, step: usize, i: usize| format!("10.10.{}.{}", burst * 5 + step, i + 1);
    for (i, (ns, name)) in vms.iter().enumerate() {
        write(
            primary.source.path(),
            &format!("{name}.json"),
            &vmi(ns, name, &address(0, 0, i)),
        );
    }
    let _monitor = primary.monitor(
        &[("ZONE_LAYOUT", "namespace"), ("CATALOG_ZONE", CATALOG)],
        &[bind.port],
    );
    let holds = |burst: usize, step: usize| {
        vms.iter().enumerate().all(|(i, (ns, name))| {
            bind.answers(&format!("red.{name}.{ns}.vm.example.com"), "A")
                == [address(burst, step, i)]
        })
    };
    wait_until(
        "named to take every zone of the catalog",
        || bind.log(),
        || holds(0, 0).then_some(()),
    );

    let mut slowest = Duration::ZERO;
    for burst in 1..=20 {
        for step in 0..5 {
            for (i, (ns, name)) in vms.iter().enumerate() {
                write(
                    primary.source.path(),
                    &format!("{name}.json"),
                    &vmi(ns, name, &address(burst, step, i)),
                );
            }
        }
        let written = Instant::now();
        while !holds(burst, 4) {
            assert!(
                written.elapsed() < Duration::from_secs(10),
                "burst {burst}: named does not hold the final records 10 s after it:\n{}",
                bind.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        slowest = slowest.max(written.elapsed());
    }
    eprintln!(
        "BIND following the catalog: 20 bursts of 100 changes, the final records held at most {slowest:?} after each"
    );
}

#[test]
fn coredns_does_not_serve_without_a_readable_key() {
    let Some(binary) = common::coredns::binary() else {
        return;
    };
    let zones = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let malformed = keys.path().join("malformed.key");
    fs::write(&malformed, "kubevirt-dns-transfer hmac-sha256\n").unwrap();
    let missing = keys.path().join("missing.key");
    for key in [&missing, &malformed] {
        let corefile = adapted(
            &common::secondary::zone_transfer_corefile(),
            &[("/etc/coredns-tsig/transfer.key", key.to_str().unwrap())],
        );
        let mut coredns = CoreDns::spawn(zones.path(), &corefile, |path| {
            let mut command = std::process::Command::new(&binary);
            command.arg("-conf").arg(path);
            command
        });
        assert_eq!(coredns.wait_exit(), Some(1), "{key:?}: {}", coredns.log());
        let log = coredns.log();
        assert!(log.contains("plugin/tsig"), "{key:?}: {log}");
    }
}

#[test]
fn readme_bind_configurations_pass_named_checkconf() {
    let key = TransferKey::make();
    let dir = tempfile::tempdir().unwrap();
    for block in ["bind-catalog", "bind-plain"] {
        let config = adapted(
            &readme_block(block),
            &[
                ("/etc/bind/transfer.key", key.path().to_str().unwrap()),
                ("/var/cache/bind", dir.path().to_str().unwrap()),
            ],
        );
        let path = dir.path().join(format!("{block}.conf"));
        fs::write(&path, config).unwrap();
        let out = std::process::Command::new("named-checkconf")
            .arg(&path)
            .output()
            .expect("named-checkconf (apt-get install bind9-utils)");
        assert!(
            out.status.success(),
            "{block}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A typo is caught: the check is real.
    let broken = dir.path().join("broken.conf");
    fs::write(
        &broken,
        readme_block("bind-plain").replace("type secondary;", "type secundary;"),
    )
    .unwrap();
    assert!(
        !std::process::Command::new("named-checkconf")
            .arg(&broken)
            .output()
            .unwrap()
            .status
            .success()
    );
}

/// Benchmark (`make bench-e2e`; BENCHMARKS.md "A secondary that does not
/// answer"): change → CoreDNS answer with a silent secondary, when CoreDNS
/// sends NOTIFY itself (`transfer { to * ADDRESS }`) and when status-monitor
/// does (the shipped component), for 5 and 20 namespace zones: three changes
/// of one zone, then a new namespace's zone.
#[test]
#[ignore = "benchmark: make bench-e2e"]
fn bench_change_to_answer_with_a_silent_secondary() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    for namespaces in [5, 20] {
        for notifier in ["coredns", "status-monitor"] {
            let source = tempfile::tempdir().unwrap();
            let zones = tempfile::tempdir().unwrap();
            let key = TransferKey::make();
            let own_notify = format!("to * {silent_address}");
            let replacements: &[(&str, &str)] = if notifier == "coredns" {
                &[("to *", &own_notify)]
            } else {
                &[]
            };
            let Some(mut coredns) =
                common::secondary::serve_transfers_with(zones.path(), &key, replacements)
            else {
                return;
            };
            for n in 0..namespaces {
                let address = format!("10.10.1.{n}");
                write(
                    source.path(),
                    &format!("{n}.json"),
                    &vmi(&format!("ns-{n}"), "a", &address),
                );
            }
            let local = format!("127.0.0.1:{}", coredns.ports.dns);
            let notify = if notifier == "status-monitor" {
                silent_address.as_str()
            } else {
                ""
            };
            let _monitor = Monitor::spawn(
                zones.path(),
                &[
                    ("ZONE_LAYOUT", "namespace"),
                    ("NOTIFY_SECONDARIES", notify),
                    ("LOCAL_DNS_ADDR", &local),
                ],
                &[OsStr::new("--source-dir"), source.path().as_os_str()],
            );
            let last = format!("red.a.ns-{}.vm.example.com", namespaces - 1);
            let first_answer = wait_long(&coredns, &last, &format!("10.10.1.{}", namespaces - 1));
            let mut changes = Vec::new();
            for round in 0..3 {
                let address = format!("10.10.2.{round}");
                write(source.path(), "0.json", &vmi("ns-0", "a", &address));
                changes.push(wait_long(&coredns, "red.a.ns-0.vm.example.com", &address));
            }
            // A new namespace: its zone is new to CoreDNS's `auto` walk.
            write(source.path(), "new.json", &vmi("ns-new", "a", "10.10.3.1"));
            let new_zone = wait_long(&coredns, "red.a.ns-new.vm.example.com", "10.10.3.1");
            eprintln!(
                "BENCH silent secondary, NOTIFY by {notifier}, {namespaces} namespace zones: \
                 first answer for the last zone {first_answer:?}, change → answer {changes:?}, \
                 new namespace → answer {new_zone:?}"
            );
            // CoreDNS warns of each NOTIFY it sent in vain; nothing else.
            for warning in coredns.take_zone_file_errors() {
                assert!(warning.contains("was not accepted by"), "{warning}");
            }
        }
    }
}

/// How long until CoreDNS answers `name` with `address`, up to ten minutes.
fn wait_long(coredns: &CoreDns, name: &str, address: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(600) {
        if coredns.answers(name, "A") == [address] {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("CoreDNS did not answer {name} with {address} in ten minutes");
}
