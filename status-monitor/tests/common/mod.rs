//! Helpers shared by status-monitor's tests.
#![allow(dead_code)]

use std::process::{Command, Output};

pub mod cluster;
pub mod cni;
pub mod coredns;
pub mod dns;
pub mod fixtures;
pub mod kubevirt;
pub mod monitor;
pub mod netns;
pub mod prober;
pub mod secondary;
pub mod vmis;

pub use zone_manager::parsed::ParsedZone;

/// The status-monitor binary with only the given environment (no stray DOMAIN
/// or ZONES_DIR from the developer's shell).
pub fn status_monitor(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_status-monitor"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs `status-monitor render ARGS` and returns (stdout, stderr); panics if it fails.
pub fn render(env: &[(&str, &str)], args: &[&str]) -> (String, String) {
    let output = status_monitor(env)
        .arg("render")
        .args(args)
        .output()
        .expect("run status-monitor");
    assert!(
        output.status.success(),
        "render failed: {}",
        text(&output.stderr)
    );
    (text(&output.stdout), text(&output.stderr))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` with `input` on its standard input, its output piped.
pub fn output_with_stdin(command: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a command");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write to its stdin");
    child.wait_with_output().expect("wait for it")
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("run status-monitor")
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(address: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        stream,
        // HTTP/1.0: the body comes whole, never chunked (Prometheus chunks
        // large answers to HTTP/1.1 clients).
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The address the monitor logged it serves HTTP on (`HTTP_ADDR=127.0.0.1:0`).
pub fn http_address(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("serving /healthz"))?;
    let start = line.find("address=")? + "address=".len();
    Some(line[start..].split_whitespace().next()?.to_owned())
}

/// Whether the tests run as root; when not, says why `what` is skipped, and
/// fails under CI (`CI` set), where every tier must run.
pub fn running_as_root_or_skip(what: &str) -> bool {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !is_root {
        assert!(std::env::var_os("CI").is_none(), "{what} needs root");
        eprintln!("SKIPPED: {what} needs root");
    }
    is_root
}

/// Peak resident memory (VmHWM) of process `pid` so far, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command, which is in parentheses and may hold spaces:
    // utime and stime are the 12th and 13th, in clock ticks (100 a second).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// `named-checkzone -k fail -n fail` (BIND) and `kzonecheck` (Knot) both accept
/// the zone file at `path` for `origin` (without the final dot).
pub fn check_zone_with_bind_and_knot(path: &std::path::Path, origin: &str) {
    let path = path.to_str().expect("UTF-8 path");
    for (program, args) in [
        (
            "named-checkzone",
            vec!["-k", "fail", "-n", "fail", "-i", "full", origin, path],
        ),
        ("kzonecheck", vec!["-o", origin, path]),
    ] {
        let out = Command::new(program).args(&args).output().unwrap_or_else(|e| {
            panic!("{program} is needed ({e}): apt-get install bind9-utils knot-dnssecutils, or run `make test`")
        });
        assert!(
            out.status.success(),
            "{program} rejected {path}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// Writes `file` in `dir` as editors and `kubectl get -o` redirects into a
/// staging name do: complete, then renamed into place.
pub fn write_atomically(dir: &std::path::Path, file: &str, text: &str) {
    let staging = dir.join(format!(".{file}.tmp"));
    std::fs::write(&staging, text).unwrap();
    std::fs::rename(staging, dir.join(file)).unwrap();
}
