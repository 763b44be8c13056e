//! Faults of ZONES_DIR while status-monitor runs: a full disk, a read-only
//! filesystem, the directory removed. Each: a clear error in the log and the
//! failure metric, the previous zone stays in place, writes resume when the
//! fault is gone. The disk is real: a small tmpfs, mounted when running as root
//! (skipped with a message otherwise).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use common::fixtures::{self, Vmi};
use common::monitor::{Monitor, fqdn};
use tempfile::TempDir;

fn vmis(count: usize, third_octet: u8) -> String {
    fixtures::list((0..count).map(|i| {
        let address = format!("10.{}.{third_octet}.{}", i / 250, i % 250);
        Vmi::new("faults", &format!("vm-{i}"))
            .secondary("data", &[&address])
            .json()
    }))
}

fn write(source: &Path, text: &str) {
    std::fs::write(source.join(".vmis.tmp"), text).unwrap();
    std::fs::rename(source.join(".vmis.tmp"), source.join("vmis.json")).unwrap();
}

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Tmpfs(TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs (needs root); this fault is not exercised");
            return None;
        }
        Some(Self(dir))
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.0.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn start(source: &Path, zones: &Path) -> Monitor {
    Monitor::spawn(
        zones,
        &[],
        &[OsStr::new("--source-dir"), source.as_os_str()],
    )
}

fn failures(monitor: &Monitor) -> f64 {
    monitor.metric("kubevirt_dns_zone_writes_total{result=\"failure\"}")
}

fn no_temporaries(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["db.vm.example.com"], "only the zone file");
}

#[test]
fn a_full_disk_keeps_the_previous_zone_and_writes_resume_when_space_returns() {
    let Some(disk) = Tmpfs::mount("64k") else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    write(source.path(), &vmis(5, 1));
    let monitor = start(source.path(), disk.0.path());
    let before = monitor.wait_for_zone("the small zone", |z| {
        z.get(&fqdn("vm-4.faults"), "A") == ["10.0.1.4"]
    });
    let bytes = std::fs::read(monitor.zone_path()).unwrap();

    write(source.path(), &vmis(3000, 2)); // far more than 64 KiB of zone
    common::monitor::wait_until(
        "a failed write",
        || monitor.log(),
        || (failures(&monitor) >= 1.0).then_some(()),
    );
    assert!(
        monitor.log().contains("No space left on device"),
        "{}",
        monitor.log()
    );
    assert!(monitor.log().contains("the previous zone stays in place"));
    assert_eq!(
        std::fs::read(monitor.zone_path()).unwrap(),
        bytes,
        "previous zone intact"
    );
    no_temporaries(disk.0.path());

    disk.remount("size=16m");
    let after = monitor.wait_for_zone("the big zone once there is room", |z| {
        z.get(&fqdn("vm-2999.faults"), "A") == ["10.11.2.249"]
    });
    assert!(after.serial > before.serial);
    no_temporaries(disk.0.path());
}

#[test]
fn a_read_only_filesystem_keeps_the_previous_zone_and_writes_resume_when_writable() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    write(source.path(), &vmis(5, 1));
    let monitor = start(source.path(), disk.0.path());
    let before =
        monitor.wait_for_zone("the zone", |z| !z.get(&fqdn("vm-0.faults"), "A").is_empty());
    let bytes = std::fs::read(monitor.zone_path()).unwrap();

    disk.remount("ro");
    write(source.path(), &vmis(5, 3));
    common::monitor::wait_until(
        "a failed write",
        || monitor.log(),
        || (failures(&monitor) >= 1.0).then_some(()),
    );
    assert!(
        monitor.log().contains("Read-only file system"),
        "{}",
        monitor.log()
    );
    assert_eq!(
        std::fs::read(monitor.zone_path()).unwrap(),
        bytes,
        "previous zone intact"
    );
    assert_eq!(
        monitor.http_status("/readyz"),
        200,
        "the previous zone keeps being served"
    );

    disk.remount("rw");
    let after = monitor.wait_for_zone("the new zone", |z| {
        z.get(&fqdn("vm-0.faults"), "A") == ["10.0.3.0"]
    });
    assert!(after.serial > before.serial);
    no_temporaries(disk.0.path());
}

#[test]
fn a_removed_zones_directory_is_made_again_on_the_next_write() {
    let source = tempfile::tempdir().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let zones = parent.path().join("zones");
    write(source.path(), &vmis(5, 1));
    let monitor = start(source.path(), &zones);
    let before =
        monitor.wait_for_zone("the zone", |z| !z.get(&fqdn("vm-0.faults"), "A").is_empty());

    std::fs::remove_dir_all(&zones).unwrap();
    write(source.path(), &vmis(5, 4));
    let after = monitor.wait_for_zone("the zone to come back", |z| {
        z.get(&fqdn("vm-0.faults"), "A") == ["10.0.4.0"]
    });
    assert!(after.serial > before.serial);
    no_temporaries(&zones);
}
