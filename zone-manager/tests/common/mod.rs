//! Helpers shared by zone-manager's tests: fixtures and a real zone parser.
#![allow(dead_code)]

use std::net::IpAddr;

pub use zone_manager::parsed::ParsedZone;
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
    s.set_name_servers(name_server.map(|a| a.parse().expect("address")));
    s
}

/// Three VMs in two namespaces (`default`: a, b; `other`: a).
pub fn fleet() -> Vec<VmAddresses> {
    vec![
        vm(
            "default",
            "a",
            &[("net1", &["10.0.0.1"]), ("net2", &["fd00::1"])],
        ),
        vm("default", "b", &[("net1", &["10.0.0.2"])]),
        vm("other", "a", &[("net1", &["10.0.1.1", "fd00:1::1"])]),
    ]
}
