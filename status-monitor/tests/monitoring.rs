//! The alerts and the dashboard of `deploy/components/monitoring`, as an
//! operator's Prometheus runs them: `promtool check rules`, `promtool test
//! rules` firing and clearing every alert, and a real Prometheus (Debian's)
//! scraping a running status-monitor and the CoreDNS beside it, where every
//! alert evaluates without error and every dashboard panel's query has series.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::coredns::CoreDns;
use common::monitor::{Monitor, wait_until};
use serde_json::Value;

fn component() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/components/monitoring")
}

/// The PrometheusRule's `spec`, which is a Prometheus rule file: the lines
/// after `spec:`, two spaces less indented.
fn rule_file() -> String {
    let rule = std::fs::read_to_string(component().join("prometheus-rule.yaml")).unwrap();
    let spec = rule.split_once("\nspec:\n").unwrap().1;
    spec.lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

fn alert_names(rules: &str) -> BTreeSet<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
        .map(str::to_owned)
        .collect()
}

fn promtool(args: &[&OsStr]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian's prometheus package; hack/install-test-deps.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn every_alert_passes_promtool_and_is_fired_and_cleared_by_its_unit_test() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file();
    std::fs::write(dir.path().join("rules.yaml"), &rules).unwrap();
    let tests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/monitoring/alerts-test.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("alerts-test.yaml"), &tests).unwrap();

    let names = alert_names(&rules);
    assert_eq!(names.len(), 8, "{names:?}");
    let checked = promtool(&[
        OsStr::new("check"),
        OsStr::new("rules"),
        dir.path().join("rules.yaml").as_os_str(),
    ]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    promtool(&[
        OsStr::new("test"),
        OsStr::new("rules"),
        dir.path().join("alerts-test.yaml").as_os_str(),
    ]);

    // Each alert is expected to fire at one time and to be gone at a later one.
    for name in &names {
        let cases: Vec<&str> = tests
            .split("- alertname: ")
            .chain(tests.split("- {alertname: "))
            .skip(1)
            .filter(|case| {
                case.starts_with(&format!("{name},")) || case.starts_with(&format!("{name}\n"))
            })
            .collect();
        let fires = cases.iter().any(|case| case.contains("exp_labels"));
        let clears = cases.iter().any(|case| case.contains("exp_alerts: []"));
        assert!(fires && clears, "{name}: fires {fires}, clears {clears}");
    }
}

/// A port nothing listens on yet.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Prometheus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `targets` every second, all labelled as the PodMonitor's
    /// targets are (namespace, pod), with the alerts loaded.
    fn start(targets: &[String], rules: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [rules.yaml]\n\
             scrape_configs:\n\
             - job_name: kubevirt-dns\n  \
               static_configs:\n  \
               - targets: [{}]\n    \
                 labels: {{namespace: kubevirt-dns, pod: kubevirt-dns-0}}\n",
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("prometheus (Debian's prometheus package; hack/install-test-deps.sh)");
        Self {
            child,
            address,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }

    fn api(&self, path: &str) -> Option<Value> {
        let (status, body) = common::http_get(&self.address, path).ok()?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// The result of an instant query; panics if Prometheus rejects it.
    fn query(&self, expr: &str) -> Vec<Value> {
        let (status, body) = common::http_get(
            &self.address,
            &format!("/api/v1/query?query={}", encode(expr)),
        )
        .unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap_or_default();
        assert!(
            status == 200 && answer["status"] == "success",
            "{expr}: {status} {body}"
        );
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Percent-encoding of a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every panel query of the dashboard, with its variables as Grafana fills
/// them for the default namespace.
fn panel_queries() -> Vec<(String, String)> {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(component().join("dashboard.json")).unwrap())
            .unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap().to_owned();
            panel["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |target| {
                    let expr = target["expr"]
                        .as_str()
                        .unwrap()
                        .replace("$namespace", "kubevirt-dns")
                        .replace("$__rate_interval", "1m");
                    (title.clone(), expr)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_real_prometheus_evaluates_every_alert_and_every_dashboard_panel_has_series() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    common::write_atomically(
        source.path(),
        "web.json",
        &common::fixtures::vmi_manifest("lab", "web", "10.10.0.5"),
    );
    // One VMI left out (it has stopped), so that the skip panel has a reason.
    common::write_atomically(
        source.path(),
        "done.json",
        r#"{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": "done", "namespace": "lab"}, "status": {"phase": "Succeeded"}}"#,
    );
    let local = format!("127.0.0.1:{}", coredns.ports.dns);
    let monitor = Monitor::spawn(
        zones.path(),
        &[("LOCAL_DNS_ADDR", &local)],
        &[OsStr::new("--source-dir"), source.path().as_os_str()],
    );
    monitor.wait_until_ready();
    assert_eq!(
        monitor.metric("kubevirt_dns_objects_skipped_total{reason=\"final_phase\"}"),
        1.0
    );
    let prometheus = Prometheus::start(
        &[
            monitor.http_address(),
            format!("127.0.0.1:{}", coredns.ports.metrics),
        ],
        &rule_file(),
    );
    wait_until(
        "Prometheus to scrape both targets",
        || prometheus.log(),
        || {
            let targets = prometheus.api("/api/v1/targets")?;
            let active = targets["data"]["activeTargets"].as_array()?.clone();
            (active.len() == 2 && active.iter().all(|t| t["health"] == "up")).then_some(())
        },
    );
    // Changes to serve and queries to answer while Prometheus scrapes, so
    // that rates have two samples with something between them.
    for (i, address) in ["10.10.0.6", "10.10.0.7", "10.10.0.8"].iter().enumerate() {
        common::write_atomically(
            source.path(),
            "web.json",
            &common::fixtures::vmi_manifest("lab", "web", address),
        );
        for _ in 0..5 {
            coredns.dig(&["web.lab.vm.example.com", "A"]);
        }
        wait_until(
            "the change to be served",
            || monitor.log(),
            || {
                (monitor.metric("kubevirt_dns_change_to_served_seconds_count") >= (i + 2) as f64)
                    .then_some(())
            },
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(2));

    // Every alert: loaded, evaluated, healthy.
    let rules = wait_until(
        "every alert to be evaluated",
        || prometheus.log(),
        || {
            let groups = prometheus.api("/api/v1/rules")?;
            let rules: Vec<Value> = groups["data"]["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            rules
                .iter()
                .all(|r| {
                    r["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001"))
                })
                .then_some(rules)
        },
    );
    let evaluated: BTreeSet<String> = rules
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(evaluated, alert_names(&rule_file()));
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule}");
        // Nothing is wrong here, so nothing fires.
        assert_eq!(rule["state"], "inactive", "{rule}");
        prometheus.query(rule["query"].as_str().unwrap());
    }

    // Every panel's query returns series.
    let queries = panel_queries();
    assert!(queries.len() >= 15, "{queries:?}");
    for (panel, expr) in queries {
        let series = prometheus.query(&expr);
        assert!(!series.is_empty(), "panel {panel:?}: no series for {expr}");
    }
}
