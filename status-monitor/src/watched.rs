//! What the Kubernetes watch deserializes a VMI into: its metadata and the two
//! subtrees the zone needs (`spec.networks`, `status.interfaces`), everything
//! else skipped while parsing. Whatever shape those subtrees have, the object
//! deserializes, so one malformed VMI can never fail a list page or the watch
//! stream; it is decoded (and, if it does not fit, skipped) one by one.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::vmi::{
    VirtualMachineInstance, VirtualMachineInstanceSpec, VirtualMachineInstanceStatus,
};

/// One field picked out of an object while the rest is skipped.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Picked {
    /// No such field, or the object was `null` or absent.
    #[default]
    Absent,
    Found(Value),
    /// The "object" was a string, number, list...: not decodable.
    NotAnObject,
}

/// A VirtualMachineInstance as watched.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WatchedVmi {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec.networks`
    #[serde(default, rename = "spec", deserialize_with = "pick_networks")]
    pub networks: Picked,
    /// `status.interfaces`
    #[serde(default, rename = "status", deserialize_with = "pick_interfaces")]
    pub interfaces: Picked,
}

impl Resource for WatchedVmi {
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

impl WatchedVmi {
    /// The typed VMI the projection reads; an error names what does not fit.
    pub fn decode(self) -> Result<VirtualMachineInstance, String> {
        let networks = decode_field("spec.networks", self.networks)?;
        let interfaces = decode_field("status.interfaces", self.interfaces)?;
        Ok(VirtualMachineInstance {
            metadata: self.metadata,
            spec: VirtualMachineInstanceSpec { networks },
            status: Some(VirtualMachineInstanceStatus { interfaces }),
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

fn pick_networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Picked, D::Error> {
    deserializer.deserialize_any(PickField("networks"))
}

fn pick_interfaces<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Picked, D::Error> {
    deserializer.deserialize_any(PickField("interfaces"))
}

/// Accepts any JSON value; from a map, keeps one field and skips the others.
struct PickField(&'static str);

impl<'de> Visitor<'de> for PickField {
    type Value = Picked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "any value (an object with {:?}, ideally)", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked, A::Error> {
        let mut picked = Picked::Absent;
        while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
            if wanted {
                picked = Picked::Found(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(picked)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Picked, E> {
        Ok(Picked::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Picked, E> {
        Ok(Picked::Absent)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Picked, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Picked::NotAnObject)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Picked, E> {
        Ok(Picked::NotAnObject)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Picked, E> {
        Ok(Picked::NotAnObject)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Picked, E> {
        Ok(Picked::NotAnObject)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Picked, E> {
        Ok(Picked::NotAnObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Picked, E> {
        Ok(Picked::NotAnObject)
    }
}

/// A map key, compared with the wanted one without allocating.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn watched(object: Value) -> WatchedVmi {
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
            w.networks,
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
            let error = w.decode().unwrap_err();
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
