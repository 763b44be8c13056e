//! The VMIs the tests feed status-monitor, built one way: a VMI in a
//! namespace, its secondary (Multus) networks with the addresses KubeVirt
//! reports for them, and whatever a test adds (the pod network, a phase,
//! annotations, labels). Out as JSON, as manifest text, or as YAML.

use serde_json::{Map, Value, json};

/// A `kubevirt.io/v1` VirtualMachineInstance under construction.
#[derive(Clone, Debug)]
pub struct Vmi {
    namespace: String,
    name: String,
    metadata: Map<String, Value>,
    networks: Vec<Value>,
    interfaces: Vec<Value>,
    phase: Option<String>,
}

impl Vmi {
    /// `namespace/name`, with no network yet.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            metadata: Map::new(),
            networks: Vec::new(),
            interfaces: Vec::new(),
            phase: None,
        }
    }

    /// A secondary network `network` (Multus network `network`) whose
    /// interface reports `addresses`.
    pub fn secondary(mut self, network: &str, addresses: &[&str]) -> Self {
        self.networks
            .push(json!({"name": network, "multus": {"networkName": network}}));
        self.interfaces
            .push(json!({"name": network, "ipAddresses": addresses}));
        self
    }

    /// The pod network `default`, whose interface reports `addresses`.
    pub fn pod_network(mut self, addresses: &[&str]) -> Self {
        self.networks.push(json!({"name": "default", "pod": {}}));
        self.interfaces
            .push(json!({"name": "default", "ipAddresses": addresses}));
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = Some(phase.to_owned());
        self
    }

    pub fn annotations(self, annotations: Value) -> Self {
        self.metadata_field("annotations", annotations)
    }

    pub fn labels(self, labels: Value) -> Self {
        self.metadata_field("labels", labels)
    }

    pub fn resource_version(self, version: &str) -> Self {
        self.metadata_field("resourceVersion", json!(version))
    }

    fn metadata_field(mut self, field: &str, value: Value) -> Self {
        self.metadata.insert(field.to_owned(), value);
        self
    }

    pub fn json(&self) -> Value {
        let mut metadata = self.metadata.clone();
        metadata.insert("name".into(), json!(self.name));
        metadata.insert("namespace".into(), json!(self.namespace));
        let mut status = json!({"interfaces": self.interfaces});
        if let Some(phase) = &self.phase {
            status["phase"] = json!(phase);
        }
        json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": metadata,
            "spec": {"networks": self.networks},
            "status": status
        })
    }

    /// The manifest as `kubectl get vmi -o json` prints it.
    pub fn manifest(&self) -> String {
        self.json().to_string()
    }

    /// The manifest as `kubectl get vmi -o yaml` prints it.
    pub fn yaml(&self) -> String {
        serde_saphyr::to_string(&self.json()).expect("a VMI serializes")
    }
}

/// A VMI manifest (JSON) in `namespace` whose network `red` has `address`.
pub fn vmi_manifest(namespace: &str, name: &str, address: &str) -> String {
    Vmi::new(namespace, name)
        .secondary("red", &[address])
        .manifest()
}

/// VMIs as one `kind: List`, as `kubectl get vmi -o json` prints several.
pub fn list(items: impl IntoIterator<Item = Value>) -> String {
    let items: Vec<Value> = items.into_iter().collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}
