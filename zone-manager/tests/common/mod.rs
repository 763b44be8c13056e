//! Helpers shared by zone-manager's tests: fixtures and a real zone parser.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;
use zone_manager::{InterfaceAddresses, Label, Origin, VmAddresses, ZoneSettings};

pub fn label(s: &str) -> Label {
    Label::new(s).expect("valid label")
}

/// A VM from `(interface, [addresses])` pairs.
pub fn vm(namespace: &str, name: &str, interfaces: &[(&str, &[&str])]) -> VmAddresses {
    VmAddresses::new(
        label(namespace),
        label(name),
        interfaces.iter().map(|(iface, addrs)| {
            InterfaceAddresses::new(
                label(iface),
                addrs.iter().map(|a| a.parse::<IpAddr>().expect("address")),
            )
        }),
    )
}

pub fn settings(domain: &str, name_server: Option<&str>) -> ZoneSettings {
    let mut s = ZoneSettings::new(Origin::for_domain(domain).expect("domain"));
    s.name_server = name_server.map(|a| a.parse().expect("address"));
    s
}

/// A zone parsed by hickory-proto's RFC 1035 parser: `(fqdn, type) → sorted rdata`.
pub struct ParsedZone {
    pub origin: String,
    pub rrsets: BTreeMap<(String, String), Vec<String>>,
    pub serial: u32,
}

impl ParsedZone {
    pub fn parse(text: &str, origin: &str) -> Self {
        let origin_name = Name::from_ascii(origin).expect("origin");
        let (parsed_origin, records) = Parser::new(text, None, Some(origin_name))
            .parse()
            .unwrap_or_else(|e| panic!("zone does not parse: {e}\n{text}"));
        let mut rrsets = BTreeMap::new();
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
            rrsets.insert((name, key.record_type.to_string()), datas);
        }
        assert!(
            records.keys().any(|k| k.record_type == RecordType::SOA),
            "zone without SOA"
        );
        Self {
            origin: parsed_origin.to_ascii(),
            rrsets,
            serial: serial.expect("SOA serial"),
        }
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
