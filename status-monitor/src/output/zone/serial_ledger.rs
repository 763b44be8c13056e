//! The serial ledger the replicas share, so that one serial of a zone means one
//! content whichever replica a secondary transfers from (RFC 1982, RFC 1996:
//! secondaries compare serials only).
//!
//! ConfigMaps `<name>-0` … `<name>-f` in status-monitor's namespace hold, for
//! the zones that hash to each, the zone's latest serial and the digest of the
//! content it was granted for. A replica whose content is the entry's takes its
//! serial; a replica with other content takes the next serial, stored with a
//! compare-and-swap on the ConfigMap's resourceVersion. A serial is granted
//! once, for one content; grants only grow.

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::{debug, warn};
use zone_manager::serial::latest;
use zone_manager::{ContentDigest, Origin, Serial, SerialGrants, SerialRequest, member_id};

/// How many ConfigMaps the entries are spread over: each stays far below the
/// 1 MiB object limit with 100k zones. Fixed: the zone → ConfigMap mapping
/// must be the same in every replica and every version.
pub const SHARDS: usize = 16;

/// The greatest serial of the entries dropped from a ConfigMap: a zone that
/// comes back is granted serials above it.
const FLOOR_ANNOTATION: &str = "kubevirt-dns.io/serial-floor";

/// Compare-and-swap attempts per ConfigMap before the publish fails (and is
/// retried with backoff).
const ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("serial ledger ConfigMap {name}: {source}")]
    Api { name: String, source: kube::Error },
    #[error("serial ledger ConfigMap {name}: still changed by others after {ATTEMPTS} attempts")]
    Contended { name: String },
}

/// The ConfigMaps of the ledger in one namespace.
#[derive(Clone)]
pub struct SerialLedger {
    api: Api<ConfigMap>,
    name: String,
}

/// One zone's entry: its latest serial and the content it was granted for.
type Entry = (Serial, ContentDigest);

impl SerialLedger {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
        }
    }

    /// Grants a serial to every request, storing new ones, and hands them to
    /// `grants`. What was granted before an error stays granted.
    pub async fn grant(
        &self,
        requests: Vec<SerialRequest>,
        grants: &mut SerialGrants,
        now: SystemTime,
    ) -> Result<(), LedgerError> {
        for (shard, requests) in self.by_shard(requests, |r| &r.zone) {
            let granted = self
                .update(&shard, |data, floor| {
                    requests
                        .iter()
                        .map(|request| {
                            let key = key(&request.zone);
                            let entry = data
                                .get(&key)
                                .and_then(|value| parse_entry(&shard, &key, value));
                            let serial = request.grant(entry, *floor, now);
                            if entry != Some((serial, request.content)) {
                                data.insert(key, format!("{serial} {}", request.content));
                            }
                            serial
                        })
                        .collect::<Vec<_>>()
                })
                .await?;
            for (request, serial) in requests.into_iter().zip(granted) {
                debug!(zone = %request.zone, %serial, content = %request.content, "serial granted");
                grants.grant(request.zone, request.content, serial);
            }
        }
        Ok(())
    }

    /// Drops the entries of zones that are no longer written, raising each
    /// ConfigMap's floor to their serials.
    pub async fn forget(&self, zones: &[Origin]) -> Result<(), LedgerError> {
        for (shard, zones) in self.by_shard(zones.to_vec(), |zone| zone) {
            self.update(&shard, |data, floor| {
                let mut dropped = Vec::new();
                for zone in &zones {
                    let key = key(zone);
                    if let Some(value) = data.remove(&key) {
                        dropped.push(parse_entry(&shard, &key, &value).map(|(serial, _)| serial));
                    }
                }
                let raised = latest(dropped.into_iter().chain([*floor]));
                *floor = raised;
            })
            .await?;
        }
        Ok(())
    }

    fn by_shard<T>(&self, items: Vec<T>, zone: impl Fn(&T) -> &Origin) -> BTreeMap<String, Vec<T>> {
        let mut shards: BTreeMap<String, Vec<T>> = BTreeMap::new();
        for item in items {
            shards
                .entry(shard_name(&self.name, zone(&item)))
                .or_default()
                .push(item);
        }
        shards
    }

    /// Reads ConfigMap `name`, lets `change` edit its entries and floor, and
    /// stores the result if it differs, with the resourceVersion it read: a
    /// replica that stored first makes this one read and decide again.
    async fn update<T>(
        &self,
        name: &str,
        mut change: impl FnMut(&mut BTreeMap<String, String>, &mut Option<Serial>) -> T,
    ) -> Result<T, LedgerError> {
        let api_error = |source| LedgerError::Api {
            name: name.to_owned(),
            source,
        };
        for _ in 0..ATTEMPTS {
            let current = self.api.get_opt(name).await.map_err(api_error)?;
            let mut config_map = current.clone().unwrap_or_else(|| ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/name".to_owned(),
                        "kubevirt-dns".to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            });
            let mut data = config_map.data.take().unwrap_or_default();
            let mut floor = config_map
                .metadata
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(FLOOR_ANNOTATION))
                .and_then(|value| value.parse().ok())
                .map(Serial::new);
            let result = change(&mut data, &mut floor);
            if let Some(floor) = floor {
                let annotations = config_map.metadata.annotations.get_or_insert_default();
                annotations.insert(FLOOR_ANNOTATION.to_owned(), floor.to_string());
            }
            config_map.data = Some(data);
            if current.as_ref() == Some(&config_map) {
                return Ok(result);
            }
            let stored = match current {
                Some(_) => {
                    self.api
                        .replace(name, &PostParams::default(), &config_map)
                        .await
                }
                None => self.api.create(&PostParams::default(), &config_map).await,
            };
            match stored {
                Ok(_) => return Ok(result),
                // Another replica stored first (or created it): read again.
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => return Err(api_error(e)),
            }
        }
        Err(LedgerError::Contended {
            name: name.to_owned(),
        })
    }
}

/// The ConfigMap `zone`'s entry lives in: `<name>-<hex digit>`.
fn shard_name(name: &str, zone: &Origin) -> String {
    // The first hex digit of a SHA-256 of the zone's name (its catalog member
    // id): spread evenly, and the same in every replica and version.
    let digit = member_id(zone).chars().next().unwrap_or('0');
    format!("{name}-{digit}")
}

/// A zone's key in the ConfigMap's data: its name without the final dot
/// (ConfigMap keys are `[-._a-zA-Z0-9]+`, as zone names here are).
fn key(zone: &Origin) -> String {
    zone.to_string().trim_end_matches('.').to_owned()
}

/// `"<serial> <content digest>"`; anything else is reported and replaced.
fn parse_entry(shard: &str, key: &str, value: &str) -> Option<Entry> {
    let parsed = value.split_once(' ').and_then(|(serial, content)| {
        Some((
            Serial::new(serial.parse().ok()?),
            ContentDigest::parse(content)?,
        ))
    });
    if parsed.is_none() {
        warn!(
            config_map = shard,
            zone = key,
            value,
            "unreadable serial ledger entry; it is replaced"
        );
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_what_is_stored() {
        let content = ContentDigest::new([7; 16]);
        let value = format!("{} {content}", Serial::new(1_800_000_001));
        assert_eq!(
            parse_entry("s", "k", &value),
            Some((Serial::new(1_800_000_001), content))
        );
        assert_eq!(parse_entry("s", "k", "1800000001"), None);
        assert_eq!(parse_entry("s", "k", "x 0707"), None);
    }

    #[test]
    fn every_zone_has_one_of_sixteen_config_maps_the_same_everywhere() {
        let zone = Origin::parse("vm.example.com.").unwrap();
        // The catalog member id of vm.example.com starts with 4 (catalog.rs).
        assert_eq!(shard_name("serials", &zone), "serials-4");
        let names: std::collections::BTreeSet<String> = (0..400)
            .map(|n| Origin::parse(&format!("ns{n}.vm.example.com")).unwrap())
            .map(|zone| shard_name("serials", &zone))
            .collect();
        assert_eq!(names.len(), SHARDS, "{names:?}");
    }

    #[test]
    fn keys_are_zone_names_without_the_final_dot() {
        let zone = Origin::parse("lab.vm.example.com.").unwrap();
        assert_eq!(key(&zone), "lab.vm.example.com");
    }
}
