//! Network namespaces of the tests' own (iproute2), deleted on drop: hosts that
//! exist only inside this machine.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `ip ARGS`, panicking with its message when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct NetworkNamespace {
    pub name: String,
}

impl NetworkNamespace {
    /// `ip netns add <prefix>-<pid>-<n>`, with its loopback up.
    pub fn new(prefix: &str) -> Self {
        static CREATED: AtomicUsize = AtomicUsize::new(0);
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        // A namespace left by a killed earlier run of the same pid.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let namespace = Self { name };
        ip(&[
            "netns",
            "exec",
            &namespace.name,
            "ip",
            "link",
            "set",
            "lo",
            "up",
        ]);
        namespace
    }

    /// `/var/run/netns/<name>`, as CNI_NETNS takes it.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// `program` run inside the namespace.
    pub fn exec(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
