//! Zone transfers as users set them up: the TSIG key made by the
//! command in docs/secondaries.md, CoreDNS serving the Corefile of deploy/components/zone-transfer,
//! and knotd as a secondary configured with the Knot configuration of docs/secondaries.md (only
//! addresses, ports and directories changed).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use tempfile::TempDir;

use super::cluster::repo_root;
use super::coredns::CoreDns;
use super::dns::{dig_output, free_udp_and_tcp_port, knotc, knotd_log, start_knotd};

/// The code block under `<!-- secondaries: NAME -->` in docs/secondaries.md.
pub fn readme_block(name: &str) -> String {
    let readme = fs::read_to_string(repo_root().join("docs/secondaries.md")).unwrap();
    let marker = format!("<!-- secondaries: {name} -->\n");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("docs/secondaries.md has no {marker:?}"))
        .1;
    let body = after
        .strip_prefix("```")
        .and_then(|rest| rest.split_once('\n'))
        .unwrap_or_else(|| panic!("a code block follows {marker:?}"))
        .1;
    body.split_once("```\n")
        .unwrap_or_else(|| panic!("the code block after {marker:?} ends"))
        .0
        .to_owned()
}

/// `text` with each `(from, to)` replaced; every `from` must be there.
pub fn adapted(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut text = text.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "{from:?} is not in:\n{text}");
        text = text.replace(from, to);
    }
    text
}

/// The TSIG key, made by the command in docs/secondaries.md in a directory of its own.
pub struct TransferKey {
    dir: TempDir,
    /// The base64 secret, for Knot's configuration and dig.
    pub secret: String,
}

pub const KEY_NAME: &str = "kubevirt-dns-transfer";

impl TransferKey {
    pub fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(readme_block("make-key"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(dir.path().join("transfer.key")).unwrap();
        Self::from_text(dir, &text)
    }

    /// A key file's text (the format of docs/secondaries.md), kept in `dir`.
    pub fn from_text(dir: TempDir, text: &str) -> Self {
        fs::write(dir.path().join("transfer.key"), text).unwrap();
        let secret = text
            .split_once("secret \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .unwrap_or_else(|| panic!("no secret in transfer.key:\n{text}"))
            .0
            .to_owned();
        assert_eq!(secret.len(), 44, "32 random bytes in base64: {text}");
        Self { dir, secret }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("transfer.key")
    }

    /// dig's `-y` argument for this key.
    pub fn dig_arg(&self) -> String {
        format!("hmac-sha256:{KEY_NAME}:{}", self.secret)
    }
}

/// The Corefile of deploy/components/zone-transfer, exactly as shipped.
pub fn zone_transfer_corefile() -> String {
    let path = repo_root().join("deploy/components/zone-transfer/config.yaml");
    let config: serde_json::Value =
        serde_saphyr::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    config["data"]["Corefile"].as_str().unwrap().to_owned()
}

/// CoreDNS serving `zones_dir` with the zone-transfer Corefile and `key`.
pub fn serve_transfers(zones_dir: &Path, key: &TransferKey) -> Option<CoreDns> {
    serve_transfers_with(zones_dir, key, &[])
}

/// Like [`serve_transfers`], with `replacements` made in the Corefile.
pub fn serve_transfers_with(
    zones_dir: &Path,
    key: &TransferKey,
    replacements: &[(&str, &str)],
) -> Option<CoreDns> {
    let key_path = key.path();
    let mut replacements = replacements.to_vec();
    replacements.push(("/etc/coredns-tsig/transfer.key", key_path.to_str().unwrap()));
    let corefile = adapted(&zone_transfer_corefile(), &replacements);
    CoreDns::serve_corefile(zones_dir, &corefile)
}

/// knotd as a secondary, killed on drop.
pub struct KnotSecondary {
    dir: TempDir,
    pub port: u16,
    child: Child,
}

impl KnotSecondary {
    /// knotd with the configuration `block` of docs/secondaries.md, transferring from CoreDNS
    /// at `primary_port` with `key`, accepting NOTIFY from 127.0.0.1.
    pub fn start(block: &str, primary_port: u16, key: &TransferKey) -> Self {
        let primary = format!("127.0.0.1@{primary_port}");
        Self::start_at(block, "127.0.0.2", &primary, "127.0.0.1", key)
    }

    /// The same listening on `listen` (an address), transferring from
    /// `primary` (`address@port`), accepting NOTIFY from `notify_from` (a prefix).
    pub fn start_at(
        block: &str,
        listen: &str,
        primary: &str,
        notify_from: &str,
        key: &TransferKey,
    ) -> Self {
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_udp_and_tcp_port();
            let d = dir.path().to_str().unwrap();
            let config = adapted(
                &readme_block(block),
                &[
                    ("/run/knot", d),
                    ("/var/lib/knot", d),
                    // Also on loopback, where answers() asks.
                    (
                        "0.0.0.0@53",
                        &format!("[{listen}@{port}, 127.0.0.1@{port}]"),
                    ),
                    ("192.0.2.53@31111", primary),
                    ("192.0.2.0/24", notify_from),
                    ("SECRET_OF_TRANSFER_KEY", &key.secret),
                ],
            );
            // Info, for the tests to see NOTIFY and transfers in its log.
            let config = format!("{config}log:\n  - target: stderr\n    any: info\n");
            fs::write(dir.path().join("knot.conf"), config).unwrap();
            match start_knotd(dir.path()) {
                Ok(child) => return Self { dir, port, child },
                Err(log) => last_log = log,
            }
        }
        panic!("knotd did not start:\n{last_log}");
    }

    pub fn log(&self) -> String {
        knotd_log(self.dir.path())
    }

    pub fn knotc(&self, args: &[&str]) -> Output {
        knotc(self.dir.path(), args)
    }

    /// Whether knotd has `zone` (with the final dot) loaded.
    pub fn has_zone(&self, zone: &str) -> bool {
        let out = self.knotc(&["zone-status", zone]);
        out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("serial: none")
    }

    /// `dig +short NAME TYPE` against knotd: the sorted answers.
    pub fn answers(&self, name: &str, rtype: &str) -> Vec<String> {
        sorted_answers(self.port, name, rtype)
    }
}

impl Drop for KnotSecondary {
    fn drop(&mut self) {
        stop(&mut self.child, "knotd", || knotd_log(self.dir.path()));
    }
}

/// Kills a secondary's process and, when a test failed, prints its log.
fn stop(child: &mut Child, name: &str, log: impl FnOnce() -> String) {
    let _ = child.kill();
    let _ = child.wait();
    if std::thread::panicking() {
        eprintln!("{name}'s log:\n{}", log());
    }
}

/// named (BIND 9.18) as a secondary following the catalog with the
/// configuration `bind-catalog` of docs/secondaries.md, killed on drop.
pub struct BindSecondary {
    dir: TempDir,
    pub port: u16,
    child: Child,
}

impl BindSecondary {
    /// named listening on `listen` and loopback, transferring from `primary`
    /// port `primary_port` with `key`, accepting NOTIFY from `notify_from` (a
    /// prefix).
    pub fn start_at(
        listen: &str,
        primary: &str,
        primary_port: u16,
        notify_from: &str,
        key: &TransferKey,
    ) -> Self {
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().to_str().unwrap();
            fs::create_dir(dir.path().join("kubevirt-dns")).unwrap();
            let port = free_udp_and_tcp_port();
            // Only where it listens, its files and the addresses change.
            let listening = format!(
                "directory \"{d}\";\n    listen-on port {port} {{ 127.0.0.1; {listen}; }};\n    \
                 listen-on-v6 {{ none; }};\n    pid-file \"{d}/named.pid\";\n    \
                 session-keyfile \"{d}/session.key\";\n    recursion no;"
            );
            let config = adapted(
                &readme_block("bind-catalog"),
                &[
                    ("/etc/bind/transfer.key", key.path().to_str().unwrap()),
                    ("directory \"/var/cache/bind\";", &listening),
                    (
                        "192.0.2.53 port 31111",
                        &format!("{primary} port {primary_port}"),
                    ),
                    ("192.0.2.0/24", notify_from),
                ],
            );
            // No rndc: no control channel to set up.
            let config = format!("{config}controls {{ }};\n");
            let path = dir.path().join("named.conf");
            fs::write(&path, config).unwrap();
            let log = fs::File::create(dir.path().join("named.log")).unwrap();
            let mut child = Command::new("named")
                .args(["-g", "-n", "1", "-c"])
                .arg(&path)
                .stderr(log)
                .spawn()
                .expect("named (apt-get install bind9)");
            let started = std::time::Instant::now();
            let running = loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break false;
                }
                if named_log(dir.path()).contains("running") {
                    break true;
                }
                if started.elapsed() > std::time::Duration::from_secs(20) {
                    let _ = child.kill();
                    break false;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            if running {
                return Self { dir, port, child };
            }
            let _ = child.wait();
            last_log = named_log(dir.path());
        }
        panic!("named did not start:\n{last_log}");
    }

    pub fn log(&self) -> String {
        named_log(self.dir.path())
    }

    /// `dig +short NAME TYPE` against named: the sorted answers.
    pub fn answers(&self, name: &str, rtype: &str) -> Vec<String> {
        sorted_answers(self.port, name, rtype)
    }
}

impl Drop for BindSecondary {
    fn drop(&mut self) {
        stop(&mut self.child, "named", || named_log(self.dir.path()));
    }
}

fn named_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("named.log")).unwrap_or_default()
}

/// `dig +short NAME TYPE` against the server on loopback `port`, sorted.
fn sorted_answers(port: u16, name: &str, rtype: &str) -> Vec<String> {
    let out = dig_output(port, &["+short", name, rtype]);
    let mut answers: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with(';'))
        .map(str::to_owned)
        .collect();
    answers.sort();
    answers
}
