//! Peak RSS of the status-monitor process holding 100k VMIs, fed through the
//! watched-directory source: 100 files of 1000 VMIs each, as `kubectl get vmi -o
//! json` lists, each VMI with a pod interface and two dual-stack secondary ones.
//! Reports VmHWM once the complete zone is on disk.
//!
//! `cargo bench -p status-monitor --bench memory` (VMIS=N for another size).

#![allow(clippy::unwrap_used)] // benches may panic on broken fixtures

use std::fs;

mod support;

fn main() {
    let vmis = support::size("VMIS", 100_000);
    let per_file = 1000.min(vmis);
    let source = tempfile::tempdir().unwrap();
    for file in 0..vmis.div_ceil(per_file) {
        let range = file * per_file..((file + 1) * per_file).min(vmis);
        fs::write(
            source.path().join(format!("vmis-{file:04}.json")),
            support::kubectl_json_list(range),
        )
        .unwrap();
    }
    let first = support::monitor_until_complete(source.path(), vmis);
    println!(
        "memory: {vmis} VMIs from {} files: peak RSS {:.1} MiB, RSS after the first write {:.1} MiB, first complete zone after {:.2} s",
        vmis.div_ceil(per_file),
        first.peak_kib as f64 / 1024.0,
        first.rss_kib as f64 / 1024.0,
        first.after.as_secs_f64()
    );
}
