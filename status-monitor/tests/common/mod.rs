//! Helpers shared by status-monitor's tests.
#![allow(dead_code)]

use std::process::{Command, Output};

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
