//! The zones on the real API: a VMI's life, namespaces, a burst, readiness,
//! an outage, an expired watch, a restart, and a VMI that does not fit.

use super::*;

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
