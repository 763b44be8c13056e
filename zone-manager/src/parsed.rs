//! A zone as a real RFC 1035 parser (hickory-proto's) reads it: what the tests of
//! both crates and the fuzz targets check rendered zones against.

use std::collections::BTreeMap;

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;

/// A zone parsed by hickory-proto's RFC 1035 parser: `(fqdn, type) → sorted rdata`.
pub struct ParsedZone {
    pub origin: String,
    pub rrsets: BTreeMap<(String, String), Vec<String>>,
    /// The TTL of each record set.
    pub ttls: BTreeMap<(String, String), u32>,
    pub serial: u32,
}

impl ParsedZone {
    /// Parses `text`; panics with the text when it does not parse (for tests).
    pub fn parse(text: &str, origin: &str) -> Self {
        Self::try_parse(text, origin).unwrap_or_else(|e| panic!("zone does not parse: {e}\n{text}"))
    }

    pub fn try_parse(text: &str, origin: &str) -> Result<Self, String> {
        let origin_name = Name::from_ascii(origin).map_err(|e| e.to_string())?;
        let (parsed_origin, records) = Parser::new(text, None, Some(origin_name))
            .parse()
            .map_err(|e| e.to_string())?;
        let mut rrsets = BTreeMap::new();
        let mut ttls = BTreeMap::new();
        let mut serial = None;
        for (key, set) in &records {
            let mut datas: Vec<String> = set
                .records_without_rrsigs()
                .map(|r| {
                    if let RData::SOA(soa) = &r.data {
                        serial = Some(soa.serial);
                    }
                    r.data.to_string()
                })
                .collect();
            datas.sort();
            let name = Name::from(key.name.clone()).to_ascii();
            ttls.insert((name.clone(), key.record_type.to_string()), set.ttl());
            rrsets.insert((name, key.record_type.to_string()), datas);
        }
        if !records.keys().any(|k| k.record_type == RecordType::SOA) {
            return Err("zone without SOA".to_owned());
        }
        Ok(Self {
            origin: parsed_origin.to_ascii(),
            rrsets,
            ttls,
            serial: serial.ok_or("SOA without serial")?,
        })
    }

    pub fn get(&self, name: &str, rtype: &str) -> Vec<String> {
        self.rrsets
            .get(&(name.to_owned(), rtype.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Every owner name of an address record.
    pub fn address_owners(&self) -> Vec<String> {
        self.rrsets
            .keys()
            .filter(|(_, t)| t == "A" || t == "AAAA")
            .map(|(n, _)| n.clone())
            .collect()
    }
}
