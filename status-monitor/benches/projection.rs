//! Projection throughput: VMI JSON as the API server sends it (a realistic
//! object of about 5 KiB) → decoded → projected to the zone's records.
//! `cargo bench -p status-monitor --bench projection`.

#![allow(clippy::unwrap_used)] // benches may panic on broken fixtures

use std::sync::Arc;

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use status_monitor::metrics::Metrics;
use status_monitor::projection::Projector;
use status_monitor::vmi::decode::LenientVmi;
use zone_manager::Origin;

fn main() {
    divan::main();
}

const EVENTS: usize = 1000;

/// 1000 distinct watch events: the fixture with its name and addresses varied.
fn events() -> Vec<Vec<u8>> {
    let template = include_str!("fixtures/vmi-realistic.json");
    (0..EVENTS)
        .map(|i| {
            template
                .replace("\"db1\"", &format!("\"db{i}\""))
                .replace("10.20.0.7", &format!("10.20.{}.{}", i / 256, i % 256))
                .into_bytes()
        })
        .collect()
}

#[divan::bench(sample_count = 30)]
fn json_to_records(bencher: Bencher) {
    let events = events();
    let bytes: usize = events.iter().map(Vec::len).sum();
    let mut projector = Projector::new(
        Origin::for_domain("example.com").unwrap(),
        Arc::new(Metrics::new()),
    );
    bencher
        .counter(ItemsCount::new(EVENTS))
        .counter(BytesCount::new(bytes))
        .bench_local(|| {
            for event in &events {
                let object: LenientVmi = serde_json::from_slice(event).unwrap();
                let vm = projector.project(&object.decode().unwrap()).unwrap();
                black_box(vm.records().count());
            }
        });
}
