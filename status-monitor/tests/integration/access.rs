//! What the shipped manifests allow: the roles, `explain` as the service
//! account, and a server-side dry-run of every manifest.

use super::*;

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
