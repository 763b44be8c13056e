//! The integration tier: status-monitor against a real etcd + kube-apiserver
//! with RBAC enforced, authenticated as the service account the deployment ships,
//! its zone served by real DNS servers and asked with dig: knotd (reloaded on
//! demand) and CoreDNS with the shipped Corefile (COREDNS or
//! ../shared/bin/coredns; reloading on its own schedule, as in the pod).
//!
//! Run with `make integration` (builds or reuses kube-apiserver; see
//! hack/kube-assets.sh). Each scenario starts its own control plane.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::cluster::{Cluster, repo_root};
use common::coredns::CoreDns;
use common::dns::{Knot, check_zone_file};
use common::monitor::{Monitor, fqdn, wait_until};
use common::vmis::Vmis;
use futures::{StreamExt, stream};
use tempfile::TempDir;

/// A control plane, a zones directory served by knotd and CoreDNS, and (once
/// started) the monitor.
struct Setup {
    cluster: Cluster,
    vmis: Vmis,
    zones: TempDir,
    knot: Knot,
    /// `None` only where no CoreDNS binary is provided (said on stderr).
    coredns: Option<CoreDns>,
}

impl Setup {
    async fn new() -> Self {
        let cluster = Cluster::start();
        let vmis = Vmis::connect(&cluster).await;
        let zones = tempfile::tempdir().unwrap();
        let knot = Knot::serve(zones.path());
        let coredns = CoreDns::serve(zones.path());
        Self {
            cluster,
            vmis,
            zones,
            knot,
            coredns,
        }
    }

    /// CoreDNS answers NAME TYPE with `expected` (once it has reloaded).
    fn coredns_answers(&self, name: &str, rtype: &str, expected: &[&str]) {
        if let Some(coredns) = &self.coredns {
            let response = coredns.wait_for_answer(name, rtype, expected);
            assert!(response.is_authoritative(), "{}", response.text);
        }
    }

    /// CoreDNS answers NAME with NXDOMAIN (once it has reloaded).
    fn coredns_nxdomain(&self, name: &str) {
        if let Some(coredns) = &self.coredns {
            coredns.wait_for_rcode(name, "A", "NXDOMAIN");
        }
    }

    /// status-monitor in Kubernetes mode, as the shipped service account.
    fn start_monitor(&self) -> Monitor {
        self.start_monitor_with(&[])
    }

    fn start_monitor_with(&self, extra_env: &[(&str, &str)]) -> Monitor {
        let kubeconfig = self.cluster.kubeconfig("monitor");
        let mut env = vec![("KUBECONFIG", kubeconfig.to_str().unwrap())];
        env.extend_from_slice(extra_env);
        Monitor::spawn(self.zones.path(), &env, &[] as &[&OsStr])
    }

    fn ready_monitor(&self) -> Monitor {
        let monitor = self.start_monitor();
        monitor.wait_until_ready();
        monitor
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn vmi_lifecycle_shows_in_the_zone_and_in_dns_answers() {
    let s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    s.vmis.create("lab", "web", &["red"]).await;
    let monitor = s.ready_monitor();
    let zone = monitor.wait_for_zone("the first zone", |_| true);
    assert!(
        zone.get(&fqdn("web.lab"), "A").is_empty(),
        "no address yet, no record"
    );
    assert_eq!(s.knot.rcode(&fqdn("web.lab")), "NXDOMAIN");
    s.coredns_nxdomain(&fqdn("web.lab"));

    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.10.0.5"])])
        .await;
    monitor.wait_for_zone("the A record", |z| {
        z.get(&fqdn("red.web.lab"), "A") == ["10.10.0.5"]
    });
    assert_eq!(s.knot.answers(&fqdn("red.web.lab"), "A"), ["10.10.0.5"]);
    assert_eq!(s.knot.answers(&fqdn("web.lab"), "A"), ["10.10.0.5"]);
    s.coredns_answers(&fqdn("red.web.lab"), "A", &["10.10.0.5"]);
    s.coredns_answers(&fqdn("web.lab"), "A", &["10.10.0.5"]);
    check_zone_file(&monitor.zone_path());

    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.10.0.5", "fd00:10::5"])])
        .await;
    monitor.wait_for_zone("the AAAA record", |z| {
        z.get(&fqdn("red.web.lab"), "AAAA") == ["fd00:10::5"]
    });
    assert_eq!(s.knot.answers(&fqdn("red.web.lab"), "AAAA"), ["fd00:10::5"]);
    s.coredns_answers(&fqdn("red.web.lab"), "AAAA", &["fd00:10::5"]);

    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.10.0.6", "fd00:10::5"])])
        .await;
    monitor.wait_for_zone("the changed A record", |z| {
        z.get(&fqdn("red.web.lab"), "A") == ["10.10.0.6"]
    });
    assert_eq!(s.knot.answers(&fqdn("red.web.lab"), "A"), ["10.10.0.6"]);
    s.coredns_answers(&fqdn("red.web.lab"), "A", &["10.10.0.6"]);
    check_zone_file(&monitor.zone_path());

    // A status update that changes nothing we publish (phase, conditions) costs no write.
    let writes = monitor.zone_writes();
    let unchanged = monitor.log().matches("changed=false").count();
    s.vmis
        .patch_status("lab", "web", serde_json::json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}))
        .await;
    monitor.wait_for_log("changed=false", unchanged + 1);
    Cluster::settle();
    assert_eq!(monitor.zone_writes(), writes);

    s.vmis.delete("lab", "web").await;
    monitor.wait_for_zone("the VM to go", |z| {
        z.address_owners().iter().all(|n| !n.contains("web"))
    });
    assert_eq!(s.knot.rcode(&fqdn("red.web.lab")), "NXDOMAIN");
    s.coredns_nxdomain(&fqdn("red.web.lab"));
}

/// The default layout on the real API: a zone per namespace, a namespace
/// called `ns` beside the name server, zones gone with their last VM.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn namespace_zones_follow_the_vms_of_each_namespace() {
    let mut s = Setup::new().await;
    for namespace in ["lab", "ns"] {
        s.vmis.create_namespace(namespace).await;
    }
    s.vmis.create("lab", "web", &["red"]).await;
    s.vmis.create("ns", "tools", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.10.0.5"])])
        .await;
    s.vmis
        .set_interfaces("ns", "tools", &[("red", &["10.10.0.9"])])
        .await;
    let monitor = s.start_monitor_with(&[("ZONE_LAYOUT", "namespace")]);
    let lab_zone = s.zones.path().join("db.lab.vm.example.com");
    wait_until(
        "the zone of lab",
        || monitor.log(),
        || lab_zone.exists().then_some(()),
    );
    assert!(!s.zones.path().join("db.ns.vm.example.com").exists());
    common::check_zone_with_bind_and_knot(&lab_zone, "lab.vm.example.com");
    s.coredns_answers(&fqdn("red.web.lab"), "A", &["10.10.0.5"]);
    s.coredns_answers(&fqdn("red.tools.ns"), "A", &["10.10.0.9"]);
    s.coredns_answers(&fqdn("ns"), "A", &[common::monitor::NAME_SERVER_IP]);

    s.vmis.delete("lab", "web").await;
    wait_until(
        "the zone of lab to go",
        || monitor.log(),
        || (!lab_zone.exists()).then_some(()),
    );
    s.coredns_nxdomain(&fqdn("red.web.lab"));
    s.coredns_answers(&fqdn("red.tools.ns"), "A", &["10.10.0.9"]);
    // CoreDNS's reload of the removed zone may run before `auto` sees it gone.
    if let Some(coredns) = s.coredns.as_mut() {
        for error in coredns.take_zone_file_errors() {
            assert!(error.contains("\"lab.vm.example.com.\""), "{error}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn many_vmis_at_once_give_one_consistent_zone_in_few_writes() {
    let s = Setup::new().await;
    let monitor = s.ready_monitor();
    monitor.wait_for_zone("the empty zone", |_| true);
    let writes_before = monitor.zone_writes();

    let namespaces: Vec<String> = (0..10).map(|i| format!("team-{i}")).collect();
    for ns in &namespaces {
        s.vmis.create_namespace(ns).await;
    }
    let vms: Vec<(String, String, String)> = namespaces
        .iter()
        .enumerate()
        .flat_map(|(n, ns)| {
            (0..20).map(move |v| (ns.clone(), format!("vm-{v}"), format!("10.{n}.{v}.1")))
        })
        .collect();
    let burst = std::time::Instant::now();
    stream::iter(&vms)
        .for_each_concurrent(16, |(ns, name, address)| {
            let vmis = &s.vmis;
            async move {
                vmis.create(ns, name, &["data"]).await;
                vmis.set_interfaces(ns, name, &[("data", &[address.as_str()])])
                    .await;
            }
        })
        .await;
    let creating = burst.elapsed();

    let zone = monitor.wait_for_zone("all 200 VMs", |z| {
        z.address_owners().len() == 2 * vms.len() + 1
    });
    for (ns, name, address) in &vms {
        assert_eq!(
            zone.get(&fqdn(&format!("data.{name}.{ns}")), "A"),
            [address.as_str()]
        );
    }
    check_zone_file(&monitor.zone_path());
    assert_eq!(
        s.knot.answers(&fqdn("data.vm-19.team-9"), "A"),
        ["10.9.19.1"]
    );
    let writes = monitor.zone_writes() - writes_before;
    // The debounce writes at least every DEBOUNCE_MAX_DELAY_MS (2 s) during a
    // constant stream: a slow machine that takes longer to create the VMIs
    // legitimately gets a few more writes.
    let allowed = (creating.as_secs_f64() / 2.0).ceil() + 2.0;
    assert!(
        writes <= allowed.max(4.0) && writes <= 40.0,
        "400 API writes in {creating:?} should coalesce into a few zone writes, not {writes}"
    );
    assert_eq!(monitor.metric("kubevirt_dns_vmis_known"), 200.0);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn not_ready_until_the_initial_list_is_written_and_never_a_partial_zone() {
    let mut s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    for i in 0..30 {
        let name = format!("vm-{i}");
        s.vmis.create("lab", &name, &["red"]).await;
        s.vmis
            .set_interfaces("lab", &name, &[("red", &[&format!("10.0.0.{}", i + 1)])])
            .await;
    }
    s.cluster.stop_watched();
    let monitor = s.start_monitor();
    let address = monitor.http_address();
    assert_eq!(
        common::http_get(&address, "/healthz").unwrap().0,
        200,
        "alive while the API is away"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(monitor.http_status("/readyz"), 503);
    assert!(
        monitor.zone().is_none(),
        "nothing written before the list is complete"
    );

    s.cluster.start_watched();
    monitor.wait_until_ready();
    let zone = monitor.zone().unwrap();
    assert_eq!(
        zone.address_owners().len(),
        2 * 30 + 1,
        "the first zone is complete"
    );
    assert_eq!(monitor.zone_writes(), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn an_api_outage_never_empties_the_zone_and_it_converges_afterwards() {
    let mut s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    for (name, address) in [("a", "10.0.0.1"), ("b", "10.0.0.2")] {
        s.vmis.create("lab", name, &["red"]).await;
        s.vmis
            .set_interfaces("lab", name, &[("red", &[address])])
            .await;
    }
    let monitor = s.ready_monitor();
    monitor.wait_for_zone("a and b", |z| z.address_owners().len() == 5);

    // Watch every version of the zone file from now on.
    let stop = Arc::new(AtomicBool::new(false));
    let fewest = Arc::new(AtomicUsize::new(usize::MAX));
    let sampler = {
        let (stop, fewest, path) = (stop.clone(), fewest.clone(), monitor.zone_path());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).expect("the zone file never disappears");
                let zone = common::ParsedZone::parse(&text, common::monitor::ORIGIN);
                fewest.fetch_min(zone.address_owners().len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    s.cluster.stop_watched();
    let before = std::fs::read(monitor.zone_path()).unwrap();
    s.vmis.delete("lab", "a").await;
    s.vmis
        .set_interfaces("lab", "b", &[("red", &["10.0.0.22"])])
        .await;
    s.vmis.create("lab", "c", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "c", &[("red", &["10.0.0.3"])])
        .await;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        std::fs::read(monitor.zone_path()).unwrap(),
        before,
        "the zone stays as it was during the outage"
    );
    assert_eq!(
        s.knot.answers(&fqdn("a.lab"), "A"),
        ["10.0.0.1"],
        "and keeps being served"
    );
    assert_eq!(monitor.http_status("/readyz"), 200);

    s.cluster.start_watched();
    let zone = monitor.wait_for_zone("convergence", |z| {
        z.get(&fqdn("a.lab"), "A").is_empty()
            && z.get(&fqdn("b.lab"), "A") == ["10.0.0.22"]
            && z.get(&fqdn("c.lab"), "A") == ["10.0.0.3"]
    });
    assert_eq!(zone.address_owners().len(), 5);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert!(
        fewest.load(Ordering::Relaxed) >= 3,
        "the zone was never emptied"
    );
    assert_eq!(s.knot.answers(&fqdn("c.lab"), "A"), ["10.0.0.3"]);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn expired_watch_history_forces_a_relist_that_converges() {
    let mut s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    for i in 0..5 {
        let name = format!("old-{i}");
        s.vmis.create("lab", &name, &["red"]).await;
        s.vmis
            .set_interfaces("lab", &name, &[("red", &[&format!("10.1.0.{}", i + 1)])])
            .await;
    }
    let monitor = s.ready_monitor();
    monitor.wait_for_zone("the old VMs", |z| z.address_owners().len() == 11);
    assert_eq!(monitor.metric("kubevirt_dns_watch_restarts_total"), 0.0);

    s.cluster.stop_watched();
    for i in 0..5 {
        s.vmis.delete("lab", &format!("old-{i}")).await;
    }
    for i in 0..5 {
        let name = format!("new-{i}");
        s.vmis.create("lab", &name, &["red"]).await;
        s.vmis
            .set_interfaces("lab", &name, &[("red", &[&format!("10.2.0.{}", i + 1)])])
            .await;
    }
    s.cluster.compact_etcd();
    s.cluster.start_watched();

    let zone = monitor.wait_for_zone("convergence after the relist", |z| {
        let owners = z.address_owners();
        owners.len() == 11 && owners.iter().all(|n| !n.contains("old-"))
    });
    assert_eq!(zone.get(&fqdn("red.new-4.lab"), "A"), ["10.2.0.5"]);
    assert!(
        monitor.metric("kubevirt_dns_watch_restarts_total") >= 1.0,
        "a relist happened:\n{}",
        monitor.log()
    );
    assert_eq!(monitor.metric("kubevirt_dns_vmis_known"), 5.0);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn the_shipped_roles_read_vmis_and_write_only_the_serial_ledger() {
    let s = Setup::new().await;
    let can = |args: &[&str]| {
        let out = s
            .cluster
            .kubectl_as("monitor", &[&["auth", "can-i"], args].concat());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    for verb in ["get", "list", "watch"] {
        assert_eq!(
            can(&[
                verb,
                "virtualmachineinstances.kubevirt.io",
                "--all-namespaces"
            ]),
            "yes",
            "{verb}"
        );
    }
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert_eq!(
            can(&[verb, "virtualmachineinstances.kubevirt.io", "-n", "lab"]),
            "no",
            "{verb}"
        );
        assert_eq!(
            can(&[
                verb,
                "virtualmachineinstances.kubevirt.io",
                "--subresource=status",
                "-n",
                "lab"
            ]),
            "no",
            "{verb} status"
        );
    }
    // The serial ledger: its own ConfigMaps in its own namespace, nothing more.
    let ns = ["-n", "kubevirt-dns"];
    for verb in ["get", "update"] {
        for shard in ["0", "f"] {
            let name = format!("configmaps/kubevirt-dns-serials-{shard}");
            assert_eq!(
                can(&[&[verb, name.as_str()], &ns[..]].concat()),
                "yes",
                "{verb} {name}"
            );
        }
        assert_eq!(
            can(&[&[verb, "configmaps/other"], &ns[..]].concat()),
            "no",
            "{verb} other"
        );
    }
    assert_eq!(can(&[&["create", "configmaps"], &ns[..]].concat()), "yes");
    for verb in ["list", "watch", "delete", "patch"] {
        let name = "configmaps/kubevirt-dns-serials-0";
        assert_eq!(can(&[&[verb, name], &ns[..]].concat()), "no", "{verb}");
    }
    for resource in [
        "pods",
        "secrets",
        "configmaps",
        "events",
        "virtualmachines.kubevirt.io",
        "namespaces",
    ] {
        for verb in ["get", "list", "create"] {
            assert_eq!(
                can(&[verb, resource, "-n", "lab"]),
                "no",
                "{verb} {resource}"
            );
        }
    }

    // And with exactly that, the monitor works.
    s.vmis.create_namespace("lab").await;
    s.vmis.create("lab", "web", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.3.0.1"])])
        .await;
    let monitor = s.ready_monitor();
    monitor.wait_for_zone("web", |z| z.get(&fqdn("web.lab"), "A") == ["10.3.0.1"]);
    assert!(!monitor.log().contains("forbidden"), "{}", monitor.log());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn a_restart_keeps_serial_and_file_and_later_changes_grow_the_serial() {
    let s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    s.vmis.create("lab", "web", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.4.0.1"])])
        .await;
    let mut monitor = s.ready_monitor();
    let first = monitor.wait_for_zone("web", |z| !z.get(&fqdn("web.lab"), "A").is_empty());
    s.coredns_answers(&fqdn("web.lab"), "A", &["10.4.0.1"]);
    let inode = std::fs::metadata(monitor.zone_path()).unwrap().ino();
    assert!(monitor.terminate().success());
    // Served from the file while no monitor runs.
    s.coredns_answers(&fqdn("web.lab"), "A", &["10.4.0.1"]);

    let monitor = s.ready_monitor();
    monitor.wait_for_log("keeping it and its serial", 1);
    assert_eq!(
        std::fs::metadata(monitor.zone_path()).unwrap().ino(),
        inode,
        "no write when nothing changed"
    );
    assert_eq!(monitor.zone().unwrap().serial, first.serial);
    assert_eq!(monitor.zone_writes(), 0.0);

    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.4.0.2"])])
        .await;
    let later = monitor.wait_for_zone("the change", |z| {
        z.get(&fqdn("web.lab"), "A") == ["10.4.0.2"]
    });
    assert!(later.serial > first.serial);
    assert_eq!(s.knot.answers(&fqdn("web.lab"), "A"), ["10.4.0.2"]);
    s.coredns_answers(&fqdn("web.lab"), "A", &["10.4.0.2"]);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn a_vmi_whose_json_does_not_fit_is_skipped_and_the_rest_served() {
    let s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    s.vmis.create("lab", "good", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "good", &[("red", &["10.5.0.1"])])
        .await;
    s.vmis.create_malformed("lab", "broken").await;
    s.vmis.create("lab", "bad.name", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "bad.name", &[("red", &["10.5.0.3"])])
        .await;
    let monitor = s.ready_monitor();
    let zone = monitor.wait_for_zone("good", |z| {
        z.get(&fqdn("web.lab"), "A").is_empty() && !z.get(&fqdn("good.lab"), "A").is_empty()
    });
    assert_eq!(
        zone.address_owners().len(),
        3,
        "only good (and the ns glue)"
    );
    monitor.wait_for_log("lab/broken", 1);
    monitor.wait_for_log("lab/bad.name", 1);
    assert!(monitor.metric("kubevirt_dns_objects_skipped_total{reason=\"malformed\"}") >= 1.0);

    // The stream goes on after the bad object.
    s.vmis.create("lab", "later", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "later", &[("red", &["10.5.0.4"])])
        .await;
    monitor.wait_for_zone("later", |z| z.get(&fqdn("later.lab"), "A") == ["10.5.0.4"]);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn explain_reads_one_vmi_from_the_api_server_as_the_shipped_service_account() {
    let s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    s.vmis.create("lab", "good", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "good", &[("red", &["10.5.0.1", "fe80::1"])])
        .await;
    s.vmis.create_malformed("lab", "broken").await;
    let kubeconfig = s.cluster.kubeconfig("monitor");
    let explain = |args: &[&str]| {
        let out = common::run(
            common::status_monitor(&[
                ("KUBECONFIG", kubeconfig.to_str().unwrap()),
                ("DOMAIN", "example.com"),
            ])
            .arg("explain")
            .args(args),
        );
        let json = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default();
        (out.status.code(), json, common::text(&out.stderr))
    };
    let (code, good, stderr) = explain(&["-n", "lab", "-o", "json", "good"]);
    assert_eq!(code, Some(0), "{stderr}");
    let names: Vec<&str> = good["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["good.lab.vm.example.com.", "red.good.lab.vm.example.com."],
        "{good:#}"
    );
    let reasons: Vec<&str> = good["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"link_local"), "{good:#}");
    let (code, broken, _) = explain(&["-n", "lab", "-o", "json", "broken"]);
    assert_eq!(code, Some(0));
    assert_eq!(broken["left_out"][0]["reason"], "malformed", "{broken:#}");
    let (code, _, stderr) = explain(&["-n", "lab", "nothere"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no VMI lab/nothere"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn the_shipped_manifests_pass_server_side_dry_run() {
    let cluster = Cluster::start();
    let repo = repo_root();
    let path = |p: &str| repo.join(p).to_str().unwrap().to_owned();
    for (source, manifest) in [
        (
            "deploy",
            cluster.kubectl_ok(&["kustomize", &path("deploy")]),
        ),
        (
            "deploy/network-addresses",
            cluster.kubectl_ok(&["kustomize", &path("deploy/network-addresses")]),
        ),
        (
            "deploy/dns-endpoints",
            cluster.kubectl_ok(&["kustomize", &path("deploy/dns-endpoints")]),
        ),
        (
            "deploy/zone-transfer",
            cluster.kubectl_ok(&["kustomize", &path("deploy/zone-transfer")]),
        ),
        (
            "deploy/all-in-one",
            std::fs::read_to_string(path("deploy/all-in-one/kubevirt-dns.yaml")).unwrap(),
        ),
    ] {
        // Kubernetes 1.20 (the apiserver built here) serves PodDisruptionBudget
        // as policy/v1beta1 only; policy/v1 (1.21+) has the same spec fields.
        let shipped = "apiVersion: policy/v1\nkind: PodDisruptionBudget";
        assert_eq!(manifest.matches(shipped).count(), 1, "{source}: one PDB");
        let served = manifest.replace(
            shipped,
            "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget",
        );
        let out = cluster.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &served);
        for object in [
            "deployment.apps/kubevirt-dns",
            "poddisruptionbudget.policy/kubevirt-dns",
            "networkpolicy.networking.k8s.io/kubevirt-dns",
        ] {
            assert!(out.contains(object), "{source}: {object} in\n{out}");
        }
    }
    let out = cluster.kubectl_ok(&["apply", "--dry-run=server", "-f", &path("deploy/expose")]);
    assert!(out.contains("service/kubevirt-dns-nodeport"), "{out}");
}

/// Scale on a real API server: SCALE_VMIS VMIs (default 500; `make scale` uses
/// 5000) with statuses exist before status-monitor starts; reports the time to
/// the first complete zone and the monitor's peak RSS.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn scale_time_to_first_complete_zone_and_memory() {
    let count: usize = std::env::var("SCALE_VMIS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let s = Setup::new().await;
    let namespaces: Vec<String> = (0..20).map(|i| format!("scale-{i}")).collect();
    for ns in &namespaces {
        s.vmis.create_namespace(ns).await;
    }
    let created = std::time::Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(32, |i| {
            let (vmis, ns) = (&s.vmis, &namespaces[i % namespaces.len()]);
            async move {
                let name = format!("vm-{i}");
                let v4 = format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
                let v6 = format!("fd00::{:x}", i + 1);
                vmis.create(ns, &name, &["data"]).await;
                vmis.set_interfaces(ns, &name, &[("data", &[v4.as_str(), v6.as_str()])])
                    .await;
            }
        })
        .await;
    let creating = created.elapsed();

    let started = std::time::Instant::now();
    let monitor = s.start_monitor();
    // A, AAAA for the VM and for its interface, plus the ns glue.
    let zone = monitor.wait_for_zone("the complete zone", |z| {
        z.address_owners().len() == 4 * count + 1
    });
    let first_zone = started.elapsed();
    assert_eq!(
        monitor.zone_writes(),
        1.0,
        "the first zone is the complete one"
    );
    assert_eq!(
        zone.get(
            &fqdn(&format!("data.vm-{}.scale-{}", count - 1, (count - 1) % 20)),
            "A"
        )
        .len(),
        1
    );
    let rss = monitor.peak_rss_kib();
    println!(
        "scale: {count} VMIs created in {:.1} s; status-monitor: first complete zone after {:.2} s, peak RSS {:.1} MiB",
        creating.as_secs_f64(),
        first_zone.as_secs_f64(),
        rss as f64 / 1024.0
    );
}

/// ADDRESS_SOURCE=network with the optional RBAC component: a guest-reported
/// address the CNI never assigned is not published; what the CNI assigns is.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn network_addresses_only_publish_what_the_cni_assigned() {
    let s = Setup::new().await;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let rbac = repo.join("deploy/components/network-addresses/rbac.yaml");
    s.cluster
        .kubectl_ok(&["apply", "-f", rbac.to_str().unwrap()]);
    s.vmis.create_namespace("lab").await;
    // No controller-manager here to make the namespace's default ServiceAccount.
    s.cluster
        .kubectl_ok(&["-n", "lab", "create", "serviceaccount", "default"]);
    s.vmis.create("lab", "web", &["red"]).await;
    s.vmis
        .set_interfaces("lab", "web", &[("red", &["10.0.0.1", "6.6.6.6"])])
        .await;
    let launcher = |ips: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: virt-launcher-web-x7k2p\n  namespace: lab\n  labels:\n    kubevirt.io: virt-launcher\n    vm.kubevirt.io/name: web\n  annotations:\n    k8s.v1.cni.cncf.io/network-status: '[{{\"name\":\"lab/red-net\",\"interface\":\"pod1\",\"ips\":[{ips}]}}]'\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: compute\n    image: registry.invalid/virt-launcher\n"
        )
    };
    s.cluster
        .kubectl_stdin(&["apply", "-f", "-"], &launcher("\"10.0.0.1\""));

    let monitor = s.start_monitor_with(&[("ADDRESS_SOURCE", "network")]);
    monitor.wait_until_ready();
    let zone = monitor.wait_for_zone("web", |z| !z.get(&fqdn("red.web.lab"), "A").is_empty());
    assert_eq!(
        zone.get(&fqdn("red.web.lab"), "A"),
        ["10.0.0.1"],
        "the guest's 6.6.6.6 is not published"
    );
    assert_eq!(s.knot.answers(&fqdn("web.lab"), "A"), ["10.0.0.1"]);

    // The network layer assigns the second address too: now it is published.
    s.cluster
        .kubectl_stdin(&["apply", "-f", "-"], &launcher("\"10.0.0.1\",\"6.6.6.6\""));
    monitor.wait_for_zone("the CNI's second address", |z| {
        z.get(&fqdn("red.web.lab"), "A") == ["10.0.0.1", "6.6.6.6"]
    });
    assert!(!monitor.log().contains("forbidden"), "{}", monitor.log());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn reverse_zones_answer_ptr_queries_for_interface_addresses() {
    const V4: &str = "10.10.in-addr.arpa";
    const V6: &str = "0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa";
    let cluster = Cluster::start();
    let vmis = Vmis::connect(&cluster).await;
    let zones = tempfile::tempdir().unwrap();
    let knot = Knot::serve_with_reverse(zones.path(), &[V4, V6]);
    let coredns = CoreDns::serve(zones.path());
    let coredns_ptr = |address: &str, expected: &[String]| {
        if let Some(coredns) = &coredns {
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            let response = coredns.wait_for_ptr(address, &expected);
            assert!(response.is_authoritative(), "{}", response.text);
        }
    };
    vmis.create_namespace("lab").await;
    vmis.create("lab", "web", &["red", "blue"]).await;
    vmis.create("lab", "db", &["red"]).await;
    let kubeconfig = cluster.kubeconfig("monitor");
    let monitor = Monitor::spawn(
        zones.path(),
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("REVERSE_ZONES", "10.10.0.0/16,fd00:10::/64"),
        ],
        &[] as &[&OsStr],
    );

    vmis.set_interfaces(
        "lab",
        "web",
        &[
            ("red", &["10.10.0.5", "fd00:10::5"]),
            ("blue", &["192.0.2.5"]),
        ],
    )
    .await;
    // Two interfaces with one address (an anycast or a misconfiguration): both PTRs.
    vmis.set_interfaces("lab", "db", &[("red", &["10.10.0.5"])])
        .await;
    monitor.wait_for_reverse_zone(&format!("{V4}."), "both PTRs of 10.10.0.5", |z| {
        z.get("5.0.10.10.in-addr.arpa.", "PTR").len() == 2
    });
    assert_eq!(
        knot.ptr("10.10.0.5"),
        [fqdn("red.db.lab"), fqdn("red.web.lab")]
    );
    coredns_ptr("10.10.0.5", &[fqdn("red.db.lab"), fqdn("red.web.lab")]);
    monitor.wait_for_reverse_zone(&format!("{V6}."), "the IPv6 PTR", |z| {
        z.rrsets.keys().any(|(_, t)| t == "PTR")
    });
    assert_eq!(knot.ptr("fd00:10::5"), [fqdn("red.web.lab")]);
    coredns_ptr("fd00:10::5", &[fqdn("red.web.lab")]);
    assert_eq!(
        knot.ptr("192.0.2.5"),
        [] as [String; 0],
        "outside every prefix"
    );
    for origin in [V4, V6] {
        common::check_zone_with_bind_and_knot(&monitor.reverse_zone_path(origin), origin);
    }
    check_zone_file(&monitor.zone_path());

    vmis.delete("lab", "db").await;
    monitor.wait_for_reverse_zone(&format!("{V4}."), "db's PTR to go", |z| {
        z.get("5.0.10.10.in-addr.arpa.", "PTR").len() == 1
    });
    assert_eq!(knot.ptr("10.10.0.5"), [fqdn("red.web.lab")]);
    coredns_ptr("10.10.0.5", &[fqdn("red.web.lab")]);
}

/// Installs external-dns' DNSEndpoint CRD and, with `rbac`, the dns-endpoints
/// component's RBAC for the monitor's service account.
fn install_dns_endpoints(cluster: &Cluster, rbac: bool) {
    if rbac {
        let rbac = repo_root().join("deploy/components/dns-endpoints/rbac.yaml");
        cluster.kubectl_ok(&["apply", "-f", rbac.to_str().unwrap()]);
    }
    cluster.install_crd(
        "dnsendpoint-crd.yaml",
        "dnsendpoints.externaldns.k8s.io",
        "dnsendpoints",
    );
}

/// A DNSEndpoint as JSON, `None` when there is none.
fn dns_endpoint(cluster: &Cluster, namespace: &str, name: &str) -> Option<serde_json::Value> {
    let out = cluster.kubectl_as(
        "admin",
        &[
            "get",
            "dnsendpoint",
            "-n",
            namespace,
            name,
            "-o",
            "json",
            "--show-managed-fields",
        ],
    );
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("NotFound"),
            "kubectl get dnsendpoint: {stderr}"
        );
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// `(dnsName, recordType, targets, recordTTL)` of each endpoint.
type EndpointSummary = Vec<(String, String, Vec<String>, Option<i64>)>;

fn endpoints(object: &serde_json::Value) -> EndpointSummary {
    object["spec"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["dnsName"].as_str().unwrap().to_owned(),
                e["recordType"].as_str().unwrap().to_owned(),
                e["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect(),
                e["recordTTL"].as_i64(),
            )
        })
        .collect()
}

fn endpoint(
    name: &str,
    rtype: &str,
    targets: &[&str],
    ttl: Option<i64>,
) -> (String, String, Vec<String>, Option<i64>) {
    (
        name.to_owned(),
        rtype.to_owned(),
        targets.iter().map(|t| t.to_string()).collect(),
        ttl,
    )
}

fn wait_for_endpoint(
    cluster: &Cluster,
    monitor: &Monitor,
    name: &str,
    what: &str,
    check: impl Fn(Option<&serde_json::Value>) -> bool,
) -> Option<serde_json::Value> {
    wait_until(
        what,
        || format!("log:\n{}", monitor.log()),
        || {
            let object = dns_endpoint(cluster, "lab", name);
            check(object.as_ref()).then_some(object)
        },
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn dns_endpoint_sink_follows_annotated_vmis_and_leaves_foreign_ones_alone() {
    use serde_json::json;
    let cluster = Cluster::start();
    install_dns_endpoints(&cluster, true);
    let vmis = Vmis::connect(&cluster).await;
    vmis.create_namespace("lab").await;
    for name in ["web", "db", "plain"] {
        vmis.create("lab", name, &["red"]).await;
    }
    vmis.annotate(
        "lab",
        "web",
        json!({"external-dns.alpha.kubernetes.io/hostname": "www.example.org, web.example.org.",
               "external-dns.alpha.kubernetes.io/ttl": "60"}),
    )
    .await;
    vmis.annotate(
        "lab",
        "db",
        json!({"external-dns.alpha.kubernetes.io/hostname": "db.example.org"}),
    )
    .await;
    // Someone else's DNSEndpoint under the name the sink would use for db.
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: externaldns.k8s.io/v1alpha1\nkind: DNSEndpoint\nmetadata:\n  name: db\n  namespace: lab\n\
         spec:\n  endpoints:\n  - dnsName: db.example.org\n    recordType: A\n    targets: [192.0.2.99]\n",
    );
    let foreign_before = dns_endpoint(&cluster, "lab", "db").unwrap();

    let kubeconfig = cluster.kubeconfig("monitor");
    let zones = tempfile::tempdir().unwrap();
    let monitor = Monitor::spawn(
        zones.path(),
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("DNS_ENDPOINTS", "true"),
        ],
        &[] as &[&OsStr],
    );
    vmis.set_interfaces("lab", "web", &[("red", &["10.10.0.5", "fd00:10::5"])])
        .await;
    vmis.set_interfaces("lab", "db", &[("red", &["10.10.0.6"])])
        .await;
    vmis.set_interfaces("lab", "plain", &[("red", &["10.10.0.7"])])
        .await;

    // Created: A and AAAA per name, the TTL, owned by the VMI, applied server-side.
    let web = wait_for_endpoint(&cluster, &monitor, "web", "web's DNSEndpoint", |o| {
        o.is_some()
    })
    .unwrap();
    assert_eq!(
        endpoints(&web),
        [
            endpoint("web.example.org", "A", &["10.10.0.5"], Some(60)),
            endpoint("web.example.org", "AAAA", &["fd00:10::5"], Some(60)),
            endpoint("www.example.org", "A", &["10.10.0.5"], Some(60)),
            endpoint("www.example.org", "AAAA", &["fd00:10::5"], Some(60)),
        ]
    );
    let web_uid = vmis.uid("lab", "web").await;
    assert_eq!(
        web["metadata"]["ownerReferences"],
        json!([{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "name": "web", "uid": web_uid, "controller": true}])
    );
    assert_eq!(
        web["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kubevirt-secondary-dns"
    );
    let managers: Vec<(&str, &str)> = web["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap(),
                m["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(managers, [("kubevirt-secondary-dns", "Apply")]);

    // Not annotated: nothing. Someone else's: untouched, and said so.
    monitor.wait_for_log("is not ours", 1);
    assert!(
        monitor.log().contains("name=db"),
        "the warning names the object"
    );
    assert_eq!(dns_endpoint(&cluster, "lab", "plain"), None);

    // An address change and a TTL-only change both update it.
    vmis.set_interfaces("lab", "web", &[("red", &["10.10.0.8", "fd00:10::5"])])
        .await;
    wait_for_endpoint(&cluster, &monitor, "web", "the new address", |o| {
        o.is_some_and(|o| endpoints(o)[0].2 == ["10.10.0.8"])
    });
    vmis.annotate(
        "lab",
        "web",
        json!({"external-dns.alpha.kubernetes.io/ttl": "2m"}),
    )
    .await;
    wait_for_endpoint(&cluster, &monitor, "web", "the new TTL", |o| {
        o.is_some_and(|o| endpoints(o).iter().all(|e| e.3 == Some(120)))
    });
    // An invalid TTL: a warning naming the VMI, and the provider's default.
    vmis.annotate(
        "lab",
        "web",
        json!({"external-dns.alpha.kubernetes.io/ttl": "soon"}),
    )
    .await;
    wait_for_endpoint(&cluster, &monitor, "web", "no TTL", |o| {
        o.is_some_and(|o| endpoints(o).iter().all(|e| e.3.is_none()))
    });
    assert!(monitor.log().contains("TTL \"soon\""), "{}", monitor.log());

    // Addresses gone for a while (reboot): the DNSEndpoint is kept as it was.
    let before_reboot = dns_endpoint(&cluster, "lab", "web").unwrap();
    vmis.set_interfaces("lab", "web", &[]).await;
    monitor.wait_for_zone("web's records to go", |z| {
        z.get(&fqdn("web.lab"), "A").is_empty()
    });
    Cluster::settle();
    assert_eq!(
        dns_endpoint(&cluster, "lab", "web").unwrap()["metadata"]["resourceVersion"],
        before_reboot["metadata"]["resourceVersion"]
    );
    vmis.set_interfaces("lab", "web", &[("red", &["10.10.0.9"])])
        .await;
    wait_for_endpoint(
        &cluster,
        &monitor,
        "web",
        "the address after the reboot",
        |o| o.is_some_and(|o| endpoints(o)[0].2 == ["10.10.0.9"]),
    );

    // Annotation removed: ours is deleted.
    vmis.annotate(
        "lab",
        "web",
        json!({"external-dns.alpha.kubernetes.io/hostname": null}),
    )
    .await;
    wait_for_endpoint(&cluster, &monitor, "web", "web's DNSEndpoint to go", |o| {
        o.is_none()
    });

    // Annotated again, then the VMI deleted: ours goes with it (Kubernetes'
    // garbage collector would do it through the ownerReference; this control
    // plane has none, so this is the sink's own delete).
    vmis.annotate(
        "lab",
        "web",
        json!({"external-dns.alpha.kubernetes.io/hostname": "web.example.org"}),
    )
    .await;
    wait_for_endpoint(&cluster, &monitor, "web", "web's DNSEndpoint again", |o| {
        o.is_some()
    });
    vmis.delete("lab", "web").await;
    wait_for_endpoint(
        &cluster,
        &monitor,
        "web",
        "web's DNSEndpoint to go with it",
        |o| o.is_none(),
    );

    // db's VMI goes too; the foreign DNSEndpoint named like it stays untouched.
    vmis.delete("lab", "db").await;
    monitor.wait_for_zone("db to go", |z| z.get(&fqdn("db.lab"), "A").is_empty());
    Cluster::settle();
    let foreign_after = dns_endpoint(&cluster, "lab", "db").unwrap();
    assert_eq!(
        foreign_after["metadata"]["resourceVersion"],
        foreign_before["metadata"]["resourceVersion"]
    );
    assert_eq!(
        monitor.metric(
            "kubevirt_dns_dnsendpoint_writes_total{operation=\"apply\",result=\"failure\"}"
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn dns_endpoint_sink_refuses_to_start_without_its_crd_or_its_rbac() {
    let cluster = Cluster::start();
    let kubeconfig = cluster.kubeconfig("monitor");
    let zones = tempfile::tempdir().unwrap();
    let env = [
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("DNS_ENDPOINTS", "true"),
    ];
    let rbac = repo_root().join("deploy/components/dns-endpoints/rbac.yaml");
    cluster.kubectl_ok(&["apply", "-f", rbac.to_str().unwrap()]);
    let mut monitor = Monitor::spawn(zones.path(), &env, &[] as &[&OsStr]);
    assert!(!monitor.wait_for_exit().success());
    assert!(
        monitor.log().contains(
            "DNSEndpoint CRD (dnsendpoints.externaldns.k8s.io, v1alpha1) is not installed"
        ),
        "{}",
        monitor.log()
    );

    install_dns_endpoints(&cluster, false);
    cluster.kubectl_ok(&[
        "delete",
        "clusterrolebinding",
        "kubevirt-dns-status-monitor-dnsendpoints",
    ]);
    let mut monitor = Monitor::spawn(zones.path(), &env, &[] as &[&OsStr]);
    assert!(!monitor.wait_for_exit().success());
    assert!(
        monitor.log().contains("may not read DNSEndpoints")
            && monitor.log().contains("deploy/components/dns-endpoints"),
        "{}",
        monitor.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn two_replicas_converge_to_the_same_records_and_one_answers_while_the_other_is_gone() {
    let cluster = Cluster::start();
    let vmis = Vmis::connect(&cluster).await;
    let kubeconfig = cluster.kubeconfig("monitor");
    let env = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    let (zones_a, zones_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut monitor_a = Monitor::spawn(zones_a.path(), &env, &[] as &[&OsStr]);
    let monitor_b = Monitor::spawn(zones_b.path(), &env, &[] as &[&OsStr]);
    let coredns_b = CoreDns::serve(zones_b.path());

    // A stream of changes while both watch: creations, address changes, deletions.
    let namespaces = ["red-team", "blue-team", "lab"];
    for ns in namespaces {
        vmis.create_namespace(ns).await;
    }
    stream::iter(0..60)
        .for_each_concurrent(16, |i| {
            let (vmis, ns) = (&vmis, namespaces[i % namespaces.len()]);
            async move {
                let name = format!("vm-{i}");
                vmis.create(ns, &name, &["data"]).await;
                for generation in 0..3 {
                    let v4 = format!("10.20.{generation}.{i}");
                    let v6 = format!("fd00:20::{generation}:{i:x}");
                    vmis.set_interfaces(ns, &name, &[("data", &[v4.as_str(), v6.as_str()])])
                        .await;
                }
                if i % 5 == 0 {
                    vmis.delete(ns, &name).await;
                }
            }
        })
        .await;

    // Both reach the final state, byte for byte: the same records with the
    // same serial (the ledger's), so a secondary may transfer from either.
    for monitor in [&monitor_a, &monitor_b] {
        monitor.wait_for_zone("the final state", |z| {
            z.get(&fqdn("vm-1.blue-team"), "A") == ["10.20.2.1"]
                && z.get(&fqdn("vm-59.lab"), "AAAA") == ["fd00:20::2:3b"]
                && z.get(&fqdn("vm-10.blue-team"), "A").is_empty()
        });
    }
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
    let agreed = wait_until(
        "both replicas to write the same zone file",
        || {
            format!(
                "a:\n{:?}\nb:\n{:?}",
                read(monitor_a.zone_path()),
                read(monitor_b.zone_path())
            )
        },
        || {
            let a = read(monitor_a.zone_path())?;
            (Some(&a) == read(monitor_b.zone_path()).as_ref()).then_some(a)
        },
    );
    assert_eq!(
        agreed.lines().filter(|l| l.contains("\tA\t")).count(),
        // 48 VMs left, each with an interface name and a VM name, plus the ns glue.
        48 * 2 + 1,
        "{agreed}"
    );

    // One replica dies; the other keeps answering, changes included.
    monitor_a.kill();
    vmis.set_interfaces("lab", "vm-2", &[("data", &["10.20.9.2"])])
        .await;
    monitor_b.wait_for_zone("the change after a's death", |z| {
        z.get(&fqdn("data.vm-2.lab"), "A") == ["10.20.9.2"]
    });
    if let Some(coredns) = &coredns_b {
        let response = coredns.wait_for_answer(&fqdn("data.vm-2.lab"), "A", &["10.20.9.2"]);
        assert!(response.is_authoritative(), "{}", response.text);
        coredns.wait_for_answer(&fqdn("vm-1.blue-team"), "A", &["10.20.2.1"]);
    }
}

/// Every version of every zone file a monitor writes, as read by polling its
/// directory: (file, serial) → the distinct texts seen with that serial.
type Versions = std::collections::BTreeMap<(String, u32), Vec<String>>;

/// Polls `dir` every 10 ms until `stop`, recording each zone file's versions.
fn record_versions(
    dir: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Versions> {
    std::thread::spawn(move || {
        let mut versions = Versions::new();
        while !stop.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue; // replaced or removed between the listing and the read
                };
                let origin = format!("{}.", name.trim_start_matches("db."));
                let serial = zone_manager::parsed::ParsedZone::parse(&text, &origin).serial;
                let texts = versions.entry((name, serial)).or_default();
                if !texts.contains(&text) {
                    texts.push(text);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        versions
    })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn replicas_batching_one_stream_differently_never_give_one_serial_two_contents() {
    let cluster = Cluster::start();
    let vmis = Vmis::connect(&cluster).await;
    vmis.create_namespace("lab").await;
    vmis.create("lab", "web", &["data"]).await;
    vmis.set_interfaces("lab", "web", &[("data", &["10.40.0.0"])])
        .await;
    let kubeconfig = cluster.kubeconfig("monitor");
    let (zones_a, zones_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let recorders =
        [&zones_a, &zones_b].map(|dir| record_versions(dir.path().to_path_buf(), stop.clone()));
    // Different debounce windows and caps, started 0.7 s apart: the two never
    // batch the stream alike.
    let layout = [
        ("ZONE_LAYOUT", "namespace"),
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
    ];
    let batching_a = [
        ("DEBOUNCE_WINDOW_MS", "100"),
        ("DEBOUNCE_MAX_DELAY_MS", "300"),
    ];
    let batching_b = [
        ("DEBOUNCE_WINDOW_MS", "400"),
        ("DEBOUNCE_MAX_DELAY_MS", "2000"),
    ];
    let monitor_a = Monitor::spawn(
        zones_a.path(),
        &[&layout[..], &batching_a].concat(),
        &[] as &[&OsStr],
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let monitor_b = Monitor::spawn(
        zones_b.path(),
        &[&layout[..], &batching_b].concat(),
        &[] as &[&OsStr],
    );

    // One VMI changes every 150 ms for 20 s.
    for change in 1..=133u32 {
        let ip = format!("10.40.{}.{}", change / 200, change % 200);
        vmis.set_interfaces("lab", "web", &[("data", &[ip.as_str()])])
            .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let both_final = || {
        let read =
            |dir: &TempDir| std::fs::read_to_string(dir.path().join("db.lab.vm.example.com")).ok();
        let (a, b) = (read(&zones_a)?, read(&zones_b)?);
        (a == b && a.contains("10.40.0.133")).then_some(a)
    };
    let final_zone = wait_until(
        "both replicas at the last change, byte for byte",
        || format!("a:\n{}\nb:\n{}", monitor_a.log(), monitor_b.log()),
        both_final,
    );
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let [a, b] = recorders.map(|recorder| recorder.join().unwrap());

    let mut all = a.clone();
    for (version, texts) in &b {
        let seen = all.entry(version.clone()).or_default();
        for text in texts {
            if !seen.contains(text) {
                seen.push(text.clone());
            }
        }
    }
    let clashes: Vec<_> = all.iter().filter(|(_, texts)| texts.len() > 1).collect();
    assert!(clashes.is_empty(), "one serial, two contents: {clashes:#?}");
    // Not vacuous: the replicas wrote many versions, and shared many serials.
    let shared = a.keys().filter(|version| b.contains_key(*version)).count();
    assert!(
        a.len() >= 20 && b.len() >= 5,
        "versions: a {}, b {}",
        a.len(),
        b.len()
    );
    assert!(shared >= 5, "serials both wrote: {shared}");
    eprintln!(
        "versions written: a {}, b {}; serials both wrote: {shared}",
        a.len(),
        b.len()
    );
    assert!(final_zone.contains("10.40.0.133"));
    // The ledger is the shipped Role's ConfigMaps, in the monitor's namespace.
    let out = cluster.kubectl_ok(&["-n", "kubevirt-dns", "get", "configmaps", "-o", "name"]);
    assert!(out.contains("configmap/kubevirt-dns-serials-"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn names_follow_the_vms_life_and_the_label_selector() {
    let s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    let selected = serde_json::json!({"metadata": {"labels": {"dns": "on"}}});
    for vm in ["batch", "web", "gpu", "quiet"] {
        s.vmis.create("lab", vm, &["data", "service"]).await;
        s.vmis.patch("lab", vm, selected.clone()).await;
        s.vmis
            .set_interfaces(
                "lab",
                vm,
                &[("data", &["10.7.0.1"]), ("service", &["10.8.0.1"])],
            )
            .await;
    }
    let monitor = s.start_monitor_with(&[("VMI_LABEL_SELECTOR", "dns=on")]);
    monitor.wait_for_zone("the selected VMs", |z| {
        z.get(&fqdn("quiet.lab"), "A") == ["10.7.0.1"]
    });

    // Succeeded: the names go; a new run brings them back.
    let interfaces = |data: &str| {
        serde_json::json!([
            {"name": "data", "ipAddresses": [data]},
            {"name": "service", "ipAddresses": ["10.8.0.1"]}
        ])
    };
    s.vmis
        .patch_status("lab", "batch", serde_json::json!({"phase": "Succeeded"}))
        .await;
    monitor.wait_for_zone("batch to go", |z| {
        z.get(&fqdn("data.batch.lab"), "A").is_empty()
    });
    s.coredns_nxdomain(&fqdn("data.batch.lab"));
    s.vmis
        .patch_status(
            "lab",
            "batch",
            serde_json::json!({"phase": "Running", "interfaces": interfaces("10.7.0.2")}),
        )
        .await;
    monitor.wait_for_zone("batch's new run", |z| {
        z.get(&fqdn("data.batch.lab"), "A") == ["10.7.0.2"]
    });
    s.coredns_answers(&fqdn("data.batch.lab"), "A", &["10.7.0.2"]);

    // Hot-unplug: the spec says absent while the status still lists it.
    s.vmis
        .patch(
            "lab",
            "web",
            serde_json::json!({"spec": {"domain": {"devices": {"interfaces": [
                {"name": "data", "bridge": {}, "state": "absent"},
                {"name": "service", "bridge": {}}
            ]}}}}),
        )
        .await;
    monitor.wait_for_zone("web's data interface to go", |z| {
        z.get(&fqdn("data.web.lab"), "A").is_empty() && z.get(&fqdn("web.lab"), "A") == ["10.8.0.1"]
    });
    s.coredns_answers(&fqdn("web.lab"), "A", &["10.8.0.1"]);

    // SR-IOV: the named entry without addresses, the guest's entry by MAC.
    s.vmis
        .patch_status(
            "lab",
            "gpu",
            serde_json::json!({"phase": "Running", "interfaces": [
                {"name": "data", "mac": "02:00:00:00:0a:01", "infoSource": "domain, multus-status"},
                {"interfaceName": "eth1", "mac": "02:00:00:00:0A:01", "ipAddresses": ["10.7.0.9"], "infoSource": "guest-agent"}
            ]}),
        )
        .await;
    monitor.wait_for_zone("gpu's SR-IOV address", |z| {
        z.get(&fqdn("data.gpu.lab"), "A") == ["10.7.0.9"]
    });
    s.coredns_answers(&fqdn("data.gpu.lab"), "A", &["10.7.0.9"]);

    // The label selector: an unselected VMI never appears; relabelled, it does.
    s.vmis.create("lab", "unlisted", &["data"]).await;
    s.vmis
        .set_interfaces("lab", "unlisted", &[("data", &["10.7.0.50"])])
        .await;
    s.vmis
        .annotate(
            "lab",
            "quiet",
            serde_json::json!({"kubevirt-dns.io/publish": "false"}),
        )
        .await;
    monitor.wait_for_zone("quiet to opt out", |z| {
        z.get(&fqdn("quiet.lab"), "A").is_empty()
    });
    assert!(
        monitor
            .zone()
            .unwrap()
            .get(&fqdn("unlisted.lab"), "A")
            .is_empty()
    );
    assert!(
        !monitor.log().contains("unlisted"),
        "the API server never sent the unselected VMI:\n{}",
        monitor.log()
    );
    s.vmis.patch("lab", "unlisted", selected).await;
    monitor.wait_for_zone("unlisted, relabelled", |z| {
        z.get(&fqdn("unlisted.lab"), "A") == ["10.7.0.50"]
    });
    s.coredns_answers(&fqdn("unlisted.lab"), "A", &["10.7.0.50"]);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn names_owners_choose_follow_their_vmis_through_relabelling_changes_and_deletion() {
    let s = Setup::new().await;
    s.vmis.create_namespace("shop").await;
    let selected = serde_json::json!({"metadata": {"labels": {"dns": "on"}}});
    for (vm, address) in [("web-0", "10.9.0.1"), ("web-1", "10.9.0.2")] {
        s.vmis.create("shop", vm, &["lan"]).await;
        s.vmis
            .patch(
                "shop",
                vm,
                serde_json::json!({"spec": {"subdomain": "front"}}),
            )
            .await;
        s.vmis.patch("shop", vm, selected.clone()).await;
        s.vmis
            .set_interfaces("shop", vm, &[("lan", &[address])])
            .await;
    }
    s.vmis
        .annotate(
            "shop",
            "web-0",
            serde_json::json!({"kubevirt-dns.io/aliases": "www", "kubevirt-dns.io/ttl": "120"}),
        )
        .await;
    let monitor = s.start_monitor_with(&[("VMI_LABEL_SELECTOR", "dns=on")]);
    monitor.wait_for_zone("the chosen names", |z| {
        z.get(&fqdn("front.shop"), "A") == ["10.9.0.1", "10.9.0.2"]
            && z.get(&fqdn("www.shop"), "CNAME") == [fqdn("web-0.shop")]
            && z.get(&fqdn("web-1.front.shop"), "A") == ["10.9.0.2"]
    });
    let zone = monitor.zone().unwrap();
    let ttl = |name: &str, t: &str| zone.ttls[&(fqdn(name), t.to_owned())];
    assert_eq!(ttl("www.shop", "CNAME"), 120);
    assert_eq!(ttl("front.shop", "A"), 30, "web-1 has the zone's TTL");
    s.coredns_answers(&fqdn("www.shop"), "A", &["10.9.0.1"]);
    s.coredns_answers(&fqdn("front.shop"), "A", &["10.9.0.1", "10.9.0.2"]);

    // Relabelled out of the selector: web-1 leaves the group.
    s.vmis
        .patch(
            "shop",
            "web-1",
            serde_json::json!({"metadata": {"labels": {"dns": "off"}}}),
        )
        .await;
    monitor.wait_for_zone("web-1 to leave the group", |z| {
        z.get(&fqdn("front.shop"), "A") == ["10.9.0.1"]
            && z.get(&fqdn("web-1.front.shop"), "A").is_empty()
    });

    // Changed: another alias, and an alias taken by a VM's own name loses.
    s.vmis
        .annotate(
            "shop",
            "web-0",
            serde_json::json!({"kubevirt-dns.io/aliases": "api, web-0"}),
        )
        .await;
    monitor.wait_for_zone("the new alias", |z| {
        z.get(&fqdn("api.shop"), "CNAME") == [fqdn("web-0.shop")]
            && z.get(&fqdn("www.shop"), "CNAME").is_empty()
    });
    s.coredns_nxdomain(&fqdn("www.shop"));
    common::monitor::wait_until(
        "the collision warning",
        || monitor.log(),
        || {
            monitor
                .log()
                .contains("web-0.shop (alias of VMI shop/web-0)")
                .then_some(())
        },
    );

    // Deleted: every name it gave goes.
    s.vmis.delete("shop", "web-0").await;
    monitor.wait_for_zone("web-0's names to go", |z| {
        z.rrsets.keys().all(|(name, _)| !name.contains(".shop."))
    });
    s.coredns_nxdomain(&fqdn("api.shop"));
}
