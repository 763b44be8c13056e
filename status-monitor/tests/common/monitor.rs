//! A running status-monitor process, observed only from outside: its zone file,
//! its log and its HTTP endpoints.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{ParsedZone, http_address, http_get, status_monitor};

pub const DOMAIN: &str = "example.com";
pub const ORIGIN: &str = "vm.example.com.";
pub const NAME_SERVER_IP: &str = "127.0.0.1";
/// How long to wait for something that normally takes a fraction of a second.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `<short>.vm.example.com.`
pub fn fqdn(short: &str) -> String {
    format!("{short}.{ORIGIN}")
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after [`PATIENCE`]
/// with `what` and `context()`.
pub fn wait_until<T>(what: &str, context: impl Fn() -> String, check: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        sleep(Duration::from_millis(20));
    }
}

/// A status-monitor process, killed on drop.
pub struct Monitor {
    child: Child,
    zones_dir: PathBuf,
    log: PathBuf,
    _log_dir: TempDir,
    _staging: Option<TempDir>,
}

/// A STAGING_DIR beside `zones_dir`, as the shipped Deployment has one, so that
/// the CoreDNS of a test never lists a temporary file; `None` where the parent
/// is another filesystem (a tmpfs mounted on `zones_dir`), which stays as a
/// deployment without STAGING_DIR stages: in ZONES_DIR.
fn staging_beside(zones_dir: &Path) -> Option<TempDir> {
    use std::os::unix::fs::MetadataExt;
    let parent = zones_dir.parent()?;
    let zones = fs::metadata(zones_dir).ok()?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)
        .ok()?;
    let same = fs::metadata(staging.path()).ok()?.dev() == zones.dev();
    same.then_some(staging)
}

impl Monitor {
    /// Starts status-monitor writing into `zones_dir` for DOMAIN=example.com,
    /// with `extra_env` and `args`. The zone is one file (`ZONE_LAYOUT=single`)
    /// unless `extra_env` says otherwise: these tests follow one zone's serial
    /// and records; the namespace layout has tests of its own. It stages beside
    /// `zones_dir` unless `extra_env` sets STAGING_DIR.
    pub fn spawn(zones_dir: &Path, extra_env: &[(&str, &str)], args: &[&OsStr]) -> Self {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("stderr.log");
        let staging = if extra_env.iter().any(|(name, _)| *name == "STAGING_DIR") {
            None
        } else {
            staging_beside(zones_dir)
        };
        let staging_path = staging
            .as_ref()
            .map(|dir| dir.path().to_str().unwrap().to_owned());
        let mut env = vec![
            ("ZONE_LAYOUT", "single"),
            ("DOMAIN", DOMAIN),
            ("NAME_SERVER_IP", NAME_SERVER_IP),
            ("ZONES_DIR", zones_dir.to_str().unwrap()),
            ("RUST_LOG", "status_monitor=debug,info"),
            ("HTTP_ADDR", "127.0.0.1:0"),
            // No DNS server beside it unless `extra_env` names one: ready once
            // the zone is on disk.
            ("LOCAL_DNS_ADDR", ""),
        ];
        if let Some(path) = &staging_path {
            env.push(("STAGING_DIR", path));
        }
        env.extend_from_slice(extra_env);
        let child = status_monitor(&env)
            .args(args)
            .stderr(fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            zones_dir: zones_dir.to_path_buf(),
            log,
            _log_dir: log_dir,
            _staging: staging,
        }
    }

    pub fn zone_path(&self) -> PathBuf {
        self.zones_dir.join(format!("db.vm.{DOMAIN}"))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The zone on disk, parsed by a real parser; `None` while there is none.
    pub fn zone(&self) -> Option<ParsedZone> {
        let text = fs::read_to_string(self.zone_path()).ok()?;
        Some(ParsedZone::parse(&text, ORIGIN))
    }

    /// The reverse zone `origin` (with the final dot) on disk, parsed.
    pub fn reverse_zone(&self, origin: &str) -> Option<ParsedZone> {
        let path = self.reverse_zone_path(origin);
        let text = fs::read_to_string(path).ok()?;
        Some(ParsedZone::parse(&text, origin))
    }

    pub fn reverse_zone_path(&self, origin: &str) -> PathBuf {
        self.zones_dir
            .join(format!("db.{}", origin.trim_end_matches('.')))
    }

    /// Waits until the reverse zone `origin` on disk satisfies `check`.
    pub fn wait_for_reverse_zone(
        &self,
        origin: &str,
        what: &str,
        check: impl Fn(&ParsedZone) -> bool,
    ) -> ParsedZone {
        wait_until(
            what,
            || format!("log:\n{}", self.log()),
            || self.reverse_zone(origin).filter(|z| check(z)),
        )
    }

    /// Waits until the zone on disk satisfies `check`.
    pub fn wait_for_zone(&self, what: &str, check: impl Fn(&ParsedZone) -> bool) -> ParsedZone {
        wait_until(
            what,
            || format!("log:\n{}", self.log()),
            || self.zone().filter(|z| check(z)),
        )
    }

    /// Waits until the log has `count` lines containing `needle`.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        wait_until(
            &format!("{count} × {needle:?} in the log"),
            || format!("log:\n{}", self.log()),
            || (self.log().matches(needle).count() >= count).then_some(()),
        )
    }

    /// The `host:port` it serves HTTP on.
    pub fn http_address(&self) -> String {
        wait_until(
            "the HTTP address",
            || self.log(),
            || http_address(&self.log()),
        )
    }

    /// Waits until `/readyz` says 200.
    pub fn wait_until_ready(&self) {
        wait_until(
            "readiness",
            || self.log(),
            || (self.http_status("/readyz") == 200).then_some(()),
        );
    }

    /// HTTP status of `path`.
    pub fn http_status(&self, path: &str) -> u16 {
        http_get(&self.http_address(), path)
            .map(|(status, _)| status)
            .unwrap_or(0)
    }

    /// The value of one sample of `/metrics` (`name` with its labels), 0 if absent.
    pub fn metric(&self, sample: &str) -> f64 {
        let (_, text) = http_get(&self.http_address(), "/metrics").unwrap();
        text.lines()
            .find_map(|line| {
                line.strip_prefix(sample)?
                    .strip_prefix(' ')?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    pub fn zone_writes(&self) -> f64 {
        self.metric("kubevirt_dns_zone_writes_total{result=\"success\"}")
    }

    /// Peak resident memory (VmHWM) of the process so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        super::peak_rss_kib(self.child.id())
    }

    /// Waits for the process to exit on its own.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "status-monitor did not exit\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
