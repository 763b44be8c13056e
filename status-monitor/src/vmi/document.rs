//! One object of a manifest or a watch, read in one pass: its kind, the VMI
//! fields, and the items of a list handed out as they are read.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::decode::{
    DecodeError, LenientVmi, METADATA_PATHS, SPEC_PATHS, STATUS_PATHS, SpecFields, StatusFields,
    metadata_of, picked_fields,
};
use super::pick::{KeyIn, PickPaths};
use super::{VirtualMachineInstance, VmiRef};

impl<'de> Deserialize<'de> for LenientVmi {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = deserializer.deserialize_any(ObjectVisitor { items: None })?;
        Ok(fields.vmi)
    }
}

/// What one object of a manifest or a watch gives: its kind and the VMI
/// fields; the items of a list went to the sink as they were read.
struct ObjectFields {
    api_version: Option<String>,
    kind: Option<String>,
    has_items: bool,
    /// Anything at all, even `{}`: an empty YAML document is nothing.
    present: bool,
    vmi: LenientVmi,
}

impl ObjectFields {
    fn empty(present: bool) -> Self {
        Self {
            api_version: None,
            kind: None,
            has_items: false,
            present,
            vmi: LenientVmi::default(),
        }
    }

    fn is_vmi(&self) -> bool {
        self.kind.as_deref() == Some("VirtualMachineInstance")
            && self
                .api_version
                .as_deref()
                .is_some_and(|v| v.starts_with("kubevirt.io/"))
    }
}

/// Where the objects of a manifest go, one by one, as they are read.
pub trait ObjectSink {
    /// A VMI, decoded or not.
    fn vmi(&mut self, vmi: Result<VirtualMachineInstance, DecodeError>);
    /// An object of another kind, left out.
    fn other(&mut self, kind: &str, object: VmiRef);
}

/// Reads one manifest document: a VMI, or a list (kubectl's `List`, the API's
/// `VirtualMachineInstanceList`: any object with `items`) whose items are
/// handed to the sink one by one. Anything else is reported as another kind.
pub struct ObjectSeed<'s>(pub &'s mut dyn ObjectSink);

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let sink = self.0;
        let fields = deserializer.deserialize_any(ObjectVisitor {
            items: Some(&mut *sink),
        })?;
        if fields.is_vmi() {
            sink.vmi(fields.vmi.decode());
        } else if fields.present && !fields.has_items {
            let kind = fields.kind.unwrap_or_default();
            sink.other(&kind, fields.vmi.vmi_ref());
        }
        Ok(())
    }
}

/// The items of a list, each read with [`ObjectSeed`].
struct ItemsSeed<'s>(&'s mut dyn ObjectSink);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element_seed(ObjectSeed(&mut *self.0))?.is_some() {}
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
}

/// One object: kind, apiVersion, the VMI fields and, with a sink, its items.
struct ObjectVisitor<'s> {
    items: Option<&'s mut dyn ObjectSink>,
}

const OBJECT_KEYS: [&str; 6] = ["apiVersion", "kind", "metadata", "spec", "status", "items"];

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = ObjectFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<ObjectFields, A::Error> {
        let mut fields = ObjectFields::empty(true);
        while let Some(key) = map.next_key_seed(KeyIn(&OBJECT_KEYS))? {
            match key {
                Some("apiVersion") => fields.api_version = text(map.next_value::<Value>()?),
                Some("kind") => fields.kind = text(map.next_value::<Value>()?),
                Some("metadata") => {
                    let picked = map.next_value_seed(PickPaths(&METADATA_PATHS))?;
                    (fields.vmi.metadata, fields.vmi.metadata_problem) = metadata_of(picked);
                }
                Some("spec") => {
                    let [networks, device_interfaces, hostname, subdomain] =
                        picked_fields(map.next_value_seed(PickPaths(&SPEC_PATHS))?);
                    fields.vmi.spec = SpecFields {
                        networks,
                        device_interfaces,
                        hostname,
                        subdomain,
                    };
                }
                Some("status") => {
                    let [interfaces, phase] =
                        picked_fields(map.next_value_seed(PickPaths(&STATUS_PATHS))?);
                    fields.vmi.status = StatusFields { interfaces, phase };
                }
                Some("items") if self.items.is_some() => {
                    if let Some(sink) = self.items.as_deref_mut() {
                        fields.has_items |= map.next_value_seed(ItemsSeed(sink))?;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ObjectFields, E> {
        Ok(ObjectFields::empty(false))
    }

    fn visit_none<E: de::Error>(self) -> Result<ObjectFields, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObjectFields, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ObjectFields, E> {
        self.not_an_object()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ObjectFields, E> {
        self.not_an_object()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ObjectFields, E> {
        self.not_an_object()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ObjectFields, E> {
        self.not_an_object()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ObjectFields, E> {
        self.not_an_object()
    }
}

impl ObjectVisitor<'_> {
    /// A document that is a list or a scalar: present, of no kind.
    fn not_an_object<E>(self) -> Result<ObjectFields, E> {
        Ok(ObjectFields::empty(true))
    }
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}
