//! The RFC 9432 catalog zone (`with_catalog`): one PTR per zone file written,
//! members added once their file is on disk and dropped before it goes, with
//! every other zone's guarantees (a new serial only for a new member set,
//! adoption at restart).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ParsedZone, fleet, settings, vm};
use zone_manager::{Origin, Published, ReversePrefix, ZoneLayout, ZoneManager, member_id};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const CATALOG: &str = "catalog.example.com.";

fn open(dir: &Path, layout: ZoneLayout) -> ZoneManager {
    let prefixes = ReversePrefix::parse_list("10.0.0.0/16").unwrap();
    ZoneManager::open_with(
        settings("example.com", Some("192.0.2.53")),
        layout,
        &prefixes,
        dir,
    )
    .unwrap()
    .with_catalog(Origin::parse(CATALOG).unwrap())
}

fn catalog(dir: &Path) -> ParsedZone {
    let text = fs::read_to_string(dir.join("db.catalog.example.com")).unwrap();
    ParsedZone::parse(&text, CATALOG)
}

/// The member zones the catalog lists, by name, each checked to sit at
/// `<member_id(name)>.zones`.
fn members(zone: &ParsedZone) -> Vec<String> {
    let mut members = Vec::new();
    for ((owner, rtype), datas) in &zone.rrsets {
        if rtype != "PTR" {
            continue;
        }
        assert_eq!(datas.len(), 1, "one PTR per member id: {owner}");
        let member = &datas[0];
        let id = member_id(&Origin::parse(member).unwrap());
        assert_eq!(owner, &format!("{id}.zones.{CATALOG}"), "{member}");
        members.push(member.clone());
    }
    members.sort();
    members
}

#[test]
fn the_catalog_lists_every_zone_written_with_schema_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all(fleet());
    let publication = manager.publish_all(at(1_000)).unwrap();
    assert_eq!(
        publication.catalog,
        Some((
            Origin::parse(CATALOG).unwrap(),
            Published::Written {
                serial: zone_manager::Serial::new(1_000),
                bytes: fs::metadata(dir.path().join("db.catalog.example.com"))
                    .unwrap()
                    .len() as usize
            }
        ))
    );
    let zone = catalog(dir.path());
    assert_eq!(zone.serial, 1_000);
    assert_eq!(zone.rrsets[&(CATALOG.into(), "NS".into())], ["invalid."]);
    assert_eq!(
        zone.rrsets[&(format!("version.{CATALOG}"), "TXT".into())],
        ["2"]
    );
    assert_eq!(
        members(&zone),
        [
            "0.10.in-addr.arpa.",
            "default.vm.example.com.",
            "other.vm.example.com.",
            "vm.example.com.",
        ]
    );
    // Every member is a file in the directory, and every zone file a member.
    let mut files: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "db.catalog.example.com")
        .map(|name| format!("{}.", name.strip_prefix("db.").unwrap()))
        .collect();
    files.sort();
    assert_eq!(members(&zone), files);
    assert_eq!(manager.zone_file_count(), 5);
}

#[test]
fn members_follow_namespaces_and_only_a_new_member_set_gets_a_new_serial() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all(fleet());
    manager.publish_all(at(1_000)).unwrap();

    // New records in an existing namespace: the catalog stays as it is.
    manager.upsert(vm("default", "c", &[("net1", &["10.0.0.3"])]));
    let publication = manager.publish_all(at(1_010)).unwrap();
    assert!(matches!(
        publication.catalog,
        Some((_, Published::Unchanged(_)))
    ));
    assert_eq!(catalog(dir.path()).serial, 1_000);

    // A new namespace: its zone is a member, with a new catalog serial.
    manager.upsert(vm("tenant", "a", &[("net1", &["10.0.9.1"])]));
    manager.publish_all(at(1_020)).unwrap();
    let zone = catalog(dir.path());
    assert_eq!(zone.serial, 1_020);
    assert!(members(&zone).contains(&"tenant.vm.example.com.".to_owned()));

    // Its last VM goes: the member and the file go, the serial grows.
    manager.remove("tenant", "a");
    let publication = manager.publish_all(at(1_020)).unwrap();
    let zone = catalog(dir.path());
    assert_eq!(zone.serial, 1_021, "grows even within the same second");
    assert!(!members(&zone).contains(&"tenant.vm.example.com.".to_owned()));
    assert_eq!(
        publication.removed,
        [Origin::parse("tenant.vm.example.com").unwrap()]
    );
    assert!(!dir.path().join("db.tenant.vm.example.com").exists());
}

#[test]
fn a_restart_adopts_the_catalog_and_a_switch_to_one_zone_shrinks_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all(fleet());
    manager.publish_all(at(1_000)).unwrap();
    let before = fs::read(dir.path().join("db.catalog.example.com")).unwrap();
    drop(manager);

    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all(fleet());
    let publication = manager.publish_all(at(2_000)).unwrap();
    assert_eq!(
        publication.catalog.unwrap().1,
        Published::Adopted(zone_manager::Serial::new(1_000))
    );
    assert_eq!(
        fs::read(dir.path().join("db.catalog.example.com")).unwrap(),
        before
    );
    drop(manager);

    // One zone: the namespace zones leave the catalog and the directory.
    let mut manager = open(dir.path(), ZoneLayout::Single);
    manager.replace_all(fleet());
    manager.publish_all(at(3_000)).unwrap();
    let zone = catalog(dir.path());
    assert_eq!(zone.serial, 3_000);
    assert_eq!(members(&zone), ["0.10.in-addr.arpa.", "vm.example.com."]);
    assert!(!dir.path().join("db.default.vm.example.com").exists());
}

#[test]
fn a_removed_catalog_file_is_noticed_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = open(dir.path(), ZoneLayout::Namespace);
    manager.replace_all(fleet());
    manager.publish_all(at(1_000)).unwrap();
    fs::remove_file(dir.path().join("db.catalog.example.com")).unwrap();
    assert!(!manager.on_disk_is_current().unwrap());
    manager.forget_on_disk();
    manager.publish_all(at(1_000)).unwrap();
    assert_eq!(catalog(dir.path()).serial, 1_001);
    assert!(manager.on_disk_is_current().unwrap());
}
