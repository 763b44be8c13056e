//! The offline decoder: `status-monitor render` of one 100k-VMI List file, as
//! `kubectl get vmi -A -o json` and `-o yaml` print it (time and peak RSS, the
//! median of three runs), and the watched directory holding one 10k-VMI List
//! file (peak RSS once its zone is complete).
//!
//! `cargo bench -p status-monitor --bench decode` (VMIS=N, DIR_VMIS=N for other sizes).

#![allow(clippy::unwrap_used)] // benches may panic on broken fixtures

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

fn main() {
    let (vmis, dir_vmis) = (
        support::size("VMIS", 100_000),
        support::size("DIR_VMIS", 10_000),
    );
    if let Some(dir) = std::env::var_os("GENERATE_INTO") {
        let dir = Path::new(&dir);
        fs::write(dir.join("vmis.json"), support::kubectl_json_list(0..vmis)).unwrap();
        fs::write(dir.join("vmis.yaml"), support::kubectl_yaml_list(0..vmis)).unwrap();
        fs::create_dir(dir.join("watched")).unwrap();
        let list = support::kubectl_json_list(0..dir_vmis);
        fs::write(dir.join("watched/vmis.json"), list).unwrap();
        return;
    }
    // The files are made by another process: a child's peak RSS counts what
    // it shared with its parent before exec.
    let files = tempfile::tempdir().unwrap();
    let generated = Command::new(std::env::current_exe().unwrap())
        .env("GENERATE_INTO", files.path())
        .status()
        .unwrap();
    assert!(generated.success());
    let (json, yaml) = (
        files.path().join("vmis.json"),
        files.path().join("vmis.yaml"),
    );
    for path in [&json, &yaml] {
        let mb = fs::metadata(path).unwrap().len() as f64 / 1e6;
        let (took, peak_kib) = median_of_three(|| render(path, vmis));
        println!(
            "render: {vmis} VMIs, {} List of {mb:.0} MB: {:.2} s, peak RSS {:.0} MiB",
            path.extension().unwrap().to_string_lossy(),
            took.as_secs_f64(),
            peak_kib as f64 / 1024.0
        );
    }

    let first = support::monitor_until_complete(&files.path().join("watched"), dir_vmis);
    println!(
        "directory: one {dir_vmis}-VMI List file: peak RSS {:.1} MiB, first complete zone after {:.2} s",
        first.peak_kib as f64 / 1024.0,
        first.after.as_secs_f64()
    );
}

/// The median run by time, with its peak RSS.
fn median_of_three(mut run: impl FnMut() -> (Duration, u64)) -> (Duration, u64) {
    let mut runs: Vec<(Duration, u64)> = (0..3).map(|_| run()).collect();
    runs.sort();
    runs[1]
}

/// One `render` of `path`: wall time and peak RSS (the kernel's rusage of
/// that child).
fn render(path: &Path, vmis: usize) -> (Duration, u64) {
    let out = tempfile::tempfile().unwrap();
    let started = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
    let child = Command::new(env!("CARGO_BIN_EXE_status-monitor"))
        .args(["render", "--serial", "1"])
        .arg(path)
        .env("DOMAIN", "example.com")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .spawn()
        .unwrap();
    let (status, peak_kib) = wait_with_peak(child.id());
    let took = started.elapsed();
    assert_eq!(status, 0, "render failed");
    let mut zone = String::new();
    let mut out = out;
    out.seek(SeekFrom::Start(0)).unwrap();
    out.read_to_string(&mut zone).unwrap();
    let records = zone.lines().filter(|l| l.contains("\tIN\tA")).count();
    assert_eq!(records, 6 * vmis, "every VM rendered");
    (took, peak_kib)
}

/// Waits for child `pid`: its exit status and peak RSS in KiB.
fn wait_with_peak(pid: u32) -> (i32, u64) {
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 fills the status and rusage it is given; the pid is our child's.
    let usage = unsafe {
        let waited = libc::wait4(pid as libc::pid_t, &mut status, 0, usage.as_mut_ptr());
        assert_eq!(waited, pid as libc::pid_t, "wait4 failed");
        usage.assume_init()
    };
    (status, u64::try_from(usage.ru_maxrss).unwrap_or(0))
}
