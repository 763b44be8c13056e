//! The server the product ships with: CoreDNS, serving the shipped Corefile
//! (deploy/base/config.yaml) with only its `/zones` directory and its ports
//! changed, asked with `dig`.
//!
//! The binary is found like kube-apiserver through KUBEBUILDER_ASSETS: `COREDNS`
//! when set, else `../shared/bin/coredns` beside the checkout. Without either a
//! test that needs it says so and returns; `.ci/run` always sets `COREDNS`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::cluster::repo_root;
use super::http_get;
use super::monitor::{PATIENCE, wait_until};

/// The CoreDNS binary, or `None` (with the reason printed) when there is none.
/// A `COREDNS` that does not name an executable is an error, not a skip.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("COREDNS").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "COREDNS={} is not an executable file",
            path.display()
        );
        return Some(path);
    }
    let shared = repo_root().join("../shared/bin/coredns");
    if is_executable(&shared) {
        return Some(shared);
    }
    eprintln!(
        "SKIPPED: no CoreDNS binary: set COREDNS=/path/to/coredns (1.14.x) or put one at {}",
        shared.display()
    );
    None
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The Corefile of deploy/base/config.yaml, exactly as shipped.
pub fn shipped_corefile() -> String {
    let text = fs::read_to_string(repo_root().join("deploy/base/config.yaml")).unwrap();
    let config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    config["data"]["Corefile"]
        .as_str()
        .expect("deploy/base/config.yaml has data.Corefile")
        .to_owned()
}

/// Where one CoreDNS listens.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub dns: u16,
    pub health: u16,
    pub ready: u16,
    pub metrics: u16,
}

impl Ports {
    fn free() -> Self {
        Self {
            dns: super::dns::free_udp_and_tcp_port(),
            health: free_tcp_port(),
            ready: free_tcp_port(),
            metrics: free_tcp_port(),
        }
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `corefile` with `/zones` replaced by `zones_dir` and the shipped ports
/// (5353, 8080, 8181, 9153) by `ports`; panics if one of them is not there,
/// so that a change of the shipped Corefile cannot go unnoticed here.
pub fn adapt_corefile(corefile: &str, zones_dir: &Path, ports: Ports) -> String {
    let replacements = [
        (
            "directory /zones ",
            format!("directory {} ", zones_dir.display()),
        ),
        (".:5353 {", format!(".:{} {{", ports.dns)),
        ("health :8080", format!("health :{}", ports.health)),
        ("ready :8181", format!("ready :{}", ports.ready)),
        ("prometheus :9153", format!("prometheus :{}", ports.metrics)),
    ];
    let mut adapted = corefile.to_owned();
    for (shipped, ours) in replacements {
        assert_eq!(
            adapted.matches(shipped).count(),
            1,
            "the shipped Corefile has no single {shipped:?}:\n{corefile}"
        );
        adapted = adapted.replace(shipped, &ours);
    }
    adapted
}

/// One running CoreDNS, killed on drop. On a drop that is not part of a panic
/// its log is checked: no `plugin/file` or `plugin/auto` error may appear.
pub struct CoreDns {
    child: Child,
    dir: TempDir,
    pub ports: Ports,
    /// Set by [`Self::take_zone_file_errors`]: a test that feeds a broken file on purpose.
    zone_file_errors_expected: bool,
}

impl CoreDns {
    /// CoreDNS serving the shipped Corefile from `zones_dir`; `None` when there
    /// is no binary (see [`binary`]).
    pub fn serve(zones_dir: &Path) -> Option<Self> {
        Self::serve_corefile(zones_dir, &shipped_corefile())
    }

    /// Like [`Self::serve`], with `corefile` (a variation of the shipped one).
    pub fn serve_corefile(zones_dir: &Path, corefile: &str) -> Option<Self> {
        let binary = binary()?;
        Some(Self::serve_with(zones_dir, corefile, |corefile| {
            let mut command = Command::new(&binary);
            command.arg("-conf").arg(corefile);
            command
        }))
    }

    /// CoreDNS started by `command(corefile path)` (a wrapper such as setpriv
    /// may come first) with `corefile` adapted to `zones_dir`; waits until
    /// `/ready` answers 200. Tries other ports if one was taken meanwhile.
    pub fn serve_with(
        zones_dir: &Path,
        corefile: &str,
        command: impl Fn(&Path) -> Command,
    ) -> Self {
        let mut last_log = String::new();
        for _ in 0..5 {
            match Self::try_serve(zones_dir, corefile, &command) {
                Ok(coredns) => return coredns,
                Err(log) => last_log = log,
            }
        }
        panic!("CoreDNS did not start:\n{last_log}");
    }

    /// Starts it without waiting; [`Self::wait_ready`] or [`Self::wait_exit`] follow.
    pub fn spawn(zones_dir: &Path, corefile: &str, command: impl Fn(&Path) -> Command) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("coredns-")
            .tempdir()
            .unwrap();
        // Readable by another user: tests run it as the pod's uid too.
        set_mode(dir.path(), 0o755);
        let ports = Ports::free();
        let path = dir.path().join("Corefile");
        fs::write(&path, adapt_corefile(corefile, zones_dir, ports)).unwrap();
        set_mode(&path, 0o644);
        let log = fs::File::create(dir.path().join("coredns.log")).unwrap();
        let child = command(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start CoreDNS");
        Self {
            child,
            dir,
            ports,
            zone_file_errors_expected: false,
        }
    }

    fn try_serve(
        zones_dir: &Path,
        corefile: &str,
        command: &impl Fn(&Path) -> Command,
    ) -> Result<Self, String> {
        let mut coredns = Self::spawn(zones_dir, corefile, command);
        match coredns.wait_ready() {
            Ok(()) => Ok(coredns),
            Err(log) => {
                coredns.stop();
                Err(log)
            }
        }
    }

    /// Waits until `/ready` answers 200; `Err(log)` if CoreDNS exits first.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("CoreDNS exited with {status}:\n{}", self.log()));
            }
            if self.http_status(self.ports.ready, "/ready") == 200 {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "CoreDNS not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for CoreDNS to exit on its own: its exit code (None: a signal).
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("coredns.log")).unwrap_or_default()
    }

    /// Peak resident memory (VmHWM) so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        super::peak_rss_kib(self.child.id())
    }

    /// CPU time used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        super::cpu_seconds(self.child.id())
    }

    /// HTTP status of `path` on `port` (0 when nothing answers).
    pub fn http_status(&self, port: u16, path: &str) -> u16 {
        http_get(&format!("127.0.0.1:{port}"), path).map_or(0, |(status, _)| status)
    }

    /// The lines of the log in which `plugin/file` or `plugin/auto` reports a
    /// problem with a zone file.
    pub fn zone_file_errors(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("plugin/file") || l.contains("plugin/auto"))
            .filter(|l| l.contains("[ERROR]") || l.contains("[WARNING]"))
            .map(str::to_owned)
            .collect()
    }

    /// The zone file errors so far, which the drop check then leaves alone.
    pub fn take_zone_file_errors(&mut self) -> Vec<String> {
        self.zone_file_errors_expected = true;
        self.zone_file_errors()
    }

    /// `dig @CoreDNS ARGS` (UDP, or TCP with `+tcp` in `args`), parsed.
    pub fn dig(&self, args: &[&str]) -> Response {
        dig(self.ports.dns, args)
    }

    /// The answer to NAME TYPE over UDP: the sorted record data.
    pub fn answers(&self, name: &str, rtype: &str) -> Vec<String> {
        self.dig(&[name, rtype]).answer_data(rtype)
    }

    /// Polls until NAME TYPE is answered with exactly `expected` (sorted), as
    /// CoreDNS loads a changed zone on its own schedule (`reload`). Panics with
    /// what CoreDNS last answered.
    pub fn wait_for_answer(&self, name: &str, rtype: &str, expected: &[&str]) -> Response {
        self.wait_for(&[name, rtype], rtype, expected)
    }

    /// Like [`Self::wait_for_answer`] for the PTR of `address` (`dig -x`).
    pub fn wait_for_ptr(&self, address: &str, expected: &[&str]) -> Response {
        self.wait_for(&["-x", address], "PTR", expected)
    }

    fn wait_for(&self, query: &[&str], rtype: &str, expected: &[&str]) -> Response {
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        wait_until(
            &format!("CoreDNS to answer {query:?} with {expected:?}"),
            || {
                format!(
                    "CoreDNS answered:\n{}\nits log:\n{}",
                    self.dig(query).text,
                    self.log()
                )
            },
            || {
                let response = self.dig(query);
                (response.answer_data(rtype) == expected).then_some(response)
            },
        )
    }

    /// Polls until NAME gets `rcode` (NXDOMAIN once a zone is gone).
    pub fn wait_for_rcode(&self, name: &str, rtype: &str, rcode: &str) -> Response {
        wait_until(
            &format!("CoreDNS to answer {name} {rtype} with {rcode}"),
            || format!("CoreDNS answered:\n{}", self.dig(&[name, rtype]).text),
            || {
                let response = self.dig(&[name, rtype]);
                (response.status == rcode).then_some(response)
            },
        )
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CoreDns {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() && !self.zone_file_errors_expected {
            let errors = self.zone_file_errors();
            assert!(
                errors.is_empty(),
                "CoreDNS reported problems with zone files:\n{}",
                errors.join("\n")
            );
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// One DNS response as dig printed it.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// NOERROR, NXDOMAIN, ... ("none" when there was no answer at all).
    pub status: String,
    /// Header flags: qr, aa, rd, ...
    pub flags: Vec<String>,
    /// (owner, type, data) of the answer section.
    pub answer: Vec<(String, String, String)>,
    /// The TTL of each record of `answer`, in its order.
    pub answer_ttls: Vec<u32>,
    /// (owner, type, data) of the authority section.
    pub authority: Vec<(String, String, String)>,
    /// dig's whole output, for failure messages.
    pub text: String,
}

impl Response {
    pub fn parse(text: &str) -> Self {
        let mut response = Self {
            status: "none".into(),
            text: text.to_owned(),
            ..Self::default()
        };
        let mut section = "";
        for line in text.lines() {
            if let Some(rest) = line.split("status: ").nth(1) {
                response.status = rest.split(',').next().unwrap_or("").to_owned();
            } else if let Some(rest) = line.strip_prefix(";; flags: ") {
                let flags = rest.split(';').next().unwrap_or("");
                response.flags = flags.split_whitespace().map(str::to_owned).collect();
            } else if let Some(name) = line.strip_prefix(";; ") {
                section = name.strip_suffix(" SECTION:").unwrap_or("");
            } else if line.is_empty() {
                section = "";
            } else if !line.starts_with(';') {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() >= 5 {
                    let record = (
                        fields[0].to_owned(),
                        fields[3].to_owned(),
                        fields[4..].join(" "),
                    );
                    match section {
                        "ANSWER" => {
                            response
                                .answer_ttls
                                .push(fields[1].parse().unwrap_or(u32::MAX));
                            response.answer.push(record);
                        }
                        "AUTHORITY" => response.authority.push(record),
                        _ => {}
                    }
                }
            }
        }
        response
    }

    /// The data of the answer's records of `rtype`, sorted.
    pub fn answer_data(&self, rtype: &str) -> Vec<String> {
        let mut data: Vec<String> = self
            .answer
            .iter()
            .filter(|(_, t, _)| t == rtype)
            .map(|(_, _, d)| d.clone())
            .collect();
        data.sort();
        data
    }

    pub fn is_authoritative(&self) -> bool {
        self.flags.iter().any(|f| f == "aa")
    }

    /// The serial of the SOA in the answer or, for a negative answer, in the
    /// authority section.
    pub fn soa_serial(&self) -> Option<u32> {
        self.answer
            .iter()
            .chain(&self.authority)
            .find(|(_, t, _)| t == "SOA")
            .and_then(|(_, _, data)| data.split_whitespace().nth(2)?.parse().ok())
    }
}

/// `dig @127.0.0.1 -p PORT ARGS`, parsed (no answer at all: status `none`).
pub fn dig(port: u16, args: &[&str]) -> Response {
    let out = super::dns::dig_output(port, args);
    Response::parse(&String::from_utf8_lossy(&out.stdout))
}
