//! Memory of the Kubernetes source's state with `ADDRESS_SOURCE=network`
//! against `any`: 100k VMIs (and, for `network`, their virt-launcher pods
//! with Multus' network-status) fed to the source's watch state as the
//! watcher would, the published VMs held by a zone manager as in the monitor.
//! Each mode runs in a process of its own; the figures are its resident
//! memory after the lists (all of it, and what the lists added), and its peak.
//!
//! `cargo bench -p status-monitor --bench network_memory` (VMIS=N for another size).

#![allow(clippy::unwrap_used)] // benches may panic on broken fixtures

use std::process::Command;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use serde_json::json;
use status_monitor::metrics::Metrics;
use status_monitor::projection::{Projector, Rules};
use status_monitor::source::kubernetes::VmiWatch;
use status_monitor::source::{KeptAnnotations, SourceEvent};
use status_monitor::vmi::decode::LenientVmi;
use zone_manager::{Origin, ZoneManager, ZoneSettings};

mod support;

fn main() {
    let vmis = support::size("VMIS", 100_000);
    match std::env::var("MODE").as_deref() {
        Ok("any") => measure(vmis, false),
        Ok("network") => measure(vmis, true),
        _ => {
            for mode in ["any", "network"] {
                let status = Command::new(std::env::current_exe().unwrap())
                    .env("MODE", mode)
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
    }
}

fn pod(i: usize) -> PartialObjectMeta<Pod> {
    let vmi = support::vmi(i);
    let namespace = vmi["metadata"]["namespace"].as_str().unwrap().to_owned();
    let name = vmi["metadata"]["name"].as_str().unwrap().to_owned();
    let interfaces = vmi["status"]["interfaces"].as_array().unwrap();
    let ips = |n: usize| interfaces[n]["ipAddresses"].clone();
    let status = json!([
        {"name": "ovn-kubernetes", "interface": "eth0", "ips": ips(0), "default": true},
        {"name": format!("{namespace}/data"), "interface": "pod1", "ips": ips(1)},
        {"name": format!("{namespace}/storage"), "interface": "pod2", "ips": ips(2)}
    ]);
    serde_json::from_value(json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": format!("virt-launcher-{name}-abcde"), "namespace": namespace,
                     "labels": {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": name},
                     "annotations": {"k8s.v1.cni.cncf.io/network-status": status.to_string()}}
    }))
    .unwrap()
}

fn measure(vmis: usize, network: bool) {
    let metrics = Arc::new(Metrics::new());
    let rules = Rules {
        addresses_by_mac: !network,
        ..Rules::default()
    };
    let projector = Projector::with_rules(
        Origin::for_domain("example.com").unwrap(),
        rules,
        metrics.clone(),
    );
    let mut watch = VmiWatch::new(projector, metrics, KeptAnnotations::default(), network);
    let pid = std::process::id();
    let before = support::status_field(pid, "VmRSS:");
    let mut published = None;
    let mut keep = |event: Option<SourceEvent>| {
        if let Some(SourceEvent::Resync { vms, .. }) = event {
            published = Some(vms);
        }
    };
    keep(watch.handle(Event::Init));
    for i in 0..vmis {
        let object: LenientVmi = serde_json::from_value(support::vmi(i)).unwrap();
        keep(watch.handle(Event::InitApply(object)));
    }
    keep(watch.handle(Event::InitDone));
    if network {
        keep(watch.handle_pod(Event::Init));
        for i in 0..vmis {
            keep(watch.handle_pod(Event::InitApply(pod(i))));
        }
        keep(watch.handle_pod(Event::InitDone));
    }
    let published = published.expect("a complete set");
    assert_eq!(published.len(), vmis, "every VM published");
    let zones = tempfile::tempdir().unwrap();
    let settings = ZoneSettings::new(Origin::for_domain("example.com").unwrap());
    let mut zone = ZoneManager::open(settings, zones.path()).unwrap();
    zone.replace_all(published);
    let after = support::status_field(pid, "VmRSS:");
    println!(
        "network_memory: ADDRESS_SOURCE={}: {vmis} VMIs: RSS {:.1} MiB, of which the source and the zone manager {:.1} MiB (peak RSS {:.1} MiB)",
        if network { "network" } else { "any" },
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0,
        support::status_field(pid, "VmHWM:") as f64 / 1024.0,
    );
    drop(zone);
}
