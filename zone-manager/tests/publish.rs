//! Publishing: serials, no-op writes, restarts and the atomic-write failure path,
//! on a real filesystem.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ParsedZone, fleet, settings, vm};
use zone_manager::{
    Published, Serial, TEMP_PREFIX, VmAddresses, ZoneFileError, ZoneManager, ZoneSettings, ZonesDir,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn example() -> ZoneSettings {
    settings("example.com", Some("192.0.2.53"))
}

fn zone_path(dir: &Path) -> std::path::PathBuf {
    dir.join("db.vm.example.com")
}

/// Every file in `dir` but the zone: there must be none.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "db.vm.example.com")
        .collect()
}

#[test]
fn writes_the_zone_file_named_after_the_origin_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet());
    let outcome = zone.publish_all(at(1_800_000_000)).unwrap().forward;
    assert!(matches!(outcome, Published::Written { .. }));
    let path = zone_path(dir.path());
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "CoreDNS runs as another user and must read it");
    let parsed = ParsedZone::parse(&fs::read_to_string(&path).unwrap(), "vm.example.com.");
    assert_eq!(parsed.serial, 1_800_000_000);
    assert_eq!(
        parsed.get("net1.a.other.vm.example.com.", "AAAA"),
        ["fd00:1::1"]
    );
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn same_records_in_any_order_give_byte_identical_zones() {
    let mut outputs = Vec::new();
    let orders: [&[usize]; 3] = [&[0, 1, 2], &[2, 1, 0], &[1, 2, 0]];
    for order in orders {
        let dir = tempfile::tempdir().unwrap();
        let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
        let vms = fleet();
        for &i in order {
            zone.upsert(vms[i].clone());
        }
        zone.publish_all(at(1_800_000_000)).unwrap();
        outputs.push(fs::read(zone_path(dir.path())).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn records_are_sorted_by_owner_then_type_then_address() {
    let vms = [
        vm(
            "b",
            "x",
            &[("n1", &["fd00::2", "10.0.0.10", "fd00::1", "10.0.0.9"])],
        ),
        vm("a", "y", &[("n2", &["10.0.0.1"]), ("n1", &["10.0.0.2"])]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(settings("", None), dir.path()).unwrap();
    for vm in vms {
        zone.upsert(vm);
    }
    zone.publish_all(at(1_800_000_000)).unwrap();
    let text = fs::read_to_string(dir.path().join("db.vm")).unwrap();
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with('@'))
        .skip(1)
        .collect();
    assert_eq!(
        body,
        [
            "y.a\tIN\tA\t10.0.0.2",
            "n1.y.a\tIN\tA\t10.0.0.2",
            "n2.y.a\tIN\tA\t10.0.0.1",
            "x.b\tIN\tA\t10.0.0.9",
            "x.b\tIN\tA\t10.0.0.10",
            "x.b\tIN\tAAAA\tfd00::1",
            "x.b\tIN\tAAAA\tfd00::2",
            "n1.x.b\tIN\tA\t10.0.0.9",
            "n1.x.b\tIN\tA\t10.0.0.10",
            "n1.x.b\tIN\tAAAA\tfd00::1",
            "n1.x.b\tIN\tAAAA\tfd00::2",
        ]
    );
}

#[test]
fn no_change_of_records_means_no_write_and_no_new_serial() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet());
    let first = zone
        .publish_all(at(1_800_000_000))
        .unwrap()
        .forward
        .serial();
    let inode = fs::metadata(zone_path(dir.path())).unwrap().ino();

    // The same VMs again, with interfaces listed in another order.
    let changed = zone.upsert(vm(
        "default",
        "a",
        &[("net2", &["fd00::1"]), ("net1", &["10.0.0.1"])],
    ));
    assert!(!changed, "reordered interfaces are the same VM");
    assert!(!zone.replace_all(fleet().into_iter().rev()));
    // A change that is undone before publishing is no change either.
    zone.upsert(vm("default", "b", &[("net1", &["10.9.9.9"])]));
    zone.upsert(vm("default", "b", &[("net1", &["10.0.0.2"])]));

    assert_eq!(
        zone.publish_all(at(1_800_000_100)).unwrap().forward,
        Published::Unchanged(first)
    );
    assert_eq!(
        fs::metadata(zone_path(dir.path())).unwrap().ino(),
        inode,
        "file was rewritten"
    );
}

#[test]
fn every_change_gets_a_greater_serial_even_within_one_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    let mut previous = zone
        .publish_all(at(1_800_000_000))
        .unwrap()
        .forward
        .serial();
    for i in 1..=5u8 {
        zone.upsert(vm("default", "a", &[("net1", &[&format!("10.0.0.{i}")])]));
        let serial = zone
            .publish_all(at(1_800_000_000))
            .unwrap()
            .forward
            .serial();
        assert!(serial.is_after(previous), "{serial:?} after {previous:?}");
        let on_disk = ParsedZone::parse(
            &fs::read_to_string(zone_path(dir.path())).unwrap(),
            "vm.example.com.",
        );
        assert_eq!(on_disk.serial, serial.get());
        previous = serial;
    }
    assert_eq!(previous.get(), 1_800_000_005);
}

#[test]
fn removing_a_vm_removes_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet());
    zone.publish_all(at(1_800_000_000)).unwrap();
    assert!(zone.remove("default", "a"));
    assert!(!zone.remove("default", "a"));
    assert!(!zone.remove("nowhere", "a"));
    zone.publish_all(at(1_800_000_001)).unwrap();
    let parsed = ParsedZone::parse(
        &fs::read_to_string(zone_path(dir.path())).unwrap(),
        "vm.example.com.",
    );
    assert!(
        parsed
            .address_owners()
            .iter()
            .all(|n| !n.ends_with("a.default.vm.example.com."))
    );
    assert_eq!(parsed.get("b.default.vm.example.com.", "A"), ["10.0.0.2"]);
    // A VM whose last address goes away leaves the zone too.
    assert!(zone.upsert(vm("default", "b", &[("net1", &["fe80::1"])])));
    assert_eq!(zone.vm_count(), 1);
}

#[test]
fn restart_with_the_same_records_keeps_file_and_serial() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
        zone.replace_all(fleet());
        zone.publish_all(at(1_800_000_000))
            .unwrap()
            .forward
            .serial()
    };
    let inode = fs::metadata(zone_path(dir.path())).unwrap().ino();

    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    // The serial read back at startup: the same records are adopted with it.
    zone.replace_all(fleet());
    assert_eq!(
        zone.publish_all(at(1_800_009_999)).unwrap().forward,
        Published::Adopted(first)
    );
    assert_eq!(fs::metadata(zone_path(dir.path())).unwrap().ino(), inode);
}

#[test]
fn restart_keeps_the_serial_growing_even_when_the_clock_went_back() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
        zone.replace_all(fleet());
        zone.publish_all(at(1_800_000_000))
            .unwrap()
            .forward
            .serial()
    };
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet().into_iter().skip(1));
    let second = zone
        .publish_all(at(1_700_000_000))
        .unwrap()
        .forward
        .serial();
    assert_eq!(second, Serial::new(first.get() + 1));
}

#[test]
fn an_unreadable_previous_zone_is_replaced_and_the_serial_comes_from_the_clock() {
    for garbage in [
        "",
        "garbage ( ;\n",
        "$ORIGIN other.org.\n@ 30 IN SOA a. b. 7 1 1 1 1\n",
        "@ IN A 1.2.3.4\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(zone_path(dir.path()), garbage).unwrap();
        let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
        zone.replace_all(fleet());
        let serial = zone
            .publish_all(at(1_800_000_000))
            .unwrap()
            .forward
            .serial();
        assert_eq!(serial.get(), 1_800_000_000, "{garbage:?}");
        ParsedZone::parse(
            &fs::read_to_string(zone_path(dir.path())).unwrap(),
            "vm.example.com.",
        );
    }
}

#[test]
fn stale_temporaries_from_a_crash_are_removed_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(format!("{TEMP_PREFIX}a1B2c3"));
    fs::write(&stale, "half a zone").unwrap();
    let unrelated = dir.path().join("db.other.zone");
    fs::write(&unrelated, "not ours").unwrap();
    ZoneManager::open(example(), dir.path()).unwrap();
    assert!(!stale.exists());
    assert!(unrelated.exists(), "files that are not ours are left alone");
}

/// The names of every entry created in `dir` while `act` runs, seen by inotify
/// (a listing could miss a temporary file that lives for microseconds).
fn names_created_in(dir: &Path, act: impl FnOnce()) -> Vec<String> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx).unwrap();
    watcher.watch(dir, RecursiveMode::Recursive).unwrap();
    act();
    std::thread::sleep(Duration::from_millis(200));
    drop(watcher);
    let mut names: Vec<String> = rx
        .try_iter()
        .map(Result::unwrap)
        .filter(|event| matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_)))
        .flat_map(|event| event.paths)
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn staged_in_a_staging_directory_the_zones_directory_never_holds_a_temporary() {
    let root = tempfile::tempdir().unwrap();
    let zones = root.path().join("zones");
    let staging = root.path().join("staging");
    let dir = ZonesDir::new(&zones).staging_in(&staging);
    let mut zone = ZoneManager::open(example(), dir).unwrap();
    let names = names_created_in(&zones, || {
        for (second, vm_name) in ["a", "b", "c"].into_iter().enumerate() {
            zone.upsert(vm("ns", vm_name, &[("net1", &["10.0.0.1"])]));
            zone.publish_all(at(1_800_000_000 + second as u64)).unwrap();
        }
    });
    assert_eq!(
        names,
        ["db.vm.example.com"],
        "what the DNS server could see"
    );
    assert!(leftovers(&zones).is_empty());
    assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
}

#[test]
fn staging_in_the_zones_directory_shows_temporaries_there() {
    // The property above is not vacuous: staging in the zones directory (the
    // default) creates the temporary files where the DNS server looks.
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    let names = names_created_in(dir.path(), || {
        zone.upsert(vm("ns", "a", &[("net1", &["10.0.0.1"])]));
        zone.publish_all(at(1_800_000_000)).unwrap();
    });
    assert!(
        names.iter().any(|name| name.starts_with(TEMP_PREFIX)),
        "{names:?}"
    );
}

#[test]
fn stale_temporaries_in_the_staging_directory_are_removed_at_startup() {
    let root = tempfile::tempdir().unwrap();
    let staging = root.path().join("staging");
    fs::create_dir(&staging).unwrap();
    let stale = staging.join(format!("{TEMP_PREFIX}a1B2c3"));
    fs::write(&stale, "half a zone").unwrap();
    ZoneManager::open(
        example(),
        ZonesDir::new(root.path().join("zones")).staging_in(&staging),
    )
    .unwrap();
    assert!(!stale.exists());
}

#[test]
fn a_staging_directory_on_another_filesystem_is_refused_at_open() {
    // /dev/shm is a tmpfs of its own: a rename from there is no rename.
    let zones = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir_in("/dev/shm").unwrap();
    assert_ne!(
        fs::metadata(zones.path()).unwrap().dev(),
        fs::metadata(staging.path()).unwrap().dev(),
        "the test needs two filesystems"
    );
    let error = ZoneManager::open(
        example(),
        ZonesDir::new(zones.path()).staging_in(staging.path()),
    )
    .err()
    .expect("should be refused");
    assert!(
        matches!(error, ZoneFileError::StagingElsewhere { .. }),
        "{error}"
    );
}

#[test]
fn temporary_names_can_never_match_the_coredns_pattern() {
    // CoreDNS's `auto` uses the unanchored `db\.(.*)`; tempfile only appends
    // alphanumerics to the prefix, so no dot can ever follow a "db".
    assert!(!TEMP_PREFIX.contains("db."));
    assert!(!TEMP_PREFIX.ends_with("db"));
}

#[test]
fn a_failed_rename_leaves_no_temporary_and_publishing_again_retries() {
    let dir = tempfile::tempdir().unwrap();
    // Something that is not a file sits where the zone goes: the rename fails.
    fs::create_dir(zone_path(dir.path())).unwrap();
    fs::write(zone_path(dir.path()).join("keep"), "x").unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet());
    let error = zone.publish_all(at(1_800_000_000)).unwrap_err();
    assert!(error.to_string().contains("db.vm.example.com"), "{error}");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );

    // A failed write uses up no serial: the retry at the same second gets it.
    fs::remove_dir_all(zone_path(dir.path())).unwrap();
    let retried = zone.publish_all(at(1_800_000_000)).unwrap().forward;
    assert_eq!(
        retried,
        Published::Written {
            serial: Serial::new(1_800_000_000),
            bytes: retried_bytes(dir.path())
        }
    );
}

fn retried_bytes(dir: &Path) -> usize {
    fs::metadata(zone_path(dir)).unwrap().len() as usize
}

/// A real full disk: a tiny tmpfs. Needs root (mount); skipped with a message otherwise.
#[test]
fn a_full_disk_leaves_the_previous_zone_intact_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(dir.path())
        .status();
    if !mount.is_ok_and(|s| s.success()) {
        eprintln!(
            "SKIPPED: cannot mount a small tmpfs (needs root); the disk-full path is not exercised"
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());

    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet());
    let good = zone
        .publish_all(at(1_800_000_000))
        .unwrap()
        .forward
        .serial();
    let before = fs::read(zone_path(dir.path())).unwrap();

    // Far more than 64 KiB of records.
    let many: Vec<VmAddresses> = (0..3000)
        .map(|i| {
            vm(
                "big",
                &format!("vm{i}"),
                &[("net1", &[&format!("10.{}.{}.1", i / 256, i % 256)])],
            )
        })
        .collect();
    zone.replace_all(many);
    let error = zone.publish_all(at(1_800_000_001)).unwrap_err();
    assert!(error.to_string().contains("No space left"), "{error}");
    assert_eq!(
        fs::read(zone_path(dir.path())).unwrap(),
        before,
        "previous zone must stay"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );

    // Space comes back (fewer records): the retry writes, with a greater serial.
    zone.replace_all(fleet().into_iter().take(1));
    let next = zone
        .publish_all(at(1_800_000_002))
        .unwrap()
        .forward
        .serial();
    assert!(next.is_after(good));
}

#[test]
fn the_running_digest_matches_one_computed_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let mut zone = ZoneManager::open(example(), dir.path()).unwrap();
    zone.replace_all(fleet());
    // A walk of upserts and removals...
    zone.upsert(vm("x", "new", &[("n", &["10.1.1.1"])]));
    zone.upsert(vm("default", "a", &[("net1", &["10.0.0.9"])]));
    zone.remove("default", "b");
    zone.upsert(vm("default", "b", &[("net1", &["10.0.0.2"])]));
    zone.remove("x", "new");
    let walked = zone
        .publish_all(at(1_800_000_000))
        .unwrap()
        .forward
        .serial();
    // The running record counts agree with a walk over every record.
    let mut walked_counts = zone_manager::RecordCounts::default();
    for record in zone.vms().flat_map(VmAddresses::records) {
        walked_counts.count(record.data.record_type());
    }
    assert_eq!(zone.record_counts(), walked_counts);
    let count = |t| walked_counts.get(t);
    assert!(count(zone_manager::RecordType::A) > 0 && count(zone_manager::RecordType::Aaaa) > 0);
    // ...then the same final set given whole: nothing to write.
    let final_set: Vec<VmAddresses> = zone.vms().cloned().collect();
    assert!(!zone.replace_all(final_set));
    assert_eq!(
        zone.publish_all(at(1_800_000_001)).unwrap().forward,
        Published::Unchanged(walked)
    );
    // And back to the very first set: a write, since it differs from disk.
    zone.replace_all(fleet());
    assert!(matches!(
        zone.publish_all(at(1_800_000_002)).unwrap().forward,
        Published::Written { .. }
    ));
}
