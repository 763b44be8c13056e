//! Creating and changing VMIs in the real API server, as KubeVirt would: the
//! object first, its status (interfaces and addresses) later through `/status`.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

use super::cluster::Cluster;

pub struct Vmis {
    client: Client,
    resource: ApiResource,
}

impl Vmis {
    /// Connects as admin, through the apiserver the monitor does not use.
    pub async fn connect(cluster: &Cluster) -> Self {
        let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig("admin")).unwrap();
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
        Self {
            client: Client::try_from(config).unwrap(),
            resource: ApiResource::erase::<status_monitor::vmi::VirtualMachineInstance>(&()),
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &self.resource)
    }

    pub async fn create_namespace(&self, name: &str) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let object: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        match namespaces.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("create namespace {name}: {e}"),
        }
    }

    /// A VMI on the pod network plus the given Multus networks, no status yet.
    pub async fn create(&self, namespace: &str, name: &str, secondary: &[&str]) {
        let mut networks = vec![json!({"name": "default", "pod": {}})];
        networks.extend(
            secondary
                .iter()
                .map(|n| json!({"name": n, "multus": {"networkName": format!("{n}-net")}})),
        );
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"domain": {"devices": {}}, "networks": networks}
        }))
        .unwrap();
        self.api(namespace)
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create {namespace}/{name}: {e}"));
    }

    /// Replaces `status` through the status subresource: the pod interface plus
    /// the given secondary interfaces and their addresses.
    pub async fn set_interfaces(
        &self,
        namespace: &str,
        name: &str,
        interfaces: &[(&str, &[&str])],
    ) {
        let mut list = vec![
            json!({"name": "default", "interfaceName": "eth0", "ipAddress": "10.244.0.9", "ipAddresses": ["10.244.0.9"]}),
        ];
        list.extend(interfaces.iter().map(|(iface, addresses)| {
            json!({"name": iface, "ipAddress": addresses.first(), "ipAddresses": addresses, "infoSource": "domain, guest-agent, multus-status"})
        }));
        self.patch_status(
            namespace,
            name,
            json!({"phase": "Running", "interfaces": list}),
        )
        .await;
    }

    pub async fn patch_status(&self, namespace: &str, name: &str, status: serde_json::Value) {
        self.api(namespace)
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .unwrap_or_else(|e| panic!("patch status of {namespace}/{name}: {e}"));
    }

    /// A VMI whose status does not decode (an address that is a number).
    pub async fn create_malformed(&self, namespace: &str, name: &str) {
        self.create(namespace, name, &["red"]).await;
        self.patch_status(
            namespace,
            name,
            json!({"interfaces": [{"name": "red", "ipAddress": 42}]}),
        )
        .await;
    }

    /// Merge-patches `metadata.annotations` (a `null` value removes one).
    pub async fn annotate(&self, namespace: &str, name: &str, annotations: serde_json::Value) {
        self.patch(
            namespace,
            name,
            json!({"metadata": {"annotations": annotations}}),
        )
        .await;
    }

    /// Merge-patches the object (not its status), as a user or KubeVirt would.
    pub async fn patch(&self, namespace: &str, name: &str, patch: serde_json::Value) {
        self.api(namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("patch {namespace}/{name}: {e}"));
    }

    pub async fn uid(&self, namespace: &str, name: &str) -> String {
        let object = self.api(namespace).get(name).await.unwrap();
        object.metadata.uid.unwrap()
    }

    pub async fn delete(&self, namespace: &str, name: &str) {
        self.api(namespace)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {namespace}/{name}: {e}"));
    }
}
