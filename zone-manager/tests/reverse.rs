//! Reverse zones: one PTR zone per REVERSE_ZONES prefix, published with the same
//! guarantees as the forward zone, every file read back by a real parser.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{ParsedZone, settings, vm};
use hickory_proto::rr::Name;
use zone_manager::{Published, ReversePrefix, ZoneLayout, ZoneManager};

const V4_ZONE: &str = "10.10.in-addr.arpa.";
const V6_ZONE: &str = "0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa.";

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn prefixes() -> Vec<ReversePrefix> {
    ReversePrefix::parse_list("10.10.0.0/16,fd00:10::/64").unwrap()
}

fn open(dir: &Path) -> ZoneManager {
    ZoneManager::open_with(
        settings("example.com", Some("192.0.2.53")),
        ZoneLayout::Single,
        &prefixes(),
        dir,
    )
    .unwrap()
}

fn read(dir: &Path, origin: &str) -> ParsedZone {
    let file = dir.join(format!("db.{}", origin.trim_end_matches('.')));
    ParsedZone::parse(&std::fs::read_to_string(&file).unwrap(), origin)
}

/// The reverse name of `address` as hickory-proto computes it, independently of us.
fn ptr_name(address: &str) -> String {
    Name::from(address.parse::<IpAddr>().unwrap()).to_ascii()
}

#[test]
fn each_address_inside_a_prefix_gets_a_ptr_to_its_interface() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = open(dir.path());
    zone.upsert(vm(
        "tenant",
        "web",
        &[
            ("red", &["10.10.1.5", "192.0.2.10"]),
            ("blue", &["fd00:10::5", "fd00:99::5"]),
        ],
    ));
    let publication = zone.publish_all(at(1_800_000_000)).unwrap();
    assert!(matches!(publication.forward, Published::Written { .. }));
    let origins: Vec<String> = publication
        .reverse
        .iter()
        .map(|(origin, _)| origin.to_string())
        .collect();
    assert_eq!(origins, [V4_ZONE, V6_ZONE]);

    let v4 = read(dir.path(), V4_ZONE);
    assert_eq!(
        v4.get(&ptr_name("10.10.1.5"), "PTR"),
        ["red.web.tenant.vm.example.com."]
    );
    let v6 = read(dir.path(), V6_ZONE);
    assert_eq!(
        v6.get(&ptr_name("fd00:10::5"), "PTR"),
        ["blue.web.tenant.vm.example.com."]
    );
    // Outside every prefix: no PTR anywhere.
    let all_ptrs: usize = [&v4, &v6]
        .iter()
        .flat_map(|z| z.rrsets.keys())
        .filter(|(_, t)| t == "PTR")
        .count();
    assert_eq!(all_ptrs, 2);
    // SOA and NS like the forward zone; the name server's address lives there.
    for parsed in [&v4, &v6] {
        assert_eq!(parsed.get(&parsed.origin, "NS"), ["ns.vm.example.com."]);
        let soa = parsed.get(&parsed.origin, "SOA");
        assert!(soa[0].starts_with("ns.vm.example.com. hostmaster.vm.example.com. "));
    }
    assert_eq!(
        zone.ptr_counts()
            .map(|(o, n)| (o.to_string(), n))
            .collect::<Vec<_>>(),
        [(V4_ZONE.to_owned(), 1), (V6_ZONE.to_owned(), 1)]
    );
}

#[test]
fn two_interfaces_with_one_address_give_both_ptrs_in_the_same_order_every_time() {
    let shared = [
        vm("b-ns", "vm1", &[("net1", &["10.10.0.7"])]),
        vm(
            "a-ns",
            "vm2",
            &[("net2", &["10.10.0.7"]), ("net1", &["10.10.0.7"])],
        ),
        vm("a-ns", "vm0", &[("net1", &["10.10.0.8"])]),
    ];
    let mut files = Vec::new();
    for order in [[0, 1, 2], [2, 1, 0]] {
        let dir = tempfile::tempdir().unwrap();
        let mut zone = open(dir.path());
        for i in order {
            zone.upsert(shared[i].clone());
        }
        zone.publish_all(at(1_800_000_000)).unwrap();
        let text = std::fs::read_to_string(dir.path().join("db.10.10.in-addr.arpa")).unwrap();
        assert_eq!(
            read(dir.path(), V4_ZONE).get(&ptr_name("10.10.0.7"), "PTR"),
            [
                "net1.vm1.b-ns.vm.example.com.",
                "net1.vm2.a-ns.vm.example.com.",
                "net2.vm2.a-ns.vm.example.com."
            ]
        );
        files.push(text);
    }
    assert_eq!(
        files[0], files[1],
        "byte-identical whatever the order of arrival"
    );
    let lines: Vec<&str> = files[0].lines().filter(|l| l.contains("PTR")).collect();
    assert_eq!(
        lines,
        [
            "7.0\tIN\tPTR\tnet1.vm2.a-ns.vm.example.com.",
            "7.0\tIN\tPTR\tnet2.vm2.a-ns.vm.example.com.",
            "7.0\tIN\tPTR\tnet1.vm1.b-ns.vm.example.com.",
            "8.0\tIN\tPTR\tnet1.vm0.a-ns.vm.example.com.",
        ]
    );
}

#[test]
fn only_the_zones_whose_records_changed_get_a_new_serial() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = open(dir.path());
    zone.upsert(vm("t", "a", &[("red", &["10.10.0.1", "fd00:10::1"])]));
    let first = zone.publish_all(at(1_800_000_000)).unwrap();
    assert!(first.wrote());

    // A change outside every prefix touches the forward zone only.
    zone.upsert(vm(
        "t",
        "a",
        &[
            ("red", &["10.10.0.1", "fd00:10::1"]),
            ("green", &["192.0.2.1"]),
        ],
    ));
    let second = zone.publish_all(at(1_800_000_001)).unwrap();
    assert!(matches!(second.forward, Published::Written { .. }));
    assert_eq!(
        second.reverse.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        first
            .reverse
            .iter()
            .map(|(_, p)| Published::Unchanged(p.serial()))
            .collect::<Vec<_>>()
    );

    // An IPv4 change inside 10.10/16: that zone only, with a greater serial.
    zone.upsert(vm(
        "t",
        "a",
        &[
            ("red", &["10.10.0.2", "fd00:10::1"]),
            ("green", &["192.0.2.1"]),
        ],
    ));
    let third = zone.publish_all(at(1_800_000_001)).unwrap();
    let (v4_before, v4_after) = (first.reverse[0].1.serial(), third.reverse[0].1.serial());
    assert!(matches!(third.reverse[0].1, Published::Written { .. }));
    assert!(v4_after.is_after(v4_before));
    assert_eq!(read(dir.path(), V4_ZONE).serial, v4_after.get());
    assert_eq!(
        third.reverse[1].1,
        Published::Unchanged(first.reverse[1].1.serial())
    );
    assert!(
        read(dir.path(), V4_ZONE)
            .get(&ptr_name("10.10.0.1"), "PTR")
            .is_empty()
    );

    // Gone: the PTR goes with the VM; the zone stays, with SOA and NS.
    zone.remove("t", "a");
    zone.publish_all(at(1_800_000_002)).unwrap();
    let v4 = read(dir.path(), V4_ZONE);
    assert!(v4.rrsets.keys().all(|(_, t)| t == "SOA" || t == "NS"));
}

#[test]
fn a_restart_with_the_same_records_adopts_every_zone_and_its_serial() {
    let dir = tempfile::tempdir().unwrap();
    let records = vm("t", "a", &[("red", &["10.10.0.1", "fd00:10::1"])]);
    let mut zone = open(dir.path());
    zone.upsert(records.clone());
    let before = zone.publish_all(at(1_800_000_000)).unwrap();

    let mut restarted = open(dir.path());
    restarted.upsert(records);
    let after = restarted.publish_all(at(1_800_000_100)).unwrap();
    assert_eq!(after.forward, Published::Adopted(before.forward.serial()));
    for ((_, b), (_, a)) in before.reverse.iter().zip(&after.reverse) {
        assert_eq!(*a, Published::Adopted(b.serial()));
    }

    // A different set after the restart: new serials above the old ones.
    let mut changed = open(dir.path());
    changed.upsert(vm("t", "a", &[("red", &["10.10.0.9"])]));
    let next = changed.publish_all(at(1_700_000_000)).unwrap();
    assert!(
        next.reverse[0]
            .1
            .serial()
            .is_after(before.reverse[0].1.serial())
    );
}

#[test]
fn a_removed_reverse_zone_file_is_noticed_and_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = open(dir.path());
    zone.upsert(vm("t", "a", &[("red", &["10.10.0.1"])]));
    zone.publish_all(at(1_800_000_000)).unwrap();
    assert!(zone.on_disk_is_current().unwrap());
    std::fs::remove_file(dir.path().join("db.10.10.in-addr.arpa")).unwrap();
    assert!(!zone.on_disk_is_current().unwrap());
    zone.forget_on_disk();
    zone.publish_all(at(1_800_000_001)).unwrap();
    assert_eq!(
        read(dir.path(), V4_ZONE).get(&ptr_name("10.10.0.1"), "PTR"),
        ["red.a.t.vm.example.com."]
    );
}

#[test]
fn an_address_goes_to_the_most_specific_of_nested_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let nested = ReversePrefix::parse_list("10.0.0.0/8,10.10.0.0/16").unwrap();
    let mut zone = ZoneManager::open_with(
        settings("example.com", Some("192.0.2.53")),
        ZoneLayout::Single,
        &nested,
        dir.path(),
    )
    .unwrap();
    zone.upsert(vm("t", "a", &[("red", &["10.10.0.1", "10.20.0.1"])]));
    zone.publish_all(at(1_800_000_000)).unwrap();
    let wide = read(dir.path(), "10.in-addr.arpa.");
    let narrow = read(dir.path(), V4_ZONE);
    assert_eq!(
        wide.get(&ptr_name("10.20.0.1"), "PTR"),
        ["red.a.t.vm.example.com."]
    );
    assert!(wide.get(&ptr_name("10.10.0.1"), "PTR").is_empty());
    assert_eq!(
        narrow.get(&ptr_name("10.10.0.1"), "PTR"),
        ["red.a.t.vm.example.com."]
    );
}
