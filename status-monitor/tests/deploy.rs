//! The shipped manifests: in sync, two containers sharing one volume (CoreDNS sees only its zones), hardened, a
//! read-only role, and settings that status-monitor accepts. (The integration
//! tier also dry-runs them against a real kube-apiserver.)

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use status_monitor::config::Config;
use status_monitor::output::zone::serial_ledger::SHARDS;
use status_monitor::readiness::ReadyWhen;
use zone_manager::ZonesDir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn all_in_one_text() -> String {
    std::fs::read_to_string(repo().join("deploy/all-in-one/kubevirt-dns.yaml")).unwrap()
}

fn objects() -> Vec<Value> {
    serde_saphyr::from_multiple(&all_in_one_text()).unwrap()
}

fn object(kind: &str) -> Value {
    let mut found: Vec<Value> = objects()
        .into_iter()
        .filter(|o| o["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found.remove(0)
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// `kubectl kustomize <dir>` (relative to the repository).
fn kustomize(dir: &str) -> String {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo().join(dir))
        .output()
        .expect("kubectl (preinstalled)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn all_in_one_manifest_is_what_kustomize_renders_from_deploy() {
    let rendered = kustomize("deploy");
    assert_eq!(
        rendered,
        all_in_one_text(),
        "deploy/all-in-one is stale: run `make manifests`"
    );
}

#[test]
fn the_deployment_has_exactly_the_two_containers_sharing_zones() {
    let deployment = object("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let names: Vec<&str> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["status-monitor", "coredns"]);
    let volumes = pod["volumes"].as_array().unwrap();
    let zones = volumes
        .iter()
        .find(|v| v["name"] == "zones")
        .expect("zones volume");
    assert!(zones["emptyDir"].is_object(), "zones is an emptyDir");

    let mount = |c: &Value| {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "zones")
            .cloned()
            .expect("mounts zones")
    };
    let writer = mount(container(&deployment, "status-monitor"));
    let reader = mount(container(&deployment, "coredns"));
    // CoreDNS sees the zones subdirectory only; status-monitor stages beside it.
    assert_eq!(writer["mountPath"], "/var/lib/kubevirt-dns");
    assert_eq!(writer["subPath"], Value::Null);
    assert_eq!(reader["mountPath"], "/zones");
    assert_eq!(reader["subPath"], "zones");
    assert_ne!(writer["readOnly"], true);
    assert_eq!(reader["readOnly"], true, "CoreDNS only reads the zones");
    assert_eq!(pod["serviceAccountName"], "status-monitor");
}

#[test]
fn both_containers_are_hardened_probed_and_bounded() {
    let deployment = object("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    for name in ["status-monitor", "coredns"] {
        let c = container(&deployment, name);
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
        // CoreDNS's image carries cap_net_bind_service=+ep on /coredns, which
        // cannot be executed unless that one capability stays in the bounding
        // set (tests/coredns_pod.rs runs it so); status-monitor needs none.
        let added = match name {
            "coredns" => serde_json::json!(["NET_BIND_SERVICE"]),
            _ => Value::Null,
        };
        assert_eq!(sc["capabilities"]["add"], added, "{name} adds capabilities");
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][resource].is_string(),
                    "{name} {kind}.{resource}"
                );
            }
        }
        assert!(c["livenessProbe"]["httpGet"].is_object(), "{name} liveness");
        assert!(
            c["readinessProbe"]["httpGet"].is_object(),
            "{name} readiness"
        );
    }
    let monitor = container(&deployment, "status-monitor");
    assert_eq!(monitor["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(monitor["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );

    assert_eq!(
        container(&deployment, "coredns")["image"],
        "registry.k8s.io/coredns/coredns:v1.14.7",
        "the CoreDNS the tests run (../shared/bin/coredns), from registry.k8s.io"
    );
}

#[test]
fn the_cluster_role_grants_only_reading_vmis() {
    let role = object("ClusterRole");
    assert_eq!(
        role["rules"],
        serde_json::json!([{
            "apiGroups": ["kubevirt.io"],
            "resources": ["virtualmachineinstances"],
            "verbs": ["get", "list", "watch"]
        }])
    );
    assert!(role["aggregationRule"].is_null());
    let binding = object("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], "status-monitor");
}

#[test]
fn the_role_grants_only_the_serial_ledger_the_deployment_uses() {
    let role = object("Role");
    assert_eq!(role["metadata"]["namespace"], "kubevirt-dns");
    let config = Config::from_vars(environment(
        container(&object("Deployment"), "status-monitor")["env"]
            .as_array()
            .unwrap(),
        &object("ConfigMap"),
    ))
    .unwrap();
    let prefix = config
        .serial_ledger
        .expect("the Deployment uses the ledger");
    let names: Vec<String> = (0..SHARDS)
        .map(|shard| format!("{prefix}-{shard:x}"))
        .collect();
    assert_eq!(
        role["rules"],
        serde_json::json!([
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": names, "verbs": ["get", "update"]},
        ])
    );
    let binding = object("RoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], "status-monitor");
}

#[test]
fn corefile_serves_zones_with_an_anchored_pattern_on_5353() {
    let config = object("ConfigMap");
    let corefile = config["data"]["Corefile"].as_str().unwrap();
    assert!(corefile.contains(".:5353"), "{corefile}");
    assert!(
        corefile.contains(r"directory /zones ^db\.(.+)$ {1}"),
        "{corefile}"
    );
    assert!(corefile.contains("reload 1s"), "{corefile}");
    for plugin in ["errors", "log", "health", "ready"] {
        assert!(
            corefile.lines().any(|l| l.trim().starts_with(plugin)),
            "{plugin} in {corefile}"
        );
    }
}

#[test]
fn the_deployment_environment_is_a_valid_configuration() {
    let config_map = object("ConfigMap");
    let deployment = object("Deployment");
    let env = container(&deployment, "status-monitor")["env"]
        .as_array()
        .unwrap()
        .clone();
    let vars = environment(&env, &config_map);
    let config = Config::from_vars(vars).unwrap();
    assert_eq!(
        config.zones_dir,
        ZonesDir::new("/var/lib/kubevirt-dns/zones").staging_in("/var/lib/kubevirt-dns/staging"),
        "zones/ is what CoreDNS mounts at /zones; staging/ is beside it, out of its sight"
    );
    assert_eq!(config.http_addr.port(), 8081);
    // A pod turns ready only once the CoreDNS beside it serves the zones: it
    // asks the port the Corefile listens on.
    assert_eq!(config.ready_when(), ReadyWhen::Served);
    assert_eq!(
        config.notify.local_dns,
        Some("127.0.0.1:5353".parse().unwrap())
    );
    let corefile = config_map["data"]["Corefile"].as_str().unwrap();
    assert!(corefile.contains(".:5353 {"), "{corefile}");
}

/// A container's `env` as the pod gets it: values, and ConfigMap keys read
/// from `config_map`.
fn environment(env: &[Value], config_map: &Value) -> Vec<(String, String)> {
    env.iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_owned();
            let value = match e["value"].as_str() {
                Some(v) => v.to_owned(),
                None => {
                    let key = e["valueFrom"]["configMapKeyRef"]["key"].as_str().unwrap();
                    config_map["data"][key].as_str().unwrap().to_owned()
                }
            };
            (name, value)
        })
        .collect()
}

/// The seconds of a Corefile directive written `<directive> <n>s`.
fn corefile_seconds(corefile: &str, directive: &str) -> u64 {
    corefile
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(directive)?
                .trim()
                .strip_suffix('s')?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("`{directive} <n>s` in {corefile}"))
}

/// An overlay of the base: the rules of every ClusterRole it renders, and
/// whether it sets `variable=value` on status-monitor.
fn overlay(path: &str, variable: &str, value: &str) -> (Vec<Value>, bool) {
    let objects: Vec<Value> = serde_saphyr::from_multiple(&kustomize(path)).unwrap();
    let rules = objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole")
        .map(|r| r["rules"].clone())
        .collect();
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let sets = container(deployment, "status-monitor")["env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == variable && e["value"] == value);
    (rules, sets)
}

fn read_vmis_rule() -> Value {
    serde_json::json!([{"apiGroups": ["kubevirt.io"], "resources": ["virtualmachineinstances"], "verbs": ["get", "list", "watch"]}])
}

#[test]
fn network_addresses_overlay_adds_only_reading_pods_and_the_setting() {
    let (rules, sets) = overlay("deploy/network-addresses", "ADDRESS_SOURCE", "network");
    assert_eq!(
        rules,
        [
            read_vmis_rule(),
            serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
        ]
    );
    assert!(sets);
}

#[test]
fn dns_endpoints_overlay_adds_only_dnsendpoint_access_and_the_setting() {
    let (rules, sets) = overlay("deploy/dns-endpoints", "DNS_ENDPOINTS", "true");
    assert_eq!(
        rules,
        [
            read_vmis_rule(),
            serde_json::json!([{"apiGroups": ["externaldns.k8s.io"], "resources": ["dnsendpoints"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]}]),
        ],
        "VMIs stay read-only; nothing but DNSEndpoints is written"
    );
    assert!(sets);
}

#[test]
fn two_replicas_roll_one_at_a_time_spread_over_nodes_behind_a_disruption_budget() {
    let deployment = object("Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2, "RFC 2182: at least two servers");
    assert_eq!(
        spec["strategy"],
        serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    );
    let pod = &spec["template"]["spec"];
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        spread["whenUnsatisfiable"], "ScheduleAnyway",
        "one-node clusters still schedule both"
    );
    assert_eq!(
        spread["labelSelector"]["matchLabels"],
        spec["selector"]["matchLabels"]
    );

    // The grace period outlasts CoreDNS's lameduck, which the Corefile sets.
    let lameduck = corefile_seconds(
        object("ConfigMap")["data"]["Corefile"].as_str().unwrap(),
        "lameduck",
    );
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > lameduck);

    let budget = object("PodDisruptionBudget");
    assert_eq!(budget["apiVersion"], "policy/v1");
    assert_eq!(budget["spec"]["minAvailable"], 1);
    assert_eq!(budget["spec"]["selector"], spec["selector"]);
}

#[test]
fn the_network_policy_lets_dns_and_scrapes_in_and_only_the_api_server_out() {
    let policy = object("NetworkPolicy");
    let spec = &policy["spec"];
    assert_eq!(
        spec["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let ports = |rules: &Value| -> Vec<(String, u64)> {
        rules
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rule| rule["ports"].as_array().unwrap().clone())
            .map(|p| {
                (
                    p["protocol"].as_str().unwrap().to_owned(),
                    p["port"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let tcp = |port| ("TCP".to_owned(), port);
    assert_eq!(
        ports(&spec["ingress"]),
        [("UDP".to_owned(), 5353), tcp(5353), tcp(8081), tcp(9153)]
    );
    // The kubernetes Service's port and the API server endpoints' port.
    assert_eq!(ports(&spec["egress"]), [tcp(443), tcp(6443)]);
}

/// The memory limits fit what `make bench-e2e` measured at 10k VMIs
/// (BENCHMARKS.md: status-monitor 28 MiB, CoreDNS 99 MiB), with room for a
/// reload's doubling and the runtime's growth; docs/performance.md's sizing table says
/// what to raise beyond that.
#[test]
fn memory_limits_fit_the_measured_peaks_at_10k_vmis() {
    const MEASURED_PEAK_MIB: [(&str, u64); 2] = [("status-monitor", 28), ("coredns", 99)];
    let deployment = object("Deployment");
    for (name, peak) in MEASURED_PEAK_MIB {
        let limit = container(&deployment, name)["resources"]["limits"]["memory"]
            .as_str()
            .unwrap();
        let mib: u64 = limit
            .strip_suffix("Mi")
            .and_then(|n| n.parse().ok())
            .or_else(|| {
                limit
                    .strip_suffix("Gi")
                    .and_then(|n| n.parse::<u64>().ok())
                    .map(|g| g * 1024)
            })
            .unwrap_or_else(|| panic!("{name}: a limit in Mi or Gi, not {limit}"));
        assert!(
            mib >= 2 * peak,
            "{name}: limit {mib} MiB for a measured peak of {peak} MiB"
        );
    }
}

/// Objects rendered from `path`, by kind.
fn rendered(path: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(&kustomize(path)).unwrap()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects.iter().find(|o| o["kind"] == kind).unwrap()
}

#[test]
fn zone_transfer_overlay_adds_transfers_the_key_notify_and_nothing_else() {
    let base = rendered("deploy");
    let overlay = rendered("deploy/zone-transfer");

    // The Corefile is the base one plus `transfer` and `tsig`.
    let corefile = |objects: &[Value]| {
        of_kind(objects, "ConfigMap")["data"]["Corefile"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (base_corefile, transfer_corefile) = (corefile(&base), corefile(&overlay));
    let start = transfer_corefile
        .find("    # Zone transfers")
        .expect("the transfer block");
    let end_marker = "require AXFR IXFR\n    }\n";
    let end = transfer_corefile.find(end_marker).unwrap() + end_marker.len();
    let block = &transfer_corefile[start..end];
    assert_eq!(transfer_corefile.replace(block, ""), base_corefile);
    let directives: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        directives,
        [
            "transfer {",
            "to *",
            "}",
            "tsig {",
            "secrets /etc/coredns-tsig/transfer.key",
            "require AXFR IXFR",
            "}"
        ],
        "no notify addresses for CoreDNS: status-monitor sends NOTIFY"
    );

    // CoreDNS reads the key from the Secret, which must exist.
    let deployment = of_kind(&overlay, "Deployment");
    let coredns = container(deployment, "coredns");
    let mount = coredns["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "transfer-key")
        .unwrap();
    assert_eq!(mount["mountPath"], "/etc/coredns-tsig");
    assert_eq!(mount["readOnly"], true);
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "transfer-key")
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "kubevirt-dns-transfer-key");
    assert_eq!(volume["secret"]["items"][0]["path"], "transfer.key");
    assert!(
        volume["secret"]["optional"].is_null(),
        "a missing Secret stops the pod"
    );

    // status-monitor gets the two settings from the ConfigMap, and accepts them.
    let config_map = of_kind(&overlay, "ConfigMap");
    let env = container(deployment, "status-monitor")["env"]
        .as_array()
        .unwrap()
        .clone();
    for variable in ["NOTIFY_SECONDARIES", "CATALOG_ZONE"] {
        let entry = env.iter().find(|e| e["name"] == variable).unwrap();
        let key = &entry["valueFrom"]["configMapKeyRef"]["key"];
        assert_eq!(key, variable);
        assert!(config_map["data"][variable].is_string(), "{variable}");
    }
    let vars = environment(&env, config_map);
    let config = Config::from_vars(vars).unwrap();
    // NOTIFY waits for the CoreDNS of the same pod, on the Corefile's port.
    assert_eq!(config.notify.local_dns.map(|a| a.port()), Some(5353));
    assert!(base_corefile.contains(".:5353 {"));

    // NOTIFY may leave the pod; nothing else changes.
    let egress = |objects: &[Value]| of_kind(objects, "NetworkPolicy")["spec"]["egress"].clone();
    let mut expected = egress(&base);
    expected
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"ports": [{"protocol": "UDP", "port": 53}]}));
    assert_eq!(egress(&overlay), expected);
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "PodDisruptionBudget",
    ] {
        assert_eq!(of_kind(&overlay, kind), of_kind(&base, kind), "{kind}");
    }
    assert_eq!(overlay.len(), base.len(), "no new object");
}

#[test]
fn monitoring_overlay_adds_a_pod_monitor_of_both_containers_the_alerts_and_the_dashboard() {
    let base = rendered("deploy");
    let overlay = rendered("deploy/monitoring");
    let kinds = |objects: &[Value]| -> Vec<String> {
        objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut expected = kinds(&base);
    expected.extend(["ConfigMap", "PodMonitor", "PrometheusRule"].map(str::to_owned));
    let mut got = kinds(&overlay);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    // Nothing of the base changes.
    for object in &base {
        assert!(overlay.contains(object), "{} changed", object["kind"]);
    }

    // The PodMonitor scrapes a named port of each container.
    let deployment = of_kind(&overlay, "Deployment");
    let monitor = of_kind(&overlay, "PodMonitor");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let scraped: Vec<&str> = monitor["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["port"].as_str().unwrap())
        .collect();
    for (name, port) in [
        ("status-monitor", "metrics"),
        ("coredns", "coredns-metrics"),
    ] {
        let ports = container(deployment, name)["ports"].as_array().unwrap();
        assert!(
            ports.iter().any(|p| p["name"] == port),
            "{name} has no port {port}"
        );
        assert!(scraped.contains(&port), "{port} is not scraped");
    }

    // The dashboard, as Grafana's sidecar finds it.
    let dashboard = overlay
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "kubevirt-dns-dashboard")
        .unwrap();
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = std::fs::read_to_string(repo().join("deploy/components/monitoring/dashboard.json"))
        .unwrap();
    assert_eq!(dashboard["data"]["dashboard.json"], json.as_str());
    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["uid"], "kubevirt-dns");
}
