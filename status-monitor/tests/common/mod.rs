//! Helpers shared by status-monitor's tests.
#![allow(dead_code)]

use std::process::{Command, Output};

pub mod cluster;
pub mod dns;
pub mod monitor;
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
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
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
