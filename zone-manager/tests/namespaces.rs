//! `ZoneLayout::Namespace`: a zone per namespace, delegated from the parent
//! `vm.<DOMAIN>`, with the forward zone's guarantees for every file, and the
//! lifecycle of namespace zones as namespaces come and go.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ParsedZone, fleet, settings, vm};
use tempfile::TempDir;
use zone_manager::{Published, ZoneLayout, ZoneManager, ZoneSettings};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn example() -> ZoneSettings {
    settings("example.com", Some("192.0.2.53"))
}

fn open(dir: &Path, layout: ZoneLayout) -> ZoneManager {
    ZoneManager::open_with(example(), layout, &[], dir).unwrap()
}

/// The fleet published once at serial 1000 with `layout`, in a new directory.
fn published_fleet(layout: ZoneLayout) -> (TempDir, ZoneManager) {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), layout);
    manager.replace_all(fleet());
    manager.publish_all(at(1_000)).unwrap();
    (dir, manager)
}

/// Every file in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every record (but SOA and NS) of every zone file in `dir`, by absolute
/// name and type: what a resolver can get, whichever file holds it.
fn answers(dir: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut all = BTreeMap::new();
    for name in files(dir) {
        let origin = format!("{}.", name.strip_prefix("db.").unwrap());
        let zone = ParsedZone::parse(&fs::read_to_string(dir.join(&name)).unwrap(), &origin);
        for ((owner, rtype), datas) in zone.rrsets {
            if rtype != "SOA" && rtype != "NS" {
                all.entry((owner, rtype))
                    .or_insert_with(Vec::new)
                    .extend(datas);
            }
        }
    }
    all
}

fn text(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn each_namespace_gets_a_zone_delegated_from_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all(fleet());
    let publication = manager.publish_all(at(1_000)).unwrap();
    assert_eq!(
        files(dir.path()),
        [
            "db.default.vm.example.com",
            "db.other.vm.example.com",
            "db.vm.example.com"
        ]
    );
    assert_eq!(manager.zone_file_count(), 3);
    let origins: Vec<String> = publication
        .namespaces
        .iter()
        .map(|(o, _)| o.to_string())
        .collect();
    assert_eq!(
        origins,
        ["default.vm.example.com.", "other.vm.example.com."]
    );

    let parent = ParsedZone::parse(&text(dir.path(), "db.vm.example.com"), "vm.example.com.");
    let ns = |name: &str| {
        parent
            .rrsets
            .get(&(name.to_owned(), "NS".to_owned()))
            .cloned()
    };
    assert_eq!(
        ns("vm.example.com."),
        Some(vec!["ns.vm.example.com.".to_owned()])
    );
    assert_eq!(
        ns("default.vm.example.com."),
        Some(vec!["ns.vm.example.com.".to_owned()])
    );
    assert_eq!(
        ns("other.vm.example.com."),
        Some(vec!["ns.vm.example.com.".to_owned()])
    );
    let shard = text(dir.path(), "db.default.vm.example.com");
    assert!(
        shard.contains("$ORIGIN default.vm.example.com.\n"),
        "{shard}"
    );
    assert!(shard.contains("@\tIN\tNS\tns.vm.example.com.\n"), "{shard}");
    assert!(shard.contains("net1.a\tIN\tA\t10.0.0.1\n"), "{shard}");
    assert!(
        shard.contains("\na\tIN\tA\t10.0.0.1\n"),
        "the VM name: {shard}"
    );

    // The names users query do not change.
    let single = tempfile::tempdir().unwrap();
    let mut one_zone = open(single.path(), ZoneLayout::Single);
    one_zone.replace_all(fleet());
    one_zone.publish_all(at(1_000)).unwrap();
    assert_eq!(files(single.path()), ["db.vm.example.com"]);
    assert_eq!(answers(dir.path()), answers(single.path()));
}

#[test]
fn a_change_rewrites_only_its_namespace_zone() {
    let (dir, mut manager) = published_fleet(ZoneLayout::Namespace);
    let before = text(dir.path(), "db.default.vm.example.com");

    manager.upsert(vm("other", "a", &[("net1", &["10.0.1.2"])]));
    let publication = manager.publish_all(at(1_001)).unwrap();
    assert!(matches!(publication.forward, Published::Unchanged(_)));
    let by_zone: BTreeMap<String, Published> = publication
        .namespaces
        .iter()
        .map(|(origin, outcome)| (origin.to_string(), *outcome))
        .collect();
    assert!(matches!(
        by_zone["default.vm.example.com."],
        Published::Unchanged(_)
    ));
    assert!(matches!(
        by_zone["other.vm.example.com."],
        Published::Written { serial, .. } if serial.get() == 1_001
    ));
    assert_eq!(text(dir.path(), "db.default.vm.example.com"), before);
    assert!(text(dir.path(), "db.other.vm.example.com").contains("10.0.1.2"));
}

#[test]
fn a_namespace_zone_comes_with_its_first_vm_and_goes_with_its_last() {
    let (dir, mut manager) = published_fleet(ZoneLayout::Namespace);

    manager.upsert(vm("new", "x", &[("net1", &["10.0.2.1"])]));
    let publication = manager.publish_all(at(1_001)).unwrap();
    assert!(
        matches!(publication.forward, Published::Written { .. }),
        "delegation added"
    );
    assert!(text(dir.path(), "db.vm.example.com").contains("\nnew\tIN\tNS\tns.vm.example.com.\n"));
    assert!(dir.path().join("db.new.vm.example.com").exists());

    manager.remove("other", "a");
    let publication = manager.publish_all(at(1_002)).unwrap();
    assert!(
        matches!(publication.forward, Published::Written { .. }),
        "delegation dropped"
    );
    let removed: Vec<String> = publication
        .removed
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(removed, ["other.vm.example.com."]);
    assert!(!text(dir.path(), "db.vm.example.com").contains("other"));
    assert_eq!(
        files(dir.path()),
        [
            "db.default.vm.example.com",
            "db.new.vm.example.com",
            "db.vm.example.com"
        ]
    );
    assert_eq!(manager.zone_file_count(), 3);

    // Back again: a new zone, its serial still growing.
    manager.upsert(vm("other", "a", &[("net1", &["10.0.1.1"])]));
    manager.publish_all(at(1_003)).unwrap();
    let zone = ParsedZone::parse(
        &text(dir.path(), "db.other.vm.example.com"),
        "other.vm.example.com.",
    );
    assert_eq!(zone.serial, 1_003);
}

#[test]
fn the_namespace_ns_keeps_its_records_in_the_parent_beside_the_name_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all([
        vm("ns", "a", &[("net1", &["10.0.9.1"])]),
        vm("x", "b", &[("net1", &["10.0.9.2"])]),
    ]);
    manager.publish_all(at(1_000)).unwrap();
    assert_eq!(
        files(dir.path()),
        ["db.vm.example.com", "db.x.vm.example.com"]
    );
    let parent = ParsedZone::parse(&text(dir.path(), "db.vm.example.com"), "vm.example.com.");
    let get = |name: &str, rtype: &str| {
        parent
            .rrsets
            .get(&(name.to_owned(), rtype.to_owned()))
            .cloned()
    };
    assert_eq!(
        get("ns.vm.example.com.", "A"),
        Some(vec!["192.0.2.53".to_owned()])
    );
    assert_eq!(
        get("ns.vm.example.com.", "NS"),
        None,
        "no zone cut at the name server"
    );
    assert_eq!(
        get("net1.a.ns.vm.example.com.", "A"),
        Some(vec!["10.0.9.1".to_owned()])
    );

    // A change there rewrites the parent.
    manager.upsert(vm("ns", "a", &[("net1", &["10.0.9.3"])]));
    let publication = manager.publish_all(at(1_001)).unwrap();
    assert!(matches!(publication.forward, Published::Written { .. }));
}

#[test]
fn without_a_name_server_there_is_nothing_to_delegate_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = ZoneManager::open_with(
        settings("example.com", None),
        ZoneLayout::Namespace,
        &[],
        dir.path(),
    )
    .unwrap();
    manager.replace_all(fleet());
    manager.publish_all(at(1_000)).unwrap();
    let parent = text(dir.path(), "db.vm.example.com");
    assert!(!parent.contains("\tNS\t"), "{parent}");
    assert!(!text(dir.path(), "db.default.vm.example.com").contains("\tNS\t"));
}

#[test]
fn a_restart_adopts_every_zone_and_removes_those_of_namespaces_that_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = open(dir.path(), ZoneLayout::Namespace);
    first.replace_all(fleet());
    first.publish_all(at(1_000)).unwrap();
    drop(first);
    fs::write(dir.path().join("notes.txt"), "not ours").unwrap();
    fs::write(dir.path().join("db.vm.example.org"), "not ours either").unwrap();

    let mut second = open(dir.path(), ZoneLayout::Namespace);
    second.replace_all(
        fleet()
            .into_iter()
            .filter(|vm| vm.namespace().as_str() == "default"),
    );
    let publication = second.publish_all(at(2_000)).unwrap();
    assert!(matches!(publication.namespaces[..], [(_, Published::Adopted(s))] if s.get() == 1_000));
    assert!(
        matches!(publication.forward, Published::Written { serial, .. } if serial.get() == 2_000)
    );
    let removed: Vec<String> = publication
        .removed
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(removed, ["other.vm.example.com."]);
    assert_eq!(
        files(dir.path()),
        [
            "db.default.vm.example.com",
            "db.vm.example.com",
            "db.vm.example.org",
            "notes.txt"
        ]
    );
}

#[test]
fn switching_to_single_removes_the_namespace_zones() {
    let dir = tempfile::tempdir().unwrap();
    let mut sharded = open(dir.path(), ZoneLayout::Namespace);
    sharded.replace_all(fleet());
    sharded.publish_all(at(1_000)).unwrap();
    drop(sharded);

    let mut single = open(dir.path(), ZoneLayout::Single);
    single.replace_all(fleet());
    let publication = single.publish_all(at(1_001)).unwrap();
    assert_eq!(publication.removed.len(), 2);
    assert_eq!(files(dir.path()), ["db.vm.example.com"]);
    assert!(text(dir.path(), "db.vm.example.com").contains("net1.a.other\tIN\tA\t10.0.1.1"));
}

#[test]
fn the_same_records_in_any_order_give_the_same_files() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut forward = open(one.path(), ZoneLayout::Namespace);
    forward.replace_all(fleet());
    forward.publish_all(at(1_000)).unwrap();
    let mut backward = open(two.path(), ZoneLayout::Namespace);
    for vm in fleet().into_iter().rev() {
        backward.upsert(vm);
    }
    backward.publish_all(at(1_000)).unwrap();
    for file in files(one.path()) {
        assert_eq!(text(one.path(), &file), text(two.path(), &file), "{file}");
    }
}

#[test]
fn a_removed_namespace_zone_is_noticed_and_written_again() {
    let (dir, mut manager) = published_fleet(ZoneLayout::Namespace);
    assert!(manager.on_disk_is_current().unwrap());
    fs::remove_file(dir.path().join("db.other.vm.example.com")).unwrap();
    assert!(!manager.on_disk_is_current().unwrap());
    manager.forget_on_disk();
    manager.publish_all(at(1_001)).unwrap();
    let zone = ParsedZone::parse(
        &text(dir.path(), "db.other.vm.example.com"),
        "other.vm.example.com.",
    );
    assert_eq!(zone.serial, 1_001);
}

#[test]
fn with_a_limit_only_the_largest_namespaces_get_zones_and_names_do_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager =
        open(dir.path(), ZoneLayout::Namespace).with_namespace_zone_limit(NonZeroUsize::new(1));
    // default has two VMs, other one: only default gets a zone.
    manager.replace_all(fleet());
    manager.publish_all(at(1_000)).unwrap();
    assert_eq!(
        files(dir.path()),
        ["db.default.vm.example.com", "db.vm.example.com"]
    );
    let parent = text(dir.path(), "db.vm.example.com");
    assert!(
        parent.contains("\ndefault\tIN\tNS\tns.vm.example.com.\n"),
        "{parent}"
    );
    assert!(!parent.contains("\nother\tIN\tNS\t"), "{parent}");
    assert!(
        parent.contains("\nnet1.a.other\tIN\tA\t10.0.1.1\n"),
        "{parent}"
    );
    let (single_dir, _) = published_fleet(ZoneLayout::Single);
    assert_eq!(answers(dir.path()), answers(single_dir.path()));

    // other grows past default: it takes the zone, default moves to the parent
    // (written first), and default's zone file goes.
    manager.upsert(vm("other", "b", &[("net1", &["10.0.1.2"])]));
    manager.upsert(vm("other", "c", &[("net1", &["10.0.1.3"])]));
    let publication = manager.publish_all(at(1_001)).unwrap();
    let removed: Vec<String> = publication
        .removed
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(removed, ["default.vm.example.com."]);
    assert_eq!(
        files(dir.path()),
        ["db.other.vm.example.com", "db.vm.example.com"]
    );
    let parent = text(dir.path(), "db.vm.example.com");
    assert!(
        parent.contains("\nother\tIN\tNS\tns.vm.example.com.\n"),
        "{parent}"
    );
    assert!(
        parent.contains("\nnet1.a.default\tIN\tA\t10.0.0.1\n"),
        "{parent}"
    );
    assert!(text(dir.path(), "db.other.vm.example.com").contains("net1.c\tIN\tA\t10.0.1.3\n"));
    assert_eq!(manager.zone_file_count(), 2);
}

#[test]
fn replicas_with_the_same_records_split_them_the_same_way() {
    let grow = |order: &[usize]| {
        let dir = tempfile::tempdir().unwrap();
        let mut manager =
            open(dir.path(), ZoneLayout::Namespace).with_namespace_zone_limit(NonZeroUsize::new(2));
        let vms = [
            vm("a", "x", &[("net1", &["10.0.0.1"])]),
            vm("b", "x", &[("net1", &["10.0.0.2"])]),
            vm("c", "x", &[("net1", &["10.0.0.3"])]),
            vm("c", "y", &[("net1", &["10.0.0.4"])]),
        ];
        for (step, &index) in order.iter().enumerate() {
            manager.upsert(vms[index].clone());
            manager.publish_all(at(1_000 + step as u64)).unwrap();
        }
        (files(dir.path()), text(dir.path(), "db.vm.example.com"))
    };
    let (files_one, parent_one) = grow(&[0, 1, 2, 3]);
    let (files_two, parent_two) = grow(&[3, 2, 1, 0]);
    // c has the most VMs; a and b tie and a comes first.
    assert_eq!(
        files_one,
        [
            "db.a.vm.example.com",
            "db.c.vm.example.com",
            "db.vm.example.com"
        ]
    );
    assert_eq!(files_one, files_two);
    // The parents hold the same records; only their serials may differ.
    let records = |text: &str| {
        let mut zone = ParsedZone::parse(text, "vm.example.com.");
        zone.rrsets.retain(|(owner, rtype), _| {
            (owner.as_str(), rtype.as_str()) != ("vm.example.com.", "SOA")
        });
        (zone.rrsets, zone.ttls)
    };
    assert_eq!(records(&parent_one), records(&parent_two));
}
