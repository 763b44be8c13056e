//! Render + atomic write of whole zones, and one change in a large zone.
//! `cargo bench -p zone-manager` (or `make bench`); figures in BENCHMARKS.md.

#![allow(clippy::unwrap_used)] // benches may panic on broken fixtures

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use divan::Bencher;
use tempfile::TempDir;
use zone_manager::{
    InterfaceAddresses, Label, Origin, ReversePrefix, VmAddresses, ZoneLayout, ZoneManager,
    ZoneSettings,
};

fn main() {
    divan::main();
}

/// VM number `i`: two secondary dual-stack interfaces, in one of 100 namespaces
/// (the pod-network interface never reaches the zone manager).
fn vm(i: u32, generation: u8) -> VmAddresses {
    let label = |s: &str| Label::new(s).unwrap();
    let [_, a, b, c] = i.to_be_bytes();
    let iface = |name: &str, net: u8| {
        InterfaceAddresses::new(
            label(name),
            [
                IpAddr::V4(Ipv4Addr::new(
                    10,
                    net.wrapping_add(a).wrapping_add(generation),
                    b,
                    c,
                )),
                IpAddr::V6(Ipv6Addr::new(
                    0xfd00,
                    u16::from(net),
                    u16::from(generation),
                    0,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16,
                )),
            ],
        )
    };
    VmAddresses::new(
        label(&format!("tenant-{}", i % 100)),
        label(&format!("vm-{i}")),
        [iface("data", 1), iface("storage", 2)],
    )
}

fn zone_with(vms: u32) -> (TempDir, ZoneManager) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ZoneSettings::new(Origin::for_domain("example.com").unwrap());
    settings.set_name_servers(["192.0.2.53".parse().unwrap()]);
    let mut zone = ZoneManager::open(settings, dir.path()).unwrap();
    zone.replace_all((0..vms).map(|i| vm(i, 0)));
    zone.publish_all(SystemTime::now()).unwrap();
    (dir, zone)
}

/// The whole zone rendered and atomically written (temp file, fsync, rename,
/// directory fsync), as after a relist.
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 20)]
fn render_and_write(bencher: Bencher, vms: u32) {
    let (_dir, mut zone) = zone_with(vms);
    bencher.bench_local(|| {
        zone.forget_on_disk();
        zone.publish_all(SystemTime::now()).unwrap().forward
    });
}

/// One VM changes in a 100k-VM zone: from the change entering the zone manager
/// to the new file renamed into place (the debounce window excluded).
#[divan::bench(sample_count = 20)]
fn one_change_in_100k(bencher: Bencher) {
    let (_dir, mut zone) = zone_with(100_000);
    let mut generation = 0u8;
    bencher.bench_local(|| {
        generation = generation.wrapping_add(1);
        zone.upsert(vm(4242, generation));
        zone.publish_all(SystemTime::now()).unwrap().forward
    });
}

/// 100k VMs with REVERSE_ZONES covering every address (10.0.0.0/8 and
/// fd00::/16): the forward zone plus 400k PTRs in two reverse zones, all
/// rendered and atomically written.
#[divan::bench(sample_count = 10)]
fn render_and_write_with_reverse_zones_100k(bencher: Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ZoneSettings::new(Origin::for_domain("example.com").unwrap());
    settings.set_name_servers(["192.0.2.53".parse().unwrap()]);
    let prefixes = ReversePrefix::parse_list("10.0.0.0/8,fd00::/16").unwrap();
    let mut zone =
        ZoneManager::open_with(settings, ZoneLayout::Single, &prefixes, dir.path()).unwrap();
    zone.replace_all((0..100_000).map(|i| vm(i, 0)));
    zone.publish_all(SystemTime::now()).unwrap();
    bencher.bench_local(|| {
        zone.forget_on_disk();
        zone.publish_all(SystemTime::now()).unwrap()
    });
}
