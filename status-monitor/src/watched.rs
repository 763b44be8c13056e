//! The one lenient VMI decoder, for the Kubernetes watch and for manifests: an
//! object's metadata and the few subtrees the zone needs (`spec.networks`,
//! `spec.domain.devices.interfaces`, `status.interfaces`, `status.phase`),
//! everything else skipped while parsing. Whatever shape those subtrees have,
//! the object deserializes, so one malformed VMI can never fail a list page, the
//! watch stream or a manifest file; it is decoded (and, if it does not fit,
//! skipped) one by one.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::vmi::{
    DeviceInterface, Devices, DomainSpec, VirtualMachineInstance, VirtualMachineInstanceSpec,
    VirtualMachineInstanceStatus,
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
    #[serde(default, deserialize_with = "pick_spec")]
    pub spec: SpecFields,
    #[serde(default, deserialize_with = "pick_status")]
    pub status: StatusFields,
}

/// What is kept of `spec`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecFields {
    /// `spec.networks`
    pub networks: Picked,
    /// `spec.domain.devices.interfaces`
    pub device_interfaces: Picked,
}

/// What is kept of `status`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusFields {
    /// `status.interfaces`
    pub interfaces: Picked,
    /// `status.phase`
    pub phase: Picked,
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
        let networks = decode_field("spec.networks", self.spec.networks)?;
        // Inside `spec`, a `domain` or `devices` of another shape is KubeVirt's
        // business (it would not admit it); only the list itself must fit.
        let device_interfaces = match self.spec.device_interfaces {
            Picked::NotAnObject => None,
            picked => {
                decode_field::<Vec<DeviceInterface>>("spec.domain.devices.interfaces", picked)?
            }
        };
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

const SPEC_PATHS: [&[&str]; 2] = [&["networks"], &["domain", "devices", "interfaces"]];
const STATUS_PATHS: [&[&str]; 2] = [&["interfaces"], &["phase"]];

fn pick_spec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SpecFields, D::Error> {
    let [networks, device_interfaces] =
        picked_pair(PickPaths(&SPEC_PATHS).deserialize(deserializer)?);
    Ok(SpecFields {
        networks,
        device_interfaces,
    })
}

fn pick_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<StatusFields, D::Error> {
    let [interfaces, phase] = picked_pair(PickPaths(&STATUS_PATHS).deserialize(deserializer)?);
    Ok(StatusFields { interfaces, phase })
}

fn picked_pair(picked: Vec<Picked>) -> [Picked; 2] {
    let mut picked = picked.into_iter();
    [
        picked.next().unwrap_or_default(),
        picked.next().unwrap_or_default(),
    ]
}

/// Accepts any value; from a map, keeps what is at each of its paths (key
/// sequences) and skips everything else without building it. A value that is
/// not a map gives `NotAnObject` for every path; `null`, `Absent`.
struct PickPaths<'p>(&'p [&'static [&'static str]]);

impl<'de> DeserializeSeed<'de> for PickPaths<'_> {
    type Value = Vec<Picked>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Picked>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PickPaths<'_> {
    type Value = Vec<Picked>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "any value (an object with {:?}, ideally)", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Picked>, A::Error> {
        let mut picked = vec![Picked::Absent; self.0.len()];
        let firsts: Vec<&'static str> = self.0.iter().filter_map(|p| p.first().copied()).collect();
        while let Some(key) = map.next_key_seed(KeyIn(&firsts))? {
            let Some(key) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let wanted: Vec<usize> = (0..self.0.len())
                .filter(|&i| self.0[i].first() == Some(&key))
                .collect();
            let deeper: Vec<&'static [&'static str]> =
                wanted.iter().map(|&i| &self.0[i][1..]).collect();
            if deeper.iter().any(|path| path.is_empty()) {
                let value: Value = map.next_value()?;
                for &i in &wanted {
                    picked[i] = Picked::Found(value.clone());
                }
            } else {
                let inner = map.next_value_seed(PickPaths(&deeper))?;
                for (&i, found) in wanted.iter().zip(inner) {
                    picked[i] = found;
                }
            }
        }
        Ok(picked)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::Absent; self.0.len()])
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::Absent; self.0.len()])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Picked>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(vec![Picked::NotAnObject; self.0.len()])
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::NotAnObject; self.0.len()])
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::NotAnObject; self.0.len()])
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::NotAnObject; self.0.len()])
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::NotAnObject; self.0.len()])
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<Picked>, E> {
        Ok(vec![Picked::NotAnObject; self.0.len()])
    }
}

/// A map key: which of the wanted ones it is, compared without allocating.
struct KeyIn<'a>(&'a [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIn<'_> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().copied().find(|wanted| *wanted == key))
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
