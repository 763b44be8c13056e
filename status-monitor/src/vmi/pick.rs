//! Picking a few fields out of any value while skipping the rest without
//! building it: the core of the lenient decoder.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

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

/// Accepts any value; from a map, keeps what is at each of its paths (key
/// sequences) and skips everything else without building it. A value that is
/// not a map gives `NotAnObject` for every path; `null`, `Absent`.
pub(super) struct PickPaths<'p>(pub(super) &'p [&'static [&'static str]]);

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
                // Two paths ending at the same key share the value: clone it
                // for all but the last.
                if let Some((&last, others)) = wanted.split_last() {
                    for &i in others {
                        picked[i] = Picked::Found(value.clone());
                    }
                    picked[last] = Picked::Found(value);
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
pub(super) struct KeyIn<'a>(pub(super) &'a [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
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

    // YAML allows keys of any kind; none of them is one we want.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}
