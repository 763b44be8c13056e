//! A real control plane on loopback: etcd and two kube-apiservers sharing it,
//! with RBAC enforced and static-token identities.
//!
//! The monitor talks to `watched` (port A); the test's own admin requests go
//! through `admin` (port B), so that `watched` can be stopped while VMIs change
//! behind the monitor's back, as in an outage of the apiserver it is connected to.
//!
//! Binaries follow the envtest convention: `$KUBEBUILDER_ASSETS`, else what
//! `hack/kube-assets.sh` builds and caches.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::monitor::wait_until;

pub const MONITOR_NAMESPACE: &str = "kubevirt-dns";
pub const MONITOR_SERVICE_ACCOUNT: &str = "status-monitor";
const ADMIN_TOKEN: &str = "admin-token-for-tests";
const MONITOR_TOKEN: &str = "status-monitor-token-for-tests";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory with `kube-apiserver` and `etcd`.
fn assets() -> PathBuf {
    let output = Command::new(repo_root().join("hack/kube-assets.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run hack/kube-assets.sh");
    assert!(output.status.success(), "hack/kube-assets.sh failed");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Cluster {
    dir: TempDir,
    assets: PathBuf,
    etcd_port: u16,
    watched_port: u16,
    admin_port: u16,
    watched: Option<Process>,
    admin: Option<Process>,
    _etcd: Process,
}

impl Cluster {
    /// etcd + both apiservers, the VMI CRD and the shipped RBAC applied.
    pub fn start() -> Self {
        let assets = assets();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=test-ca",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=kube-apiserver",
            ],
        );
        fs::write(
            d.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
        openssl(d, &["genrsa", "-out", "sa.key", "2048"]);
        openssl(d, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
        let sa_user =
            format!("system:serviceaccount:{MONITOR_NAMESPACE}:{MONITOR_SERVICE_ACCOUNT}");
        fs::write(
            d.join("tokens.csv"),
            format!(
                "{ADMIN_TOKEN},admin,1,\"system:masters\"\n\
                 {MONITOR_TOKEN},{sa_user},2,\"system:serviceaccounts,system:serviceaccounts:{MONITOR_NAMESPACE},system:authenticated\"\n"
            ),
        )
        .unwrap();

        let etcd_port = free_port();
        let peer_port = free_port();
        let etcd = Command::new(assets.join("etcd"))
            .args(["--data-dir", d.join("etcd").to_str().unwrap()])
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{etcd_port}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{etcd_port}"),
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer_port}"),
            ])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer_port}"),
            ])
            .args([
                "--initial-cluster",
                &format!("default=http://127.0.0.1:{peer_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(fs::File::create(d.join("etcd.log")).unwrap())
            .spawn()
            .expect("start etcd");

        let mut cluster = Self {
            assets,
            etcd_port,
            watched_port: free_port(),
            admin_port: free_port(),
            watched: None,
            admin: None,
            _etcd: Process(etcd),
            dir,
        };
        cluster.write_kubeconfig("admin", cluster.admin_port, ADMIN_TOKEN);
        cluster.write_kubeconfig("monitor", cluster.watched_port, MONITOR_TOKEN);
        cluster.write_kubeconfig("admin-via-watched", cluster.watched_port, ADMIN_TOKEN);
        cluster.admin = Some(cluster.spawn_apiserver(cluster.admin_port, "admin"));
        cluster.watched = Some(cluster.spawn_apiserver(cluster.watched_port, "watched"));
        cluster.wait_ready("admin");
        cluster.wait_ready("admin-via-watched");

        let root = repo_root();
        cluster.install_crd("vmi-crd.yaml", "virtualmachineinstances.kubevirt.io", "vmi");
        for manifest in [
            "namespace.yaml",
            "service-account.yaml",
            "cluster-role.yaml",
            "cluster-role-binding.yaml",
            "role.yaml",
            "role-binding.yaml",
        ] {
            cluster.kubectl_ok(&[
                "apply",
                "-f",
                root.join("deploy/base").join(manifest).to_str().unwrap(),
            ]);
        }
        cluster
    }

    /// Applies the CRD in `tests/fixtures/<fixture>`, waits until `crd` is
    /// established and both apiservers serve `resource`: before that, a watch
    /// of it fails.
    pub fn install_crd(&self, fixture: &str, crd: &str, resource: &str) {
        let path = repo_root()
            .join("status-monitor/tests/fixtures")
            .join(fixture);
        self.kubectl_ok(&["apply", "-f", path.to_str().unwrap()]);
        self.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=60s",
        ]);
        for identity in ["admin", "admin-via-watched"] {
            wait_until(&format!("{resource} to be served"), String::new, || {
                self.kubectl_as(identity, &["get", resource, "-A"])
                    .status
                    .success()
                    .then_some(())
            });
        }
    }

    /// The monitor's context is in its namespace, as its pod's is in-cluster.
    fn write_kubeconfig(&self, name: &str, port: u16, token: &str) {
        let ca = self.dir.path().join("ca.crt");
        let namespace = if token == MONITOR_TOKEN {
            MONITOR_NAMESPACE
        } else {
            "default"
        };
        fs::write(
            self.kubeconfig(name),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {ca}\n\
                 users:\n- name: {name}\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: {name}\n    namespace: {namespace}\n\
                 current-context: test\n",
                ca = ca.display()
            ),
        )
        .unwrap();
    }

    /// The kubeconfig of an identity: `admin`, `monitor` or `admin-via-watched`.
    pub fn kubeconfig(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.kubeconfig"))
    }

    fn spawn_apiserver(&self, port: u16, name: &str) -> Process {
        let d = self.dir.path();
        let path = |f: &str| d.join(f).to_str().unwrap().to_owned();
        let child = Command::new(self.assets.join("kube-apiserver"))
            .arg(format!(
                "--etcd-servers=http://127.0.0.1:{}",
                self.etcd_port
            ))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg(format!("--secure-port={port}"))
            .args(["--insecure-port=0", "--endpoint-reconciler-type=none"])
            .arg(format!("--tls-cert-file={}", path("server.crt")))
            .arg(format!("--tls-private-key-file={}", path("server.key")))
            .arg(format!("--client-ca-file={}", path("ca.crt")))
            .arg(format!("--token-auth-file={}", path("tokens.csv")))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg(format!("--service-account-key-file={}", path("sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                path("sa.key")
            ))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg(format!("--cert-dir={}", path(&format!("certs-{name}"))))
            .stdout(Stdio::null())
            .stderr(fs::File::create(d.join(format!("apiserver-{name}.log"))).unwrap())
            .spawn()
            .expect("start kube-apiserver");
        Process(child)
    }

    fn wait_ready(&self, identity: &str) {
        wait_until(
            &format!("kube-apiserver ({identity}) to be ready"),
            || self.apiserver_logs(),
            || {
                let out = self.kubectl_as(identity, &["get", "--raw", "/readyz"]);
                (out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok")
                    .then_some(())
            },
        );
    }

    fn apiserver_logs(&self) -> String {
        ["apiserver-admin.log", "apiserver-watched.log", "etcd.log"]
            .iter()
            .map(|f| {
                let text = fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect()
    }

    /// Stops the apiserver the monitor is connected to (an outage, as it sees it).
    pub fn stop_watched(&mut self) {
        self.watched = None;
    }

    pub fn start_watched(&mut self) {
        self.watched = Some(self.spawn_apiserver(self.watched_port, "watched"));
        self.wait_ready("admin-via-watched");
    }

    pub fn kubectl_as(&self, identity: &str, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig(identity))
            .args(["--request-timeout=20s"])
            .args(args)
            .output()
            .expect("kubectl (preinstalled; see DEVELOPERS.md)")
    }

    /// kubectl as admin; panics with its output on failure.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl_as("admin", args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl reading a manifest from stdin; its output.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> String {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(self.kubeconfig("admin"))
            .args(args);
        let out = super::output_with_stdin(&mut command, input.as_bytes());
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Compacts etcd's history up to its current revision, so that watches from
    /// an older resourceVersion get 410 Gone.
    pub fn compact_etcd(&self) {
        let endpoint = format!("http://127.0.0.1:{}", self.etcd_port);
        let status = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &endpoint,
                "endpoint",
                "status",
                "--write-out=json",
            ])
            .output()
            .expect("etcdctl (etcd-client)");
        let json: serde_json::Value =
            serde_json::from_slice(&status.stdout).expect("etcdctl status JSON");
        let revision = json[0]["Status"]["header"]["revision"]
            .as_i64()
            .expect("revision");
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &endpoint,
                "compact",
                &revision.to_string(),
                "--physical",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "etcdctl compact: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn settle() {
        std::thread::sleep(Duration::from_millis(500));
    }
}
