//! `HTTP_ADDR=:port` (the Deployment's setting) listens on both address
//! families, so that kubelet's probes reach it on IPv6-only clusters too, and
//! still on IPv4 where IPv6 is switched off.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::process::Stdio;

use common::http_get;
use common::monitor::{Monitor, wait_until};
use common::netns::NetworkNamespace;

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// A port nobody uses on `[::]`, IPv4 included.
fn free_dual_stack_port() -> u16 {
    std::net::TcpListener::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_bare_port_serves_ipv4_and_ipv6_clients() {
    let zones = tempfile::tempdir().unwrap();
    let port = free_dual_stack_port().to_string();
    let http_addr = format!(":{port}");
    let monitor = Monitor::spawn(
        zones.path(),
        &[("HTTP_ADDR", &http_addr)],
        &[OsStr::new("--source-dir"), examples().as_os_str()],
    );
    for address in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let (status, body) = wait_until(
            &format!("/healthz on {address}"),
            || monitor.log(),
            || http_get(&address, "/healthz").ok(),
        );
        assert_eq!((status, body.as_str()), (200, "ok\n"), "{address}");
    }
}

#[test]
fn a_bare_port_still_serves_ipv4_where_ipv6_is_switched_off() {
    if !common::running_as_root_or_skip("a network namespace without IPv6") {
        return;
    }
    let namespace = NetworkNamespace::new("sm-http");
    for interface in ["all", "default", "lo"] {
        let status = namespace
            .exec("sysctl")
            .args(["-qw", &format!("net.ipv6.conf.{interface}.disable_ipv6=1")])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let zones = tempfile::tempdir().unwrap();
    let log = zones.path().join("monitor.log");
    let mut monitor = namespace
        .exec(env!("CARGO_BIN_EXE_status-monitor"))
        .arg("--source-dir")
        .arg(examples())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ZONES_DIR", zones.path())
        .env("HTTP_ADDR", ":8081")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // bash's /dev/tcp inside the namespace: an IPv4 client of 127.0.0.1:8081.
    let probe = || {
        let out = namespace
            .exec("bash")
            .args([
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/8081 && \
                 printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.starts_with("HTTP/1.0 200").then_some(text)
    };
    let answered = wait_until(
        "/healthz on 127.0.0.1 with IPv6 off",
        || std::fs::read_to_string(&log).unwrap_or_default(),
        probe,
    );
    assert!(answered.ends_with("ok\n"), "{answered}");
    let _ = monitor.kill();
    let _ = monitor.wait();
}
