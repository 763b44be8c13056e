//! The DNSEndpoint output on the real API.

use super::*;

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
