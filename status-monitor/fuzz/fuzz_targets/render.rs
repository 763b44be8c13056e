//! Arbitrary VMs (names, interfaces, addresses) rendered as a zone: the zone
//! parses with a real parser and holds exactly the records the VMs give.
#![no_main]

use std::collections::BTreeMap;
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use zone_manager::parsed::ParsedZone;
use zone_manager::{
    InterfaceAddresses, Label, Origin, Serial, VmAddresses, ZoneSettings, render_zone,
};

type Input = Vec<(String, String, Vec<(String, Vec<(bool, u128)>)>)>;

fuzz_target!(|input: Input| {
    let mut vms: BTreeMap<(Label, Label), VmAddresses> = BTreeMap::new();
    for (namespace, name, interfaces) in input {
        let (Ok(namespace), Ok(name)) = (Label::new(&namespace), Label::new(&name)) else {
            continue;
        };
        let interfaces = interfaces.into_iter().filter_map(|(iface, addresses)| {
            let addresses = addresses.into_iter().map(|(v6, bits)| {
                if v6 {
                    IpAddr::from(bits.to_be_bytes())
                } else {
                    IpAddr::from((bits as u32).to_be_bytes())
                }
            });
            Some(InterfaceAddresses::new(Label::new(&iface).ok()?, addresses))
        });
        let mut unique: BTreeMap<Label, InterfaceAddresses> = BTreeMap::new();
        for interface in interfaces {
            unique.entry(interface.name().clone()).or_insert(interface);
        }
        vms.insert(
            (namespace.clone(), name.clone()),
            VmAddresses::new(namespace, name, unique.into_values()),
        );
    }
    let origin = Origin::for_domain("example.org").expect("origin");
    let mut settings = ZoneSettings::new(origin.clone());
    settings.set_name_servers(["192.0.2.1".parse().expect("address")]);
    let text = render_zone(&settings, Serial::new(7), vms.values());
    let zone =
        ParsedZone::try_parse(&text, "vm.example.org.").unwrap_or_else(|e| panic!("{e}\n{text}"));

    let mut expected: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for vm in vms.values() {
        for record in vm.records() {
            let owner = format!("{}.vm.example.org.", record.owner);
            let (rtype, data) = (record.data.record_type(), record.data.rdata().to_string());
            expected
                .entry((owner, rtype.as_str().to_owned()))
                .or_default()
                .push(data);
        }
    }
    for datas in expected.values_mut() {
        datas.sort();
        datas.dedup();
    }
    let mut parsed = zone.rrsets.clone();
    parsed.retain(|(name, t), _| t != "SOA" && t != "NS" && name != "ns.vm.example.org.");
    assert_eq!(parsed, expected, "{text}");
});
