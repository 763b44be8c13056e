//! Which addresses are published: the CNI's in network mode, and reverse zones.

use super::*;

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
