//! End-to-end tests against a real cluster with KubeVirt, Multus and this product
//! deployed (`make cluster-up cluster-sync functest`). Real VMs boot, get
//! addresses from static IPAM (tests/fixtures/networks/, which
//! tests/cni_networks.rs sets up with the real CNI plugins), and their names are
//! resolved through the NodePort with dig.
//!
//! `make functest` (hack/functest.sh) sets FUNCTEST_REQUIRE_CLUSTER: there a
//! missing cluster or product fails. A plain `cargo test -- --ignored` without a
//! cluster prints why and skips.
//!
//! On the local provider (KUBEVIRT_PROVIDER=local), where KubeVirt and Multus
//! cannot run, tests/common/kubevirt.rs stands in for them with real pods and
//! real CNI plugins; hack/functest.sh configures it.
//!
//! Environment: KUBECONFIG, DNS_SERVER (127.0.0.1), DNS_PORT (31111),
//! FUNCTEST_KUBELET_DIR (the node's kubelet root, /var/lib/kubelet).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use common::cluster::repo_root;
use common::kubevirt::{StandIn, nad_resource, vmi_resource};
use status_monitor::output::endpoints::dns_endpoint::DNSEndpoint;

const TIMEOUT: Duration = Duration::from_secs(300);
const PRODUCT_NAMESPACE: &str = "kubevirt-dns";

/// Namespaces of the functest carry this label; hack/functest.sh deletes
/// whatever is left of them, also after a test panicked.
const FUNCTEST_LABEL: &str = "kubevirt-dns.io/functest";
/// The containerDisk of the VMs, pinned like KubeVirt in cluster/up.sh.
const VM_DISK_IMAGE: &str = "quay.io/kubevirt/cirros-container-disk-demo:v1.7.0";

/// The cluster, or `None` after saying why there is none. Under `make
/// functest` (FUNCTEST_REQUIRE_CLUSTER set) there must be one.
async fn cluster() -> Option<Client> {
    let required = std::env::var_os("FUNCTEST_REQUIRE_CLUSTER").is_some();
    let unavailable = |reason: String| {
        assert!(!required, "no cluster: {reason}");
        eprintln!("SKIPPED: {reason}");
        None
    };
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            return unavailable(format!(
                "no cluster configured ({e}); run `make cluster-up cluster-sync` or set KUBECONFIG"
            ));
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
        Ok(Ok(_)) => Some(client),
        Ok(Err(e)) => unavailable(format!("the cluster in KUBECONFIG does not answer: {e}")),
        Err(_) => unavailable("the cluster in KUBECONFIG does not answer within 10 s".into()),
    }
}

/// A NetworkAttachmentDefinition's `spec.config` from tests/fixtures/networks/.
fn network_config(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/networks/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The addresses `network` gives the VM, without prefix length.
fn static_addresses(network: &str) -> Vec<String> {
    network_config(network)["plugins"][0]["ipam"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["address"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The zone suffix the deployed product uses: `vm` or `vm.<DOMAIN>`.
async fn zone_suffix(client: &Client) -> String {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let config = config_maps.get("kubevirt-dns").await.expect(
        "the product is not deployed: run `make cluster-sync` (or `make deploy create-nodeport`)",
    );
    let domain = config
        .data
        .unwrap_or_default()
        .get("DOMAIN")
        .cloned()
        .unwrap_or_default();
    let domain = domain.trim().trim_end_matches('.');
    if domain.is_empty() {
        "vm".to_owned()
    } else {
        format!("vm.{domain}")
    }
}

fn dig(name: &str, rtype: &str) -> Vec<String> {
    dig_over("+notcp", name, rtype)
}

/// dig over UDP (`+notcp`) or TCP (`+tcp`).
fn dig_over(transport: &str, name: &str, rtype: &str) -> Vec<String> {
    let server = std::env::var("DNS_SERVER").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("DNS_PORT").unwrap_or_else(|_| "31111".into());
    let out = Command::new("dig")
        .args([
            &format!("@{server}"),
            "-p",
            &port,
            transport,
            "+short",
            "+time=2",
            "+tries=1",
            name,
            rtype,
        ])
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// A namespace for one test, deleted at the end.
struct TestNamespace {
    client: Client,
    name: String,
    /// KubeVirt and Multus, where the cluster has none of its own.
    _kubevirt: Option<StandIn>,
}

impl TestNamespace {
    async fn create(client: &Client, prefix: &str) -> Self {
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000;
        let name = format!("{prefix}-{suffix}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {FUNCTEST_LABEL: "true"}}}),
        )
        .unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
        Self {
            _kubevirt: StandIn::start(client, &name),
            client: client.clone(),
            name,
        }
    }

    /// The network `name` of tests/fixtures/networks/ (ptp with static IPAM):
    /// the pod side of the VM's interface gets its addresses, and KubeVirt
    /// reports them in the VMI status.
    async fn network(&self, name: &str) {
        self.network_with(name, network_config(name)).await;
    }

    /// A network `name` like static-net that gives the VM `address` (IPv4,
    /// in a /24 of its own): VMs on the node must not share an address.
    async fn network_at(&self, name: &str, address: &str) {
        let mut config = network_config("static-net");
        let subnet = address.rsplit_once('.').unwrap().0;
        config["name"] = json!(name);
        config["plugins"][0]["ipam"]["addresses"] =
            json!([{"address": format!("{address}/24"), "gateway": format!("{subnet}.254")}]);
        self.network_with(name, config).await;
    }

    async fn network_with(&self, name: &str, config: serde_json::Value) {
        let nad: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": self.name},
            "spec": {"config": config.to_string()}
        }))
        .unwrap();
        Api::<DynamicObject>::namespaced_with(self.client.clone(), &self.name, &nad_resource())
            .create(&PostParams::default(), &nad)
            .await
            .unwrap();
    }

    /// A small VM whose only interface `iface` is on `network`.
    async fn vmi(&self, name: &str, iface: &str, network: &str) -> Api<DynamicObject> {
        let vmi: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": self.name},
            "spec": {
                "domain": {
                    "devices": {
                        "disks": [{"name": "disk0", "disk": {"bus": "virtio"}}],
                        "interfaces": [{"name": iface, "bridge": {}}]
                    },
                    "resources": {"requests": {"memory": "128Mi"}}
                },
                "networks": [{"name": iface, "multus": {"networkName": network}}],
                "volumes": [{"name": "disk0", "containerDisk": {"image": VM_DISK_IMAGE}}]
            }
        }))
        .unwrap();
        let api =
            Api::<DynamicObject>::namespaced_with(self.client.clone(), &self.name, &vmi_resource());
        api.create(&PostParams::default(), &vmi).await.unwrap();
        api
    }

    async fn delete(self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

/// The addresses KubeVirt reports for `iface`, once there are `count` of them.
async fn reported_addresses(
    api: &Api<DynamicObject>,
    vmi: &str,
    iface: &str,
    count: usize,
) -> Vec<String> {
    eventually(
        &format!("{count} address(es) of {iface} in the status of {vmi}"),
        || async {
            let object = api.get(vmi).await.ok()?;
            let interfaces = object.data["status"]["interfaces"].as_array()?.clone();
            let status = interfaces.iter().find(|i| i["name"] == iface)?;
            let addresses: Vec<String> = status["ipAddresses"]
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            (addresses.len() >= count).then_some(addresses)
        },
    )
    .await
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn a_vm_with_one_secondary_interface_resolves_and_its_name_goes_with_it() {
    let Some(client) = cluster().await else {
        return;
    };
    let suffix = zone_suffix(&client).await;
    let ns = TestNamespace::create(&client, "dns-e2e").await;
    ns.network("static-net").await;
    let vmis = ns.vmi("vmi-sec", "nic1", "static-net").await;

    let addresses = reported_addresses(&vmis, "vmi-sec", "nic1", 1).await;
    assert_eq!(addresses, static_addresses("static-net"));
    assert_eq!(addresses, ["10.10.0.5"]);
    let interface_name = format!("nic1.vmi-sec.{}.{suffix}", ns.name);
    let vm_name = format!("vmi-sec.{}.{suffix}", ns.name);
    eventually(&format!("{interface_name} to resolve"), || async {
        (dig(&interface_name, "A") == ["10.10.0.5"]).then_some(())
    })
    .await;
    assert_eq!(dig(&vm_name, "A"), ["10.10.0.5"]);

    vmis.delete(
        &vmis.get("vmi-sec").await.unwrap().name_any(),
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    eventually(&format!("{interface_name} to go"), || async {
        dig(&interface_name, "A").is_empty().then_some(())
    })
    .await;
    ns.delete().await;
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn a_dual_stack_interface_resolves_to_a_and_aaaa() {
    let Some(client) = cluster().await else {
        return;
    };
    let suffix = zone_suffix(&client).await;
    let ns = TestNamespace::create(&client, "dns-e2e-dual").await;
    ns.network("dual-net").await;
    assert_eq!(static_addresses("dual-net"), ["10.10.1.5", "fd10:10::5"]);
    let vmis = ns.vmi("vmi-dual", "nic1", "dual-net").await;

    reported_addresses(&vmis, "vmi-dual", "nic1", 2).await;
    let name = format!("nic1.vmi-dual.{}.{suffix}", ns.name);
    eventually(&format!("{name} AAAA"), || async {
        (dig(&name, "AAAA") == ["fd10:10::5"]).then_some(())
    })
    .await;
    assert_eq!(dig(&name, "A"), ["10.10.1.5"]);
    assert_eq!(
        dig(&format!("vmi-dual.{}.{suffix}", ns.name), "AAAA"),
        ["fd10:10::5"]
    );
    ns.delete().await;
}

/// `cluster/cli.sh ssh node01 -- sh -c SCRIPT`: what the node itself shows.
fn on_node(script: &str) -> String {
    let out = Command::new(repo_root().join("cluster/cli.sh"))
        .args(["ssh", "node01", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "on the node: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The product's pods, once every one of them is Ready with both containers.
async fn ready_product_pods(client: &Client) -> Vec<k8s_openapi::api::core::v1::Pod> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    eventually("both product pods 2/2 Ready", || async {
        let list = pods
            .list(&kube::api::ListParams::default().labels("app.kubernetes.io/name=kubevirt-dns"))
            .await
            .ok()?;
        let serving: Vec<_> = list.items.into_iter().filter(is_serving).collect();
        (serving.len() == 2).then_some(serving)
    })
    .await
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn both_pods_serve_and_names_follow_changes_over_udp_and_tcp() {
    let Some(client) = cluster().await else {
        return;
    };
    ready_product_pods(&client).await;
    let suffix = zone_suffix(&client).await;
    let ns = TestNamespace::create(&client, "dns-e2e-follow").await;
    ns.network("static-net").await;
    let vmis = ns.vmi("vmi-follow", "nic1", "static-net").await;
    reported_addresses(&vmis, "vmi-follow", "nic1", 1).await;
    let name = format!("nic1.vmi-follow.{}.{suffix}", ns.name);
    // Each pod runs its own status-monitor, so each converges on its own.
    every_pod_answers(&client, &name, &["10.10.0.5"]).await;
    assert_eq!(dig_over("+notcp", &name, "A"), ["10.10.0.5"], "over UDP");
    assert_eq!(dig_over("+tcp", &name, "A"), ["10.10.0.5"], "over TCP");

    // Asked in a pod, `explain` tells the same, and that its CoreDNS serves it.
    let pod = ready_product_pods(&client).await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let out = Command::new("kubectl")
        .args([
            "-n",
            PRODUCT_NAMESPACE,
            "exec",
            &pod,
            "-c",
            "status-monitor",
            "--",
        ])
        .args(["status-monitor", "explain", "-n", &ns.name, "vmi-follow"])
        .output()
        .expect("kubectl");
    let explained = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{explained}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        explained.contains(&format!("{name}. A 10.10.0.5")),
        "{explained}"
    );
    assert!(explained.contains("on disk and served"), "{explained}");

    // The guest reports a second address (what a guest agent does).
    let claim = r#"{"nic1": ["10.10.0.77"]}"#;
    annotate(
        &vmis,
        "vmi-follow",
        json!({common::kubevirt::GUEST_ADDRESSES_ANNOTATION: claim}),
    )
    .await;
    every_pod_answers(&client, &name, &["10.10.0.5", "10.10.0.77"]).await;
    for transport in ["+notcp", "+tcp"] {
        let mut both = dig_over(transport, &name, "A");
        both.sort();
        assert_eq!(both, ["10.10.0.5", "10.10.0.77"], "{transport}");
    }

    vmis.delete("vmi-follow", &DeleteParams::default())
        .await
        .unwrap();
    every_pod_answers(&client, &name, &[]).await;
    assert_eq!(
        dig_over("+notcp", &name, "A"),
        Vec::<String>::new(),
        "gone over UDP"
    );
    assert_eq!(
        dig_over("+tcp", &name, "A"),
        Vec::<String>::new(),
        "gone over TCP"
    );
    ns.delete().await;
}

/// Waits until every serving product pod answers `want` for `name`.
async fn every_pod_answers(client: &Client, name: &str, want: &[&str]) {
    eventually(
        &format!("every pod to answer {name} with {want:?}"),
        || async {
            let serving = ready_product_pods(client).await;
            serving
                .iter()
                .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
                .all(|ip| pod_answers(&ip, name) == want)
                .then_some(())
        },
    )
    .await;
}

/// `kubectl rollout restart` of the product's Deployment; returns its mark.
async fn rollout_restart(client: &Client) -> String {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Patch, PatchParams};
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let restart = format!("{:?}", std::time::SystemTime::now());
    let roll =
        json!({"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: restart}}}}});
    deployments
        .patch(
            "kubevirt-dns",
            &PatchParams::default(),
            &Patch::Merge(&roll),
        )
        .await
        .unwrap();
    restart
}

const RESTART_ANNOTATION: &str = "kubevirt-dns.io/functest-restart";

/// Waits until the rollout `restart` is complete: two pods of it, Ready, and
/// no other pod left.
async fn rolled_out(client: &Client, restart: &str) {
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    eventually("the rollout", || async {
        let serving = ready_product_pods(client).await;
        let rolled = serving
            .iter()
            .all(|p| p.annotations().get(RESTART_ANNOTATION).map(String::as_str) == Some(restart));
        let all = pods.list(&kube::api::ListParams::default()).await.ok()?;
        (rolled && all.items.len() == 2).then_some(())
    })
    .await;
}

/// Sets (or, with null, removes) annotations of the VMI `name`.
async fn annotate(vmis: &Api<DynamicObject>, name: &str, annotations: serde_json::Value) {
    let patch = json!({"metadata": {"annotations": annotations}});
    vmis.patch(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await
    .unwrap();
}

/// `Key:\tvalue` of /proc/PID/status.
fn proc_status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_owned()
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn kubelet_enforces_the_security_context_and_coredns_can_read_the_zones() {
    let Some(client) = cluster().await else {
        return;
    };
    let pods = ready_product_pods(&client).await;
    // (process, capability bounding set): CoreDNS keeps only NET_BIND_SERVICE.
    for (pattern, bounding) in [
        ("^/coredns -conf", "0000000000000400"),
        ("^/usr/local/bin/status-monitor", "0000000000000000"),
    ] {
        let pids = on_node(&format!("pgrep -f '{pattern}'"));
        let pids: Vec<&str> = pids.split_whitespace().collect();
        assert_eq!(pids.len(), 2, "one {pattern} in each pod: {pids:?}");
        for pid in pids {
            let status = on_node(&format!("cat /proc/{pid}/status"));
            assert_eq!(proc_status_field(&status, "CapBnd"), bounding, "{pattern}");
            assert_eq!(proc_status_field(&status, "NoNewPrivs"), "1", "{pattern}");
            assert_eq!(proc_status_field(&status, "Seccomp"), "2", "{pattern}");
            let uids = proc_status_field(&status, "Uid");
            assert!(
                uids.split_whitespace().all(|u| u == "65532"),
                "{pattern}: {uids}"
            );
            // The root mount (mount point "/") is read-only.
            let mountinfo = on_node(&format!("cat /proc/{pid}/mountinfo"));
            let root = mountinfo
                .lines()
                .find(|l| l.split(' ').nth(4) == Some("/"))
                .unwrap();
            let options = root.split(' ').nth(5).unwrap();
            assert!(options.split(',').any(|o| o == "ro"), "{pattern}: {root}");
        }
    }
    // The zone files on each pod's emptyDir, as the node sees them: readable by
    // CoreDNS's user (65532) and writable by none other, in the volume's zones/
    // (CoreDNS's /zones), with staging/ beside it.
    let kubelet =
        std::env::var("FUNCTEST_KUBELET_DIR").unwrap_or_else(|_| "/var/lib/kubelet".into());
    for pod in pods {
        let dir = format!(
            "{kubelet}/pods/{}/volumes/kubernetes.io~empty-dir/zones/zones",
            pod.metadata.uid.as_deref().unwrap()
        );
        let staging = on_node(&format!("find {dir}/../staging -maxdepth 0 -type d"));
        assert!(!staging.trim().is_empty(), "staging/ beside {dir}");
        let listing = on_node(&format!("find {dir} -maxdepth 1 -printf '%f %U %G %m\\n'"));
        let files: Vec<Vec<&str>> = listing
            .lines()
            .map(|l| l.split(' ').collect())
            .filter(|f: &Vec<&str>| f[0].starts_with("db."))
            .collect();
        assert!(!files.is_empty(), "zone files in {dir}: {listing}");
        for file in files {
            let mode = u32::from_str_radix(file[3], 8).unwrap();
            let readable = (file[1] == "65532" && mode & 0o400 != 0)
                || (file[2] == "65532" && mode & 0o040 != 0);
            assert!(readable, "CoreDNS (65532) reads {file:?}");
            assert_eq!(mode & 0o022, 0, "only its owner writes {file:?}");
        }
    }
}

/// The env var `name` of the deployed status-monitor container, if set.
async fn deployed_setting(client: &Client, name: &str) -> Option<String> {
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let deployment = deployments.get("kubevirt-dns").await.unwrap();
    let containers = deployment.spec?.template.spec?.containers;
    let monitor = containers
        .into_iter()
        .find(|c| c.name == "status-monitor")?;
    monitor
        .env?
        .into_iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value)
}

/// The overlay tests run with their overlay deployed (hack/functest.sh).
async fn require_overlay(client: &Client, overlay: &str, setting: &str, value: &str) {
    assert_eq!(
        deployed_setting(client, setting).await.as_deref(),
        Some(value),
        "{overlay} is not deployed: `make functest` applies it before this test"
    );
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn overlay_network_addresses_publishes_what_the_cni_assigned_and_not_what_the_guest_claims() {
    let Some(client) = cluster().await else {
        return;
    };
    require_overlay(
        &client,
        "deploy/network-addresses",
        "ADDRESS_SOURCE",
        "network",
    )
    .await;
    ready_product_pods(&client).await;
    let suffix = zone_suffix(&client).await;
    let ns = TestNamespace::create(&client, "dns-e2e-cni").await;
    ns.network("static-net").await;
    let vmis = ns.vmi("vmi-cni", "nic1", "static-net").await;
    // A guest-only address: reported by the guest, assigned by no CNI.
    let claim = r#"{"nic1": ["10.10.0.99"]}"#;
    annotate(
        &vmis,
        "vmi-cni",
        json!({common::kubevirt::GUEST_ADDRESSES_ANNOTATION: claim}),
    )
    .await;
    let reported = reported_addresses(&vmis, "vmi-cni", "nic1", 2).await;
    assert_eq!(reported, ["10.10.0.5", "10.10.0.99"]);
    let name = format!("nic1.vmi-cni.{}.{suffix}", ns.name);
    eventually(&format!("{name} from the network-status"), || async {
        (dig(&name, "A") == ["10.10.0.5"]).then_some(())
    })
    .await;
    // Long enough for the claim to have been written, had it been taken.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(dig_over("+tcp", &name, "A"), ["10.10.0.5"]);
    assert_eq!(
        dig(&format!("vmi-cni.{}.{suffix}", ns.name), "A"),
        ["10.10.0.5"]
    );
    ns.delete().await;
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn overlay_dns_endpoints_follow_the_annotated_vms() {
    let Some(client) = cluster().await else {
        return;
    };
    require_overlay(&client, "deploy/dns-endpoints", "DNS_ENDPOINTS", "true").await;
    ready_product_pods(&client).await;
    let ns = TestNamespace::create(&client, "dns-e2e-ep").await;
    ns.network("static-net").await;
    let vmis = ns.vmi("vmi-ep", "nic1", "static-net").await;
    reported_addresses(&vmis, "vmi-ep", "nic1", 1).await;
    // The current prefix (integration.rs covers the alpha one).
    let hostname = json!({"external-dns.kubernetes.io/hostname": "www.example.org"});
    annotate(&vmis, "vmi-ep", hostname).await;
    // The product's own DNSEndpoint type: what the sink writes, as it reads it.
    let endpoints: Api<DNSEndpoint> = Api::namespaced(client.clone(), &ns.name);
    let endpoint = eventually("the DNSEndpoint of vmi-ep", || async {
        endpoints.get("vmi-ep").await.ok()
    })
    .await;
    let records = &endpoint.spec.endpoints;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].dns_name, "www.example.org", "{records:?}");
    assert_eq!(records[0].record_type, "A", "{records:?}");
    assert_eq!(records[0].targets, ["10.10.0.5"], "{records:?}");
    assert_eq!(
        endpoint.owner_references()[0].name,
        "vmi-ep",
        "owned by its VMI"
    );

    annotate(
        &vmis,
        "vmi-ep",
        json!({"external-dns.kubernetes.io/hostname": null}),
    )
    .await;
    eventually("the DNSEndpoint to go with the annotation", || async {
        endpoints
            .get_opt("vmi-ep")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    ns.delete().await;
}

/// deploy/zone-transfer as deployed: the TSIG key its Secret holds (made by
/// the command in docs/secondaries.md, hack/functest.sh), and the address of this machine
/// that the pods reach, where the secondaries listen.
async fn zone_transfer_overlay(client: &Client) -> (common::secondary::TransferKey, String) {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Secret;
    // The overlay mounts the key for CoreDNS; its env reads the two settings.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let volumes = deployments
        .get("kubevirt-dns")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .volumes
        .unwrap();
    assert!(
        volumes.iter().any(|v| v.name == "transfer-key"),
        "deploy/zone-transfer is not deployed: `make functest` applies it before this test"
    );
    let secondary = std::env::var("FUNCTEST_SECONDARY_ADDRESS").expect(
        "FUNCTEST_SECONDARY_ADDRESS: an address of this machine the pods reach (hack/functest.sh sets it)",
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let secret = secrets.get("kubevirt-dns-transfer-key").await.unwrap();
    let key_text = String::from_utf8(secret.data.unwrap()["transfer.key"].0.clone()).unwrap();
    let key = common::secondary::TransferKey::from_text(tempfile::tempdir().unwrap(), &key_text);
    (key, secondary)
}

/// Sends NOTIFY to `secondaries` (NOTIFY_SECONDARIES) with the catalog
/// catalog.example.com, and rolls the pods: they read settings at start.
/// NAME_SERVER_IP is the NodePort's address: BIND refuses a zone without NS
/// records ("has no NS records").
async fn notify_secondaries(client: &Client, secondaries: &str) {
    use kube::api::{Patch, PatchParams};
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let settings = json!({"data": {
        "NAME_SERVER_IP": node_port().ip().to_string(),
        "NOTIFY_SECONDARIES": secondaries,
        "CATALOG_ZONE": "catalog.example.com",
    }});
    config_maps
        .patch(
            "kubevirt-dns",
            &PatchParams::default(),
            &Patch::Merge(&settings),
        )
        .await
        .unwrap();
    let restart = rollout_restart(client).await;
    rolled_out(client, &restart).await;
}

#[tokio::test]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn overlay_zone_transfer_a_secondary_transfers_with_tsig_through_the_node_and_gets_notify() {
    use common::secondary::KnotSecondary;
    let Some(client) = cluster().await else {
        return;
    };
    let (key, secondary) = zone_transfer_overlay(&client).await;
    let primary = node_port();
    let (server, port) = (primary.ip().to_string(), primary.port().to_string());
    // the catalog configuration of docs/secondaries.md; NOTIFY comes from the pods' addresses.
    let knot = KnotSecondary::start_at(
        "knot-catalog",
        &secondary,
        &format!("{server}@{port}"),
        "0.0.0.0/0",
        &key,
    );
    notify_secondaries(&client, &format!("{secondary}:{}", knot.port)).await;

    let suffix = zone_suffix(&client).await;
    eventually("knotd to follow the catalog to the parent zone", || async {
        (knot.has_zone("catalog.example.com.") && knot.has_zone(&format!("{suffix}.")))
            .then_some(())
    })
    .await;
    let ns = TestNamespace::create(&client, "dns-e2e-xfr").await;
    ns.network("static-net").await;
    let vmis = ns.vmi("vmi-xfr", "nic1", "static-net").await;
    reported_addresses(&vmis, "vmi-xfr", "nic1", 1).await;
    let name = format!("nic1.vmi-xfr.{}.{suffix}", ns.name);
    // The zones' SOA refresh is 300 s: within a minute, only NOTIFY explains it.
    let started = Instant::now();
    while knot.answers(&name, "A") != ["10.10.0.5"] {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "knotd has no {name} after 60 s:\n{}",
            knot.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = knot.log();
    assert!(
        log.contains("notify, incoming, remote"),
        "knotd received NOTIFY from the pods:\n{log}"
    );
    // Transfers through the node need the key.
    let axfr = |key: Option<String>| {
        let mut command = Command::new("dig");
        command.args([
            "+tcp",
            &format!("@{server}"),
            "-p",
            &port,
            &format!("{suffix}."),
            "AXFR",
        ]);
        if let Some(key) = key {
            command.args(["-y", &key]);
        }
        String::from_utf8_lossy(&command.output().unwrap().stdout).into_owned()
    };
    assert!(
        axfr(Some(key.dig_arg())).contains("\tSOA\t"),
        "a signed AXFR is served"
    );
    let unsigned = axfr(None);
    assert!(
        !unsigned.contains("\tSOA\t"),
        "an unsigned AXFR is refused:\n{unsigned}"
    );
    ns.delete().await;
}

/// BIND 9.18 with the catalog configuration of docs/secondaries.md, as a secondary of the
/// NodePort: 20 bursts of 100 changes across namespaces, one during a
/// rollout; after each, BIND holds exactly the final records within 10 s.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn overlay_zone_transfer_bind_following_the_catalog_holds_the_final_records_after_each_burst()
{
    use common::secondary::BindSecondary;
    use status_monitor::projection::PUBLISH_ANNOTATION;
    let Some(client) = cluster().await else {
        return;
    };
    let (key, secondary) = zone_transfer_overlay(&client).await;
    let primary = node_port();
    let bind = BindSecondary::start_at(
        &secondary,
        &primary.ip().to_string(),
        primary.port(),
        "0.0.0.0/0",
        &key,
    );
    notify_secondaries(&client, &format!("{secondary}:{}", bind.port)).await;
    let suffix = zone_suffix(&client).await;

    // 10 VMs, two in each of 5 namespaces, each with an address of its own.
    // A change opts a VM in or out (kubevirt-dns.io/publish); the two of a
    // namespace alternate, so that its zone always holds records.
    struct Vm {
        vmis: Api<DynamicObject>,
        name: String,
        address: String,
        /// Which of the two it is: the published one flips with each burst.
        phase: usize,
    }
    let mut namespaces = Vec::new();
    let mut vms = Vec::new();
    for n in 0..5 {
        let ns = TestNamespace::create(&client, &format!("dns-e2e-bind{n}")).await;
        for phase in 0..2 {
            let (vmi, network) = (format!("vmi-{phase}"), format!("net-{phase}"));
            let address = format!("10.20.{}.5", n * 2 + phase);
            ns.network_at(&network, &address).await;
            let vmis = ns.vmi(&vmi, "nic1", &network).await;
            vms.push(Vm {
                name: format!("nic1.{vmi}.{}.{suffix}", ns.name),
                vmis,
                address,
                phase: (n + phase) % 2,
            });
        }
        namespaces.push(ns);
    }
    for vm in &vms {
        let vmi = vm.name.split('.').nth(1).unwrap();
        reported_addresses(&vm.vmis, vmi, "nic1", 1).await;
    }
    // After burst b, the VMs of phase b % 2 are published (all before any).
    let published = |burst: usize, vm: &Vm| burst == 0 || burst % 2 == vm.phase;
    let holds = |burst: usize| {
        vms.iter().all(|vm| {
            let want: Vec<String> = if published(burst, vm) {
                vec![vm.address.clone()]
            } else {
                vec![]
            };
            bind.answers(&vm.name, "A") == want
        })
    };
    eventually(
        "named to take the namespaces' zones from the catalog",
        || async { holds(0).then_some(()) },
    )
    .await;

    let mut slowest = Duration::ZERO;
    for burst in 1..=20 {
        // Burst 10 comes while the old pods go and new ones start.
        let restart = if burst == 10 {
            let restart = rollout_restart(&client).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            Some(restart)
        } else {
            None
        };
        // 10 steps over every VM; the last leaves each as the burst wants.
        for step in (0..10).rev() {
            for vm in &vms {
                let publish = if step % 2 == 0 {
                    published(burst, vm)
                } else {
                    !published(burst, vm)
                };
                let vmi = vm.name.split('.').nth(1).unwrap();
                annotate(
                    &vm.vmis,
                    vmi,
                    json!({PUBLISH_ANNOTATION: publish.to_string()}),
                )
                .await;
            }
        }
        let written = Instant::now();
        while !holds(burst) {
            assert!(
                written.elapsed() < Duration::from_secs(10),
                "burst {burst}: named does not hold the final records 10 s after it:\n{}",
                bind.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let took = written.elapsed();
        slowest = slowest.max(took);
        if let Some(restart) = restart {
            eprintln!("bind: the burst during a rollout: held after {took:?}");
            rolled_out(&client, &restart).await;
        }
    }
    eprintln!(
        "bind: through the NodePort, 20 bursts of 100 changes in 5 namespaces: the final records held at most {slowest:?} after each"
    );
    for ns in namespaces {
        ns.delete().await;
    }
}

/// The Service's address as clients outside the cluster use it.
fn node_port() -> std::net::SocketAddr {
    let server = std::env::var("DNS_SERVER").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("DNS_PORT").unwrap_or_else(|_| "31111".into());
    format!("{server}:{port}").parse().unwrap()
}

/// The product's pods, whatever their state.
async fn product_pods(client: &Client) -> Vec<k8s_openapi::api::core::v1::Pod> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    pods.list(&kube::api::ListParams::default().labels("app.kubernetes.io/name=kubevirt-dns"))
        .await
        .unwrap()
        .items
}

fn restarts(pod: &k8s_openapi::api::core::v1::Pod, container: &str) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| statuses.iter().find(|c| c.name == container))
        .map_or(0, |c| c.restart_count)
}

/// SIGKILLs `process` in `pod`'s containers, found on the node by the pod's
/// UID in the process's cgroup (with `-` or `_`, as the cgroup driver names it).
fn kill_in_pod(pod: &k8s_openapi::api::core::v1::Pod, process: &str) {
    let uid = pod.metadata.uid.clone().unwrap();
    let killed = on_node(&format!(
        "for p in $(pgrep -x {process}); do \
           if grep -qE '{uid}|{}' /proc/$p/cgroup; then kill -KILL $p && echo $p; fi; \
         done",
        uid.replace('-', "_")
    ));
    assert!(
        !killed.trim().is_empty(),
        "no {process} process of pod {} on the node",
        pod.name_any()
    );
}

/// What CoreDNS of the pod at `ip` answers for `name` A, asked on the node.
fn pod_answers(ip: &str, name: &str) -> Vec<String> {
    let mut answers: Vec<String> = on_node(&format!(
        "dig @{ip} -p 5353 +short +time=1 +tries=1 {name} A || true"
    ))
    .lines()
    .map(str::to_owned)
    .filter(|l| !l.is_empty() && !l.starts_with(';'))
    .collect();
    answers.sort();
    answers
}

/// An eviction of `pod` through the API (policy/v1 where served, else
/// v1beta1, as on Kubernetes 1.20), with kubectl: kube's client retries a 429
/// until it passes, which would hide the refusal. Whether it was allowed, and
/// what the API server said.
async fn evict(client: &Client, pod: &str) -> (bool, String) {
    let version = if client
        .list_api_group_resources("policy/v1")
        .await
        .is_ok_and(|list| {
            list.resources
                .iter()
                .any(|r| r.name == "poddisruptionbudgets")
        }) {
        "policy/v1"
    } else {
        "policy/v1beta1"
    };
    let body = tempfile::NamedTempFile::new().unwrap();
    let eviction = json!({
        "apiVersion": version, "kind": "Eviction",
        "metadata": {"name": pod, "namespace": PRODUCT_NAMESPACE}
    });
    std::fs::write(body.path(), eviction.to_string()).unwrap();
    let out = Command::new("kubectl")
        .args(["create", "--raw"])
        .arg(format!(
            "/api/v1/namespaces/{PRODUCT_NAMESPACE}/pods/{pod}/eviction"
        ))
        .arg("-f")
        .arg(body.path())
        .output()
        .expect("kubectl");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// What clients see through the NodePort while the product's pods are
/// restarted, deleted, evicted and killed: the figures of
/// docs/availability.md (printed; `make functest` shows them).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a cluster with KubeVirt and the product: run `make functest`"]
async fn availability_through_rollouts_deletions_evictions_and_kills() {
    use common::prober::Prober;
    let Some(client) = cluster().await else {
        return;
    };
    ready_product_pods(&client).await;
    let suffix = zone_suffix(&client).await;
    let ns = TestNamespace::create(&client, "dns-e2e-avail").await;
    ns.network("static-net").await;
    let vmis = ns.vmi("vmi-avail", "nic1", "static-net").await;
    reported_addresses(&vmis, "vmi-avail", "nic1", 1).await;
    let name = format!("nic1.vmi-avail.{}.{suffix}", ns.name);
    eventually(&format!("{name} through the NodePort"), || async {
        (dig_over("+notcp", &name, "A") == ["10.10.0.5"]
            && dig_over("+tcp", &name, "A") == ["10.10.0.5"])
        .then_some(())
    })
    .await;
    let prober = Prober::start(node_port(), &name, &["10.10.0.5"], 50);
    let report = |scenario: &str, [udp, tcp]: &[common::prober::Tally; 2]| {
        eprintln!(
            "availability: {scenario}: UDP {}; TCP {}",
            udp.summary(),
            tcp.summary()
        );
    };
    // Pods that come and go in order lose nothing: no query fails, no answer
    // is wrong. Each failure is printed with its send time, for a capture.
    let lossless = |scenario: &str, tallies: &[common::prober::Tally; 2]| {
        report(scenario, tallies);
        for (transport, tally) in ["UDP", "TCP"].iter().zip(tallies) {
            assert!(tally.queries() > 0, "{scenario}: no {transport} query ran");
            for failure in &tally.failed {
                eprintln!("availability: {scenario}: {transport} failed: {failure}");
            }
            assert!(
                tally.failed.is_empty() && tally.wrong.is_empty(),
                "{scenario} over {transport}: {} failed {:?}, {} wrong {:?}",
                tally.failed.len(),
                tally.failed.iter().take(5).collect::<Vec<_>>(),
                tally.wrong.len(),
                tally.wrong.iter().take(5).collect::<Vec<_>>()
            );
        }
    };

    // 1. Rollout restarts.
    for _ in 0..3 {
        let restart = rollout_restart(&client).await;
        rolled_out(&client, &restart).await;
    }
    lossless("3 rollout restarts", &prober.take().await);

    // 2. A pod deleted, gracefully.
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), PRODUCT_NAMESPACE);
    let victim = ready_product_pods(&client).await[0].name_any();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    eventually("a replacement of the deleted pod", || async {
        let serving = ready_product_pods(&client).await;
        serving.iter().all(|p| p.name_any() != victim).then_some(())
    })
    .await;
    lossless("a pod deleted", &prober.take().await);

    // 3. The disruption budget: with one pod evicted (and its replacement not
    //    Ready yet), the eviction of the other is refused.
    let serving = ready_product_pods(&client).await;
    let (first, second) = (serving[0].name_any(), serving[1].name_any());
    let (allowed, said) = evict(&client, &first).await;
    assert!(allowed, "the first eviction is allowed: {said}");
    let (allowed, said) = evict(&client, &second).await;
    assert!(
        !allowed && said.contains("TooManyRequests") && said.contains("disruption budget"),
        "the PodDisruptionBudget refuses the second eviction while the first pod's replacement is not Ready: {said}"
    );
    eprintln!("availability: the second eviction: {}", said.trim());
    eventually("a replacement of the evicted pod", || async {
        let serving = ready_product_pods(&client).await;
        serving.iter().all(|p| p.name_any() != first).then_some(())
    })
    .await;
    lossless(
        "an eviction, and a second one refused",
        &prober.take().await,
    );

    // 4. SIGKILL of CoreDNS, then of status-monitor, in one pod: failures are
    //    bounded (the queries sent to the pod until its readiness probe fails),
    //    no answer is wrong, and the pod recovers.
    for (process, container) in [("coredns", "coredns"), ("status-monitor", "status-monitor")] {
        // One named serving pod: `pkill -o` could hit a pod still terminating
        // after the eviction, whose restart count never rises.
        let target = ready_product_pods(&client).await.swap_remove(0);
        let (target_name, before) = (target.name_any(), restarts(&target, container));
        kill_in_pod(&target, process);
        eventually(
            &format!("{container} of {target_name} restarted and both pods Ready"),
            || async {
                let after = product_pods(&client)
                    .await
                    .iter()
                    .find(|p| p.name_any() == target_name)
                    .map_or(0, |p| restarts(p, container));
                (after > before && ready_product_pods_now(&client).await.len() == 2).then_some(())
            },
        )
        .await;
        let tallies = prober.take().await;
        let scenario = format!("{process} SIGKILLed in one pod");
        report(&scenario, &tallies);
        for tally in &tallies {
            assert!(
                tally.wrong.is_empty(),
                "{scenario}: wrong answers {:?}",
                tally.wrong
            );
            // Bounded: a fraction of the queries of that time.
            assert!(
                tally.failed.len() * 4 <= tally.queries(),
                "{scenario}: {}",
                tally.summary()
            );
        }
    }

    // 5. A change during a rollout reaches every serving pod within 2 s.
    let restart = rollout_restart(&client).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let claim = r#"{"nic1": ["10.10.0.77"]}"#;
    let changed = Instant::now();
    annotate(
        &vmis,
        "vmi-avail",
        json!({common::kubevirt::GUEST_ADDRESSES_ANNOTATION: claim}),
    )
    .await;
    let want = ["10.10.0.5", "10.10.0.77"];
    // Until every serving pod has it, a pod may still give the old records.
    prober.expect_any(&[&["10.10.0.5"], &want]);
    let mut slowest = Duration::ZERO;
    let mut pods_checked = 0;
    loop {
        let serving: Vec<String> = ready_product_pods_now(&client)
            .await
            .iter()
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .collect();
        let behind: Vec<&String> = serving
            .iter()
            .filter(|ip| pod_answers(ip, &name) != want)
            .collect();
        if behind.is_empty() && !serving.is_empty() {
            slowest = slowest.max(changed.elapsed());
            pods_checked = pods_checked.max(serving.len());
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "serving pods {behind:?} still answer the old records 2 s after the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "availability: a change during a rollout: every serving pod ({pods_checked}) answered it after {:.0} ms",
        slowest.as_secs_f64() * 1e3
    );
    // From now on only the new records are right, through the NodePort too.
    prober.expect(&want);
    rolled_out(&client, &restart).await;
    for ip in ready_product_pods(&client)
        .await
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
    {
        assert_eq!(pod_answers(&ip, &name), want, "the rolled pod {ip}");
    }
    lossless("a change during a rollout", &prober.take().await);
    drop(prober);
    ns.delete().await;
}

/// The product's pods that are Ready with both containers right now (during
/// a rollout there may be one, two or three).
async fn ready_product_pods_now(client: &Client) -> Vec<k8s_openapi::api::core::v1::Pod> {
    product_pods(client)
        .await
        .into_iter()
        .filter(is_serving)
        .collect()
}

/// Not going, and both containers Ready.
fn is_serving(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c.len() == 2 && c.iter().all(|c| c.ready))
}
