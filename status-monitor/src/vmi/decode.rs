//! The one lenient VMI decoder, for the Kubernetes watch and for manifests.
//! It deserializes straight from the text (JSON or YAML) and keeps only what
//! the projection reads: the metadata it needs (name, namespace, uid,
//! resourceVersion, labels, annotations) and the subtrees `spec.networks`,
//! `spec.domain.devices.interfaces`, `spec.hostname`, `spec.subdomain`,
//! `status.interfaces` and `status.phase`.
//! Everything else is skipped while parsing, never built.
//!
//! Whatever shape those fields have, an object deserializes, so one malformed
//! VMI can never fail a list page, the watch stream or a manifest file; it is
//! decoded (and, if it does not fit, skipped with a warning naming it) one by
//! one. [`ObjectSeed`] reads a manifest document the same way, handing out
//! the VMIs of a List item by item, so a list is never held whole.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde_json::Value;

pub use super::document::{ObjectSeed, ObjectSink};
pub use super::pick::Picked;

use crate::vmi::{
    DeviceInterface, Devices, DomainSpec, VirtualMachineInstance, VirtualMachineInstanceSpec,
    VirtualMachineInstanceStatus, VmiRef,
};

/// A VirtualMachineInstance as read, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct LenientVmi {
    /// The metadata fields that have the expected shape (kube's watcher reads
    /// the resourceVersion from here).
    pub metadata: ObjectMeta,
    /// What in `metadata` does not fit, if anything.
    pub(super) metadata_problem: Option<String>,
    pub spec: SpecFields,
    pub status: StatusFields,
}

/// What is kept of `spec`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecFields {
    /// `spec.networks`
    pub networks: Picked,
    /// `spec.domain.devices.interfaces`
    pub device_interfaces: Picked,
    /// `spec.hostname`
    pub hostname: Picked,
    /// `spec.subdomain`
    pub subdomain: Picked,
}

/// What is kept of `status`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusFields {
    /// `status.interfaces`
    pub interfaces: Picked,
    /// `status.phase`
    pub phase: Picked,
}

/// A VMI that does not decode, by name.
#[derive(Debug, thiserror::Error)]
#[error("VMI {vmi} does not decode: {message}")]
pub struct DecodeError {
    pub vmi: VmiRef,
    pub message: String,
}

impl Resource for LenientVmi {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        VirtualMachineInstance::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        VirtualMachineInstance::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        VirtualMachineInstance::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        VirtualMachineInstance::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl LenientVmi {
    /// `namespace/name`, as far as the metadata tells.
    pub fn vmi_ref(&self) -> VmiRef {
        VmiRef::new(
            self.metadata.namespace.as_deref(),
            self.metadata.name.as_deref(),
        )
    }

    /// The typed VMI the projection reads; the error names the VMI and what
    /// does not fit.
    pub fn decode(self) -> Result<VirtualMachineInstance, DecodeError> {
        let vmi = self.vmi_ref();
        self.decode_fields()
            .map_err(|message| DecodeError { vmi, message })
    }

    fn decode_fields(self) -> Result<VirtualMachineInstance, String> {
        if let Some(problem) = self.metadata_problem {
            return Err(problem);
        }
        let networks = decode_field("spec.networks", self.spec.networks)?;
        // Inside `spec`, a `domain` or `devices` of another shape is KubeVirt's
        // business (it would not admit it); only the list itself must fit.
        let device_interfaces = match self.spec.device_interfaces {
            Picked::NotAnObject => None,
            picked => {
                decode_field::<Vec<DeviceInterface>>("spec.domain.devices.interfaces", picked)?
            }
        };
        let hostname = decode_field("spec.hostname", self.spec.hostname)?;
        let subdomain = decode_field("spec.subdomain", self.spec.subdomain)?;
        let interfaces = decode_field("status.interfaces", self.status.interfaces)?;
        let phase = match self.status.phase {
            Picked::Found(Value::String(phase)) => Some(phase),
            _ => None,
        };
        Ok(VirtualMachineInstance {
            metadata: self.metadata,
            spec: VirtualMachineInstanceSpec {
                networks,
                domain: device_interfaces.map(|interfaces| DomainSpec {
                    devices: Some(Devices {
                        interfaces: Some(interfaces),
                    }),
                }),
                hostname,
                subdomain,
            },
            status: Some(VirtualMachineInstanceStatus { interfaces, phase }),
        })
    }
}

fn decode_field<T: serde::de::DeserializeOwned>(
    path: &str,
    picked: Picked,
) -> Result<Option<T>, String> {
    match picked {
        Picked::Absent | Picked::Found(Value::Null) => Ok(None),
        Picked::Found(value) => serde_json::from_value(value)
            .map(Some)
            .map_err(|e| format!("{path}: {e}")),
        Picked::NotAnObject => Err(format!(
            "{} is not an object",
            path.split('.').next().unwrap_or(path)
        )),
    }
}

pub(super) const SPEC_PATHS: [&[&str]; 4] = [
    &["networks"],
    &["domain", "devices", "interfaces"],
    &["hostname"],
    &["subdomain"],
];
pub(super) const STATUS_PATHS: [&[&str]; 2] = [&["interfaces"], &["phase"]];
pub(super) const METADATA_PATHS: [&[&str]; 6] = [
    &["name"],
    &["namespace"],
    &["uid"],
    &["resourceVersion"],
    &["labels"],
    &["annotations"],
];

/// The metadata from its picked fields; the problem names the first field of
/// the wrong shape.
pub(super) fn metadata_of(picked: Vec<Picked>) -> (ObjectMeta, Option<String>) {
    let mut problem = None;
    let mut note = |field: &str, what: &str| {
        problem.get_or_insert_with(|| format!("metadata.{field} is not {what}"));
    };
    if picked.first() == Some(&Picked::NotAnObject) {
        return (
            ObjectMeta::default(),
            Some("metadata is not an object".into()),
        );
    }
    let mut picked = picked.into_iter();
    let mut text = |field: &str| match picked.next() {
        Some(Picked::Found(Value::String(s))) => Some(s),
        Some(Picked::Found(Value::Null) | Picked::Absent) | None => None,
        Some(_) => {
            note(field, "a string");
            None
        }
    };
    let name = text("name");
    let namespace = text("namespace");
    let uid = text("uid");
    let resource_version = text("resourceVersion");
    let mut map = |field: &str| match picked.next() {
        Some(Picked::Found(Value::Object(map))) => {
            let mut strings = BTreeMap::new();
            for (key, value) in map {
                match value {
                    Value::String(value) => {
                        strings.insert(key, value);
                    }
                    _ => {
                        note(field, "a map of strings");
                        return None;
                    }
                }
            }
            Some(strings)
        }
        Some(Picked::Found(Value::Null) | Picked::Absent) | None => None,
        Some(_) => {
            note(field, "a map of strings");
            None
        }
    };
    let labels = map("labels");
    let annotations = map("annotations");
    let metadata = ObjectMeta {
        name,
        namespace,
        uid,
        resource_version,
        labels,
        annotations,
        ..ObjectMeta::default()
    };
    (metadata, problem)
}

/// The picked fields in the order of their paths.
pub(super) fn picked_fields<const N: usize>(picked: Vec<Picked>) -> [Picked; N] {
    let mut picked = picked.into_iter();
    std::array::from_fn(|_| picked.next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn watched(object: Value) -> LenientVmi {
        serde_json::from_value(object).unwrap()
    }

    #[test]
    fn keeps_networks_and_interfaces_and_nothing_else() {
        let w = watched(json!({
            "metadata": {"name": "a", "namespace": "ns"},
            "spec": {"domain": {"cpu": {"cores": 4}}, "networks": [{"name": "red", "multus": {"networkName": "r"}}]},
            "status": {"phase": "Running", "guestOSInfo": {"id": 7}, "interfaces": [{"name": "red", "ipAddress": "10.0.0.1"}]}
        }));
        assert_eq!(
            w.spec.networks,
            Picked::Found(json!([{"name": "red", "multus": {"networkName": "r"}}]))
        );
        let vmi = w.decode().unwrap();
        assert_eq!(
            vmi.status.unwrap().interfaces.unwrap()[0]
                .ip_address
                .as_deref(),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn any_shape_deserializes_and_the_decode_error_names_the_field() {
        for (spec, status, field) in [
            (json!("oops"), json!({}), "spec"),
            (json!({}), json!([1, 2]), "status"),
            (
                json!({}),
                json!({"interfaces": "not a list"}),
                "status.interfaces",
            ),
            (json!({"networks": 5}), json!(null), "spec.networks"),
        ] {
            let w = watched(json!({"metadata": {"name": "a"}, "spec": spec, "status": status}));
            let error = w.decode().unwrap_err().message;
            assert!(error.starts_with(field), "{error}");
        }
    }

    #[test]
    fn unrelated_oddities_do_not_matter() {
        let w = watched(json!({
            "metadata": {"name": "a"},
            "spec": {"networks": [], "domain": "weird"},
            "status": {"phase": 42, "interfaces": null}
        }));
        let vmi = w.decode().unwrap();
        assert!(vmi.status.unwrap().interfaces.is_none());
    }
}
