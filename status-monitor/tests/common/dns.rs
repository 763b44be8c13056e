//! A real authoritative server, Knot DNS, serving the monitor's zone file, and
//! `dig` asking it.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::monitor::{DOMAIN, wait_until};

pub struct Knot {
    dir: TempDir,
    port: u16,
    child: Child,
}

impl Knot {
    /// knotd on a loopback port, serving `<zones_dir>/db.vm.<DOMAIN>`.
    pub fn serve(zones_dir: &Path) -> Self {
        Self::serve_with_reverse(zones_dir, &[])
    }

    /// Like [`Self::serve`], and the reverse zones `reverse` (origins without
    /// the final dot) from `<zones_dir>/db.<origin>`.
    pub fn serve_with_reverse(zones_dir: &Path, reverse: &[&str]) -> Self {
        // A port free for UDP when chosen may be taken for TCP, or taken by
        // someone else before knotd binds it: try again on another port.
        let mut last_log = String::new();
        for _ in 0..5 {
            match Self::try_serve(zones_dir, reverse) {
                Ok(knot) => return knot,
                Err(log) => last_log = log,
            }
        }
        panic!("knotd could not bind a port:\n{last_log}");
    }

    /// knotd on a port free for both UDP and TCP; `Err(its log)` when it
    /// could not bind it.
    fn try_serve(zones_dir: &Path, reverse: &[&str]) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_and_tcp_port();
        let d = dir.path().display();
        let zone_entries: String = std::iter::once(format!("vm.{DOMAIN}"))
            .chain(reverse.iter().map(|origin| origin.to_string()))
            .map(|origin| {
                let file = zones_dir.join(format!("db.{origin}"));
                format!("  - domain: {origin}\n    file: {}\n", file.display())
            })
            .collect();
        fs::write(
            dir.path().join("knot.conf"),
            format!(
                "server:\n  rundir: {d}\n  listen: 127.0.0.1@{port}\n\
                 database:\n  storage: {d}\n\
                 template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    semantic-checks: on\n\
                 zone:\n{zone_entries}"
            ),
        )
        .unwrap();
        let child = start_knotd(dir.path())?;
        Ok(Self { dir, port, child })
    }

    fn log(&self) -> String {
        knotd_log(self.dir.path())
    }

    fn knotc(&self, args: &[&str]) -> bool {
        knotc(self.dir.path(), args).status.success()
    }

    /// Loads the zone file as it is on disk now (knotd does not watch files;
    /// CoreDNS's `auto` does, on its own schedule).
    pub fn reload(&self) {
        assert!(
            self.knotc(&["-b", "zone-reload"]),
            "knotc zone-reload failed:\n{}",
            self.log()
        );
    }

    /// `dig +short NAME TYPE` against knotd after a reload: the sorted answers.
    pub fn answers(&self, name: &str, rtype: &str) -> Vec<String> {
        let mut answers: Vec<String> = self
            .dig(&["+short", name, rtype])
            .lines()
            .map(str::to_owned)
            .collect();
        answers.sort();
        answers
    }

    /// `dig +short -x ADDRESS`: the PTR targets, sorted.
    pub fn ptr(&self, address: &str) -> Vec<String> {
        let mut answers: Vec<String> = self
            .dig(&["+short", "-x", address])
            .lines()
            .map(str::to_owned)
            .collect();
        answers.sort();
        answers
    }

    /// The response code for NAME (NOERROR, NXDOMAIN, ...).
    pub fn rcode(&self, name: &str) -> String {
        let text = self.dig(&[name, "A"]);
        text.split("status: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("none")
            .to_owned()
    }

    /// dig's output for `args`, asked of knotd after a reload.
    fn dig(&self, args: &[&str]) -> String {
        self.reload();
        let out = dig_output(self.port, args);
        assert!(
            out.status.success(),
            "dig failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// knotd with `<dir>/knot.conf`, logging to `<dir>/knotd.log`, once `knotc
/// status` answers; `Err(its log)` when it could not start (a port taken).
pub fn start_knotd(dir: &Path) -> Result<Child, String> {
    let mut child = Command::new("knotd")
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("knotd.log")).unwrap())
        .spawn()
        .expect("knotd (apt-get install knot)");
    let started = wait_until(
        "knotd to answer or give up",
        || knotd_log(dir),
        || {
            if knotc(dir, &["status"]).status.success() {
                Some(true)
            } else {
                knotd_log(dir)
                    .contains("failed to configure server")
                    .then_some(false)
            }
        },
    );
    if started {
        Ok(child)
    } else {
        let _ = child.kill();
        let _ = child.wait();
        Err(knotd_log(dir))
    }
}

pub fn knotd_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("knotd.log")).unwrap_or_default()
}

/// `knotc -c <dir>/knot.conf ARGS`.
pub fn knotc(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("knotc")
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .args(args)
        .output()
        .expect("knotc (apt-get install knot)")
}

/// `dig @127.0.0.1 -p PORT +norecurse ARGS`, with short timeouts.
pub fn dig_output(port: u16, args: &[&str]) -> std::process::Output {
    Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norecurse",
            "+time=2",
            "+tries=2",
        ])
        .args(args)
        .output()
        .expect("dig (apt-get install bind9-dnsutils)")
}

/// A loopback port nobody uses for UDP or TCP right now, below the kernel's
/// ephemeral range: a DNS server there never shares its port with a client's.
/// (CoreDNS listens with SO_REUSEPORT; a dig of the same user could be given
/// the same ephemeral port and receive its own query.)
pub fn free_udp_and_tcp_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const RANGE: std::ops::Range<u32> = 20_000..32_768;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919);
    loop {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
        let Ok(port) = u16::try_from(RANGE.start + offset % (RANGE.end - RANGE.start)) else {
            continue;
        };
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The strict checkers of BIND and Knot accept the zone file.
pub fn check_zone_file(path: &Path) {
    super::check_zone_with_bind_and_knot(path, &format!("vm.{DOMAIN}"));
}
