//! A stand-in for virt-controller, virt-handler and Multus, for clusters where
//! KubeVirt cannot run (the local provider: its images cannot be had there).
//! For each VMI of one namespace it does with real parts what they do:
//! 1. starts a real virt-launcher pod through kubelet, labelled, annotated and
//!    owned as virt-controller makes it;
//! 2. attaches the VMI's Multus networks to that pod's network namespace with
//!    the NADs' CNI configurations and the real CNI plugins, as Multus does;
//! 3. records Multus' `k8s.v1.cni.cncf.io/network-status` on the pod and the
//!    VMI's status (phase, node, interfaces with `infoSource`) as KubeVirt does.
//!
//! A guest agent's extra addresses can be played through the VMI annotation
//! [`GUEST_ADDRESSES_ANNOTATION`] (`{"<interface>": ["<address>", ...]}`): they
//! are reported in the status, and no CNI ever assigned them.
//!
//! Configured by hack/functest.sh on the local provider: FUNCTEST_STANDIN_NETNS
//! (the node's network namespace), FUNCTEST_STANDIN_CONTAINERD (its socket) and
//! FUNCTEST_STANDIN_IMAGE (the launcher's image).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::cni::{self, Attachment};

pub const GUEST_ADDRESSES_ANNOTATION: &str = "kubevirt-dns.io/functest-guest-addresses";
const NODE_NAME: &str = "node01";
/// The cluster's own pod network, as Multus names the default network.
const POD_NETWORK: &str = "pods";

struct Node {
    netns: String,
    containerd: String,
    image: String,
}

impl Node {
    fn from_env() -> Option<Self> {
        Some(Self {
            netns: std::env::var("FUNCTEST_STANDIN_NETNS").ok()?,
            containerd: std::env::var("FUNCTEST_STANDIN_CONTAINERD").ok()?,
            image: std::env::var("FUNCTEST_STANDIN_IMAGE").ok()?,
        })
    }

    /// The host pid of a container (containerd's task of that id).
    fn pid(&self, container_id: &str) -> Result<u32, String> {
        let out = Command::new("ctr")
            .args(["--address", &self.containerd, "-n", "k8s.io", "task", "ls"])
            .output()
            .map_err(|e| format!("ctr: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?, fields.next()?.parse().ok()?))
            })
            .find(|(task, _)| *task == container_id)
            .map(|(_, pid)| pid)
            .ok_or_else(|| format!("no running task {container_id}"))
    }
}

/// One VMI's launcher, once its networks are attached.
struct Launcher {
    pod: String,
    container_netns: String,
    container_id: String,
    /// (the NAD's conflist, its ADD result, the pod's interface)
    networks: Vec<(Value, Value, String)>,
    status: Value,
}

/// The stand-in for one namespace; it stops when dropped.
pub struct StandIn {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// Started when the environment names a node (the local provider), else None:
    /// a cluster with KubeVirt and Multus of its own.
    pub fn start(client: &Client, namespace: &str) -> Option<Self> {
        let node = Node::from_env()?;
        let controller = Controller {
            vmis: Api::namespaced_with(client.clone(), namespace, &vmi_resource()),
            nads: Api::namespaced_with(client.clone(), namespace, &nad_resource()),
            pods: Api::namespaced(client.clone(), namespace),
            namespace: namespace.to_owned(),
            node,
            launchers: HashMap::new(),
        };
        Some(Self {
            task: tokio::spawn(controller.run()),
        })
    }
}

pub fn vmi_resource() -> ApiResource {
    ApiResource::erase::<status_monitor::vmi::VirtualMachineInstance>(&())
}

pub fn nad_resource() -> ApiResource {
    ApiResource {
        group: "k8s.cni.cncf.io".into(),
        version: "v1".into(),
        api_version: "k8s.cni.cncf.io/v1".into(),
        kind: "NetworkAttachmentDefinition".into(),
        plural: "network-attachment-definitions".into(),
    }
}

struct Controller {
    vmis: Api<DynamicObject>,
    nads: Api<DynamicObject>,
    pods: Api<Pod>,
    namespace: String,
    node: Node,
    /// By VMI uid.
    launchers: HashMap<String, Launcher>,
}

impl Controller {
    async fn run(mut self) {
        loop {
            if let Err(e) = self.reconcile().await {
                eprintln!("kubevirt stand-in ({}): {e}", self.namespace);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn reconcile(&mut self) -> Result<(), String> {
        let vmis = self.vmis.list(&ListParams::default()).await.map_err(text)?;
        let pods = self
            .pods
            .list(&ListParams::default().labels("kubevirt.io=virt-launcher"))
            .await
            .map_err(text)?;
        let live: Vec<String> = vmis.items.iter().filter_map(|v| v.uid()).collect();
        // Gone VMIs: their pods go with their owner (the garbage collector);
        // detach first, as Multus does on the pod's deletion.
        let gone: Vec<String> = self
            .launchers
            .keys()
            .filter(|uid| !live.contains(uid))
            .cloned()
            .collect();
        for uid in gone {
            if let Some(launcher) = self.launchers.remove(&uid) {
                self.detach(&launcher);
            }
        }
        for vmi in &vmis.items {
            if vmi.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let uid = vmi.uid().unwrap_or_default();
            let pod = pods.items.iter().find(|p| {
                p.owner_references()
                    .iter()
                    .any(|o| o.uid == uid && o.controller == Some(true))
            });
            match pod {
                None => self.create_launcher(vmi).await?,
                Some(pod) => self.attach_and_report(vmi, pod).await?,
            }
        }
        Ok(())
    }

    /// The virt-launcher pod as virt-controller makes it.
    async fn create_launcher(&self, vmi: &DynamicObject) -> Result<(), String> {
        let name = vmi.name_any();
        let mut labels = vmi.labels().clone();
        labels.insert("kubevirt.io".into(), "virt-launcher".into());
        labels.insert(
            "kubevirt.io/created-by".into(),
            vmi.uid().unwrap_or_default(),
        );
        // A label value holds 63 characters; KubeVirt's names may be longer.
        if name.len() <= 63 {
            labels.insert("vm.kubevirt.io/name".into(), name.clone());
        }
        let requested: Vec<Value> = multus_networks(vmi)
            .iter()
            .enumerate()
            .map(|(i, (_, network))| {
                let (namespace, nad) = nad_name(network, &self.namespace);
                json!({"name": nad, "namespace": namespace, "interface": format!("net{}", i + 1)})
            })
            .collect();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {
                "generateName": format!("virt-launcher-{}-", name.chars().take(40).collect::<String>()),
                "labels": labels,
                "annotations": {
                    "kubevirt.io/domain": name,
                    "k8s.v1.cni.cncf.io/networks": Value::from(requested).to_string(),
                },
                "ownerReferences": [{
                    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                    "name": name, "uid": vmi.uid(), "controller": true, "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "compute", "image": self.node.image,
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                        "runAsUser": 107, "capabilities": {"drop": ["ALL"]}}
                }]
            }
        }))
        .map_err(text)?;
        self.pods
            .create(&PostParams::default(), &pod)
            .await
            .map_err(text)?;
        self.write_status(&name, json!({"phase": "Scheduling"}))
            .await
    }

    async fn attach_and_report(&mut self, vmi: &DynamicObject, pod: &Pod) -> Result<(), String> {
        let uid = vmi.uid().unwrap_or_default();
        if !self.launchers.contains_key(&uid) {
            let Some(launcher) = self.attach(vmi, pod).await? else {
                return Ok(()); // not running yet
            };
            self.launchers.insert(uid.clone(), launcher);
        }
        let launcher = &self.launchers[&uid];
        let status = vmi_status(vmi, pod, launcher);
        if status != launcher.status {
            self.write_status(&vmi.name_any(), status.clone()).await?;
            if let Some(launcher) = self.launchers.get_mut(&uid) {
                launcher.status = status;
            }
        }
        Ok(())
    }

    /// Multus' part: every Multus network of the VMI attached to the pod's
    /// network namespace, and recorded in its network-status annotation.
    async fn attach(&self, vmi: &DynamicObject, pod: &Pod) -> Result<Option<Launcher>, String> {
        let status = pod.status.clone().unwrap_or_default();
        let Some(container_id) = status
            .container_statuses
            .as_ref()
            .and_then(|c| c.first())
            .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            .and_then(|c| c.container_id.clone())
        else {
            return Ok(None);
        };
        let container_id = container_id.trim_start_matches("containerd://").to_owned();
        let pid = self.node.pid(&container_id)?;
        let mut launcher = Launcher {
            pod: pod.name_any(),
            container_netns: format!("/proc/{pid}/ns/net"),
            container_id,
            networks: Vec::new(),
            status: Value::Null,
        };
        let mut network_status = vec![json!({
            "name": POD_NETWORK, "interface": "eth0", "default": true, "dns": {},
            "ips": status.pod_ips.unwrap_or_default().into_iter().map(|ip| ip.ip).collect::<Vec<_>>(),
        })];
        for (i, (_, network)) in multus_networks(vmi).iter().enumerate() {
            let (namespace, nad) = nad_name(network, &self.namespace);
            let object = self.nads.get(&nad).await.map_err(text)?;
            let config: Value = object.data["spec"]["config"]
                .as_str()
                .and_then(|c| serde_json::from_str(c).ok())
                .ok_or_else(|| format!("NAD {nad}: no CNI configuration"))?;
            let ifname = format!("net{}", i + 1);
            let result = cni::add(&config, &self.attachment(&launcher, &ifname))?;
            network_status.push(json!({
                "name": format!("{namespace}/{nad}"), "interface": ifname, "dns": {},
                "ips": result_addresses(&result), "mac": result_mac(&result, &ifname),
            }));
            launcher.networks.push((config, result, ifname));
        }
        let annotation = Value::from(network_status).to_string();
        let patch =
            json!({"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": annotation}}});
        self.pods
            .patch(
                &launcher.pod,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(text)?;
        Ok(Some(launcher))
    }

    fn attachment<'a>(&'a self, launcher: &'a Launcher, ifname: &'a str) -> Attachment<'a> {
        Attachment {
            host_netns: &self.node.netns,
            container_netns: &launcher.container_netns,
            container_id: &launcher.container_id,
            ifname,
        }
    }

    fn detach(&self, launcher: &Launcher) {
        for (config, result, ifname) in &launcher.networks {
            // The pod may be gone already, and its interfaces with it.
            let _ = cni::del(config, Some(result), &self.attachment(launcher, ifname));
        }
    }

    async fn write_status(&self, vmi: &str, status: Value) -> Result<(), String> {
        let patch = json!({"status": status});
        self.vmis
            .patch_status(vmi, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(text)
    }
}

/// The VMI's status as virt-handler reports it with a guest agent: every
/// interface with the addresses of its network, plus what the guest claims.
fn vmi_status(vmi: &DynamicObject, pod: &Pod, launcher: &Launcher) -> Value {
    let claimed: HashMap<String, Vec<String>> = vmi
        .annotations()
        .get(GUEST_ADDRESSES_ANNOTATION)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let pod_ips: Vec<String> = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ips.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|ip| ip.ip)
        .collect();
    let multus = multus_networks(vmi);
    let interfaces: Vec<Value> = spec_interfaces(vmi)
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let attached = multus
                .iter()
                .position(|(network, _)| network == name)
                .and_then(|n| launcher.networks.get(n));
            let (mut addresses, mac, info_source, pod_interface) = match attached {
                Some((_, result, ifname)) => (
                    result_addresses(result),
                    result_mac(result, ifname),
                    "domain, guest-agent, multus-status",
                    ifname.clone(),
                ),
                None => (
                    pod_ips.clone(),
                    Value::Null,
                    "domain, guest-agent",
                    "eth0".into(),
                ),
            };
            addresses.extend(claimed.get(name).cloned().unwrap_or_default());
            json!({
                "name": name, "interfaceName": format!("eth{i}"),
                "ipAddress": addresses.first(), "ipAddresses": addresses, "mac": mac,
                "infoSource": info_source, "queueCount": 1, "podInterfaceName": pod_interface,
            })
        })
        .collect();
    json!({
        "phase": "Running",
        "nodeName": NODE_NAME,
        "qosClass": "Burstable",
        "activePods": {pod.uid().unwrap_or_default(): NODE_NAME},
        "conditions": [{"type": "Ready", "status": "True"}],
        "interfaces": interfaces,
    })
}

fn spec_interfaces(vmi: &DynamicObject) -> Vec<String> {
    vmi.data["spec"]["domain"]["devices"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(str::to_owned))
        .collect()
}

/// (network name, Multus network name) of every non-default Multus network.
fn multus_networks(vmi: &DynamicObject) -> Vec<(String, String)> {
    vmi.data["spec"]["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["multus"]["default"] != true)
        .filter_map(|n| {
            Some((
                n["name"].as_str()?.to_owned(),
                n["multus"]["networkName"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// A Multus network name, `nad` or `namespace/nad`, as (namespace, nad).
fn nad_name(network: &str, namespace: &str) -> (String, String) {
    match network.split_once('/') {
        Some((namespace, nad)) => (namespace.to_owned(), nad.to_owned()),
        None => (namespace.to_owned(), network.to_owned()),
    }
}

/// A CNI result's addresses, without prefix length.
fn result_addresses(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip["address"].as_str()?.split('/').next().map(str::to_owned))
        .collect()
}

/// The MAC of the container side's interface in a CNI result.
fn result_mac(result: &Value, ifname: &str) -> Value {
    result["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == ifname && i["sandbox"].is_string())
        .map(|i| i["mac"].clone())
        .unwrap_or(Value::Null)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}
