//! From a VMI to records: each numbered rule of the foundation issue.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use serde_json::json;
use status_monitor::projection::{InterfaceSkip, MAX_INTERFACES, Projection, VmiSkip, project};
use status_monitor::vmi::VirtualMachineInstance;
use status_monitor::vmi::decode::{DecodeError, LenientVmi};
use zone_manager::{NameError, Origin};

/// A VMI named `name` in `namespace` with the given `spec.networks` and
/// `status.interfaces`, as the API server would send it.
/// Decodes a VMI as both sources do.
fn decode_vmi(object: serde_json::Value) -> Result<VirtualMachineInstance, DecodeError> {
    serde_json::from_value::<LenientVmi>(object)
        .expect("any shape deserializes")
        .decode()
}

fn vmi(
    namespace: &str,
    name: &str,
    networks: serde_json::Value,
    interfaces: serde_json::Value,
) -> VirtualMachineInstance {
    decode_vmi(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": name, "namespace": namespace, "uid": "u1", "resourceVersion": "1"},
        "spec": {"domain": {"devices": {}}, "networks": networks},
        "status": {"phase": "Running", "interfaces": interfaces, "conditions": []}
    }))
    .expect("fixture decodes")
}

fn origin() -> Origin {
    Origin::for_domain("example.com").unwrap()
}

fn records(p: &Projection) -> Vec<String> {
    p.vm.records()
        .map(|r| format!("{} {}", r.owner, r.data))
        .collect()
}

fn pod_and(secondary: &str) -> serde_json::Value {
    json!([{"name": "default", "pod": {}}, {"name": secondary, "multus": {"networkName": "br"}}])
}

// Rule 1: secondary interfaces.

#[test]
fn pod_network_interface_gets_no_record() {
    let p = project(
        &vmi(
            "ns",
            "vm1",
            pod_and("red"),
            json!([
                {"name": "default", "ipAddress": "10.244.0.5", "ipAddresses": ["10.244.0.5"]},
                {"name": "red", "ipAddress": "10.10.0.5", "ipAddresses": ["10.10.0.5"]}
            ]),
        ),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        records(&p),
        ["vm1.ns A\t10.10.0.5", "red.vm1.ns A\t10.10.0.5"]
    );
}

#[test]
fn multus_default_network_interface_gets_no_record() {
    let networks = json!([
        {"name": "primary", "multus": {"networkName": "ovn", "default": true}},
        {"name": "red", "multus": {"networkName": "br", "default": false}}
    ]);
    let p = project(
        &vmi(
            "ns",
            "vm1",
            networks,
            json!([
                {"name": "primary", "ipAddress": "10.1.0.5"},
                {"name": "red", "ipAddress": "10.2.0.5"}
            ]),
        ),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        records(&p),
        ["vm1.ns A\t10.2.0.5", "red.vm1.ns A\t10.2.0.5"]
    );
}

#[test]
fn unnamed_guest_agent_interfaces_get_no_record() {
    let p = project(
        &vmi("ns", "vm1", pod_and("red"), json!([
            {"interfaceName": "docker0", "infoSource": "guest-agent", "ipAddress": "172.17.0.1"},
            {"name": "", "ipAddress": "172.18.0.1"},
            {"name": null, "ipAddress": "172.19.0.1"}
        ])),
        &origin(),
    )
    .unwrap();
    assert!(p.vm.publishes_nothing());
    assert!(p.skipped.is_empty(), "not worth a warning: {:?}", p.skipped);
}

#[test]
fn vmi_without_status_or_networks_has_no_records() {
    let bare = decode_vmi(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": "new", "namespace": "ns"}, "spec": {}
    }))
    .unwrap();
    assert!(project(&bare, &origin()).unwrap().vm.publishes_nothing());
}

// Rule 2: addresses.

#[test]
fn ip_addresses_win_over_ip_address_which_is_the_fallback() {
    let p = project(
        &vmi(
            "ns",
            "vm1",
            pod_and("red"),
            json!([
                {"name": "red", "ipAddress": "10.0.0.1", "ipAddresses": ["10.0.0.2", "fd00::2"]}
            ]),
        ),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        p.vm.interfaces().next().unwrap().ipv4(),
        ["10.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
    );

    for empty in [json!([]), json!(null)] {
        let p = project(
            &vmi(
                "ns",
                "vm1",
                pod_and("red"),
                json!([{"name": "red", "ipAddress": "10.0.0.1", "ipAddresses": empty}]),
            ),
            &origin(),
        )
        .unwrap();
        assert_eq!(
            records(&p),
            ["vm1.ns A\t10.0.0.1", "red.vm1.ns A\t10.0.0.1"]
        );
    }
}

#[test]
fn unusable_addresses_are_dropped_and_unparsable_ones_reported() {
    let p = project(
        &vmi(
            "ns",
            "vm1",
            pod_and("red"),
            json!([{"name": "red", "ipAddresses": [
                "10.0.0.1", "10.0.0.1", "127.0.0.1", "0.0.0.0", "239.1.1.1", "169.254.3.3",
                "::1", "::", "ff05::1", "fe80::1", "fd00::1", "10.0.0.0/24", "fe80::1%eth0", "bogus"
            ]}]),
        ),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        records(&p),
        [
            "vm1.ns A\t10.0.0.1",
            "vm1.ns AAAA\tfd00::1",
            "red.vm1.ns A\t10.0.0.1",
            "red.vm1.ns AAAA\tfd00::1",
        ]
    );
    let reported: Vec<&str> = p
        .skipped
        .iter()
        .map(|s| match s {
            InterfaceSkip::UnparsableAddress { address, .. } => address.as_str(),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(reported, ["10.0.0.0/24", "fe80::1%eth0", "bogus"]);
}

#[test]
fn ipv6_only_vms_are_published() {
    let p = project(
        &vmi(
            "ns",
            "v6",
            pod_and("net"),
            json!([{"name": "net", "ipAddresses": ["fd00::9"]}]),
        ),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        records(&p),
        ["v6.ns AAAA\tfd00::9", "net.v6.ns AAAA\tfd00::9"]
    );
}

// Rule 3: owner names.

#[test]
fn vm_name_carries_first_ipv4_and_first_ipv6_interface_by_name() {
    let networks = json!([
        {"name": "c", "multus": {"networkName": "c"}},
        {"name": "b", "multus": {"networkName": "b"}},
        {"name": "a", "multus": {"networkName": "a"}}
    ]);
    let interfaces = json!([
        {"name": "c", "ipAddresses": ["10.0.0.3", "fd00::3"]},
        {"name": "b", "ipAddresses": ["fd00::2"]},
        {"name": "a", "ipAddresses": ["10.0.0.1"]}
    ]);
    let p = project(
        &vmi("ns", "vm", networks.clone(), interfaces.clone()),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        &records(&p)[..2],
        ["vm.ns A\t10.0.0.1", "vm.ns AAAA\tfd00::2"]
    );

    // The order KubeVirt lists interfaces in does not matter.
    let mut reversed = interfaces.as_array().unwrap().clone();
    reversed.reverse();
    let q = project(&vmi("ns", "vm", networks, json!(reversed)), &origin()).unwrap();
    assert_eq!(p, q);
}

// Rule 4: labels.

#[test]
fn vmi_names_that_are_not_one_dns_label_are_skipped_with_the_reason() {
    let cases = [
        ("web.v2", NameError::InvalidCharacter('.')),
        ("Web", NameError::InvalidCharacter('W')),
        ("a_b", NameError::InvalidCharacter('_')),
        ("x;y", NameError::InvalidCharacter(';')),
        ("$ORIGIN", NameError::InvalidCharacter('$')),
        ("a\nb", NameError::InvalidCharacter('\n')),
        ("a b", NameError::InvalidCharacter(' ')),
    ];
    for (name, reason) in cases {
        let v = vmi(
            "ns",
            name,
            pod_and("red"),
            json!([{"name": "red", "ipAddress": "10.0.0.1"}]),
        );
        let expected = VmiSkip::InvalidName {
            name: name.to_owned(),
            reason,
        };
        assert_eq!(project(&v, &origin()), Err(expected.clone()));
        assert!(
            expected.to_string().contains(&format!("{name:?}")),
            "message names it: {expected}"
        );
    }
    let long = "a".repeat(64);
    let v = vmi(
        "ns",
        &long,
        pod_and("red"),
        json!([{"name": "red", "ipAddress": "10.0.0.1"}]),
    );
    assert!(matches!(
        project(&v, &origin()),
        Err(VmiSkip::InvalidName {
            reason: NameError::LabelTooLong(64),
            ..
        })
    ));
}

#[test]
fn bad_interface_names_are_skipped_and_the_rest_of_the_vm_is_served() {
    let networks = json!([
        {"name": "Blue_Net", "multus": {"networkName": "b"}},
        {"name": "x;IN A 6.6.6.6", "multus": {"networkName": "b"}},
        {"name": "ok", "multus": {"networkName": "b"}}
    ]);
    let p = project(
        &vmi(
            "ns",
            "vm",
            networks,
            json!([
                {"name": "Blue_Net", "ipAddress": "10.0.0.1"},
                {"name": "x;IN A 6.6.6.6", "ipAddress": "10.0.0.2"},
                {"name": "ok", "ipAddress": "10.0.0.3"}
            ]),
        ),
        &origin(),
    )
    .unwrap();
    assert_eq!(records(&p), ["vm.ns A\t10.0.0.3", "ok.vm.ns A\t10.0.0.3"]);
    let skipped: Vec<String> = p.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(skipped.len(), 2);
    assert!(
        skipped[0].contains("\"Blue_Net\"") && skipped[0].contains("'B'"),
        "{}",
        skipped[0]
    );
    assert!(
        skipped[1].contains("x;IN A 6.6.6.6") && skipped[1].contains("';'"),
        "{}",
        skipped[1]
    );
}

#[test]
fn names_longer_than_253_octets_are_skipped() {
    // Origin vm.<60>.<40> is 104 octets; <63>.<63>.origin is 232.
    let origin = Origin::for_domain(&format!("{}.{}", "d".repeat(60), "e".repeat(40))).unwrap();
    let ns = "n".repeat(63);
    let name = "v".repeat(63);
    let fits = "i".repeat(20); // 21 + 232 = 253
    let too_long = "j".repeat(21); // 254
    let networks = json!([{"name": fits, "multus": {"networkName": "a"}}, {"name": too_long, "multus": {"networkName": "a"}}]);
    let p = project(
        &vmi(&ns, &name, networks, json!([{"name": fits, "ipAddress": "10.0.0.1"}, {"name": too_long, "ipAddress": "10.0.0.2"}])),
        &origin,
    )
    .unwrap();
    assert_eq!(p.vm.interfaces().len(), 1);
    assert_eq!(p.vm.interfaces().next().unwrap().name().as_str(), fits);
    assert!(matches!(
        &p.skipped[..],
        [InterfaceSkip::NameTooLong {
            reason: NameError::NameTooLong(254),
            ..
        }]
    ));

    // A VM whose own name does not fit is skipped whole.
    let deep = Origin::for_domain(&vec!["d".repeat(60); 3].join(".")).unwrap();
    let v = vmi(
        &ns,
        &name,
        pod_and("a"),
        json!([{"name": "a", "ipAddress": "10.0.0.1"}]),
    );
    assert!(matches!(project(&v, &deep), Err(VmiSkip::NameTooLong(_))));
}

#[test]
fn duplicate_interface_names_are_skipped_whatever_their_order() {
    let p = project(
        &vmi(
            "ns",
            "vm",
            pod_and("red"),
            json!([
                {"name": "red", "ipAddress": "10.0.0.1"},
                {"name": "red", "ipAddress": "10.0.0.2"}
            ]),
        ),
        &origin(),
    )
    .unwrap();
    assert!(p.vm.publishes_nothing());
    assert_eq!(
        p.skipped,
        [InterfaceSkip::Duplicate {
            interface: "red".into()
        }]
    );
}

#[test]
fn absurd_interface_counts_skip_the_vmi() {
    let interfaces: Vec<_> = (0..=MAX_INTERFACES)
        .map(|i| json!({"name": format!("n{i}"), "ipAddress": "10.0.0.1"}))
        .collect();
    let v = vmi("ns", "vm", json!([]), json!(interfaces));
    assert_eq!(
        project(&v, &origin()),
        Err(VmiSkip::TooManyInterfaces(MAX_INTERFACES + 1))
    );
}

#[test]
fn wrong_types_are_an_error_naming_the_vmi() {
    let e = decode_vmi(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": "broken", "namespace": "ns"},
        "spec": {},
        "status": {"interfaces": [{"name": "red", "ipAddress": 42}]}
    }))
    .unwrap_err();
    assert_eq!(e.vmi.to_string(), "ns/broken");
    assert!(e.to_string().contains("ns/broken"), "{e}");
}

#[test]
fn missing_namespace_means_default() {
    let v = decode_vmi(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": "vm"},
        "spec": {"networks": [{"name": "red", "multus": {"networkName": "r"}}]},
        "status": {"interfaces": [{"name": "red", "ipAddress": "10.0.0.1"}]}
    }))
    .unwrap();
    let p = project(&v, &origin()).unwrap();
    assert_eq!(p.vm.namespace().as_str(), "default");
}

// The VM's real life: final phases, hot-unplug, SR-IOV, the owner's annotations.

/// A VMI from whole parts: `metadata` beyond name and namespace, `spec`, `status`.
fn vmi_from(
    metadata: serde_json::Value,
    spec: serde_json::Value,
    status: serde_json::Value,
) -> VirtualMachineInstance {
    let mut meta = json!({"name": "web", "namespace": "lab"});
    meta.as_object_mut()
        .unwrap()
        .extend(metadata.as_object().unwrap().clone());
    decode_vmi(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": meta, "spec": spec, "status": status
    }))
    .expect("fixture decodes")
}

fn two_networks() -> serde_json::Value {
    json!({"networks": [
        {"name": "default", "pod": {}},
        {"name": "data", "multus": {"networkName": "data"}},
        {"name": "service", "multus": {"networkName": "service"}}
    ]})
}

fn running(interfaces: serde_json::Value) -> serde_json::Value {
    json!({"phase": "Running", "interfaces": interfaces})
}

fn both_interfaces() -> serde_json::Value {
    json!([
        {"name": "data", "ipAddresses": ["10.1.0.5", "fd00:1::5"]},
        {"name": "service", "ipAddresses": ["10.2.0.5"]}
    ])
}

#[test]
fn a_vmi_in_a_final_phase_publishes_nothing_and_a_new_run_brings_it_back() {
    for phase in ["Succeeded", "Failed"] {
        let finished = vmi_from(
            json!({}),
            two_networks(),
            json!({"phase": phase, "interfaces": both_interfaces()}),
        );
        assert_eq!(
            project(&finished, &origin()),
            Err(VmiSkip::FinalPhase(phase.into()))
        );
        assert_eq!(VmiSkip::FinalPhase(phase.into()).reason(), "final_phase");
    }
    for phase in ["Running", "Scheduled", "Unknown"] {
        let live = vmi_from(
            json!({}),
            two_networks(),
            json!({"phase": phase, "interfaces": both_interfaces()}),
        );
        assert!(
            !records(&project(&live, &origin()).unwrap()).is_empty(),
            "{phase}"
        );
    }
}

#[test]
fn an_unplugged_interface_publishes_nothing_and_the_vm_name_follows_the_rest() {
    let mut spec = two_networks();
    spec["domain"] = json!({"devices": {"interfaces": [
        {"name": "data", "bridge": {}, "state": "absent"},
        {"name": "service", "bridge": {}}
    ]}});
    let p = project(
        &vmi_from(json!({}), spec, running(both_interfaces())),
        &origin(),
    )
    .unwrap();
    assert_eq!(
        records(&p),
        ["web.lab A\t10.2.0.5", "service.web.lab A\t10.2.0.5"]
    );
    assert_eq!(
        p.skipped,
        [InterfaceSkip::Unplugged {
            interface: "data".into()
        }]
    );
    assert_eq!(p.skipped[0].reason(), "unplugged");
}

/// SR-IOV as KubeVirt reports it (kubevirt/kubevirt#16422): the named entry has
/// no address; the guest agent's entry has them, without a name, same MAC.
fn sriov_status(named_mac: Option<&str>, guest_mac: &str) -> serde_json::Value {
    let mut named = json!({"name": "data", "infoSource": "domain, multus-status"});
    if let Some(mac) = named_mac {
        named["mac"] = json!(mac);
    }
    running(json!([
        named,
        {"interfaceName": "eth1", "mac": guest_mac, "ipAddresses": ["10.1.0.7", "fd00:1::7"], "infoSource": "guest-agent"},
        {"interfaceName": "eth9", "mac": "02:00:00:00:00:99", "ipAddresses": ["10.9.9.9"], "infoSource": "guest-agent"}
    ]))
}

#[test]
fn an_sriov_interface_takes_the_guest_addresses_of_its_mac_in_any_case() {
    // The MAC from the status entry, or from the spec's interface.
    let mut spec_with_mac = two_networks();
    spec_with_mac["domain"] = json!({"devices": {"interfaces": [
        {"name": "data", "sriov": {}, "macAddress": "02:AB:CD:00:00:07"}
    ]}});
    for (spec, status) in [
        (
            two_networks(),
            sriov_status(Some("02:ab:cd:00:00:07"), "02:AB:CD:00:00:07"),
        ),
        (spec_with_mac, sriov_status(None, "02:ab:cd:00:00:07")),
    ] {
        let p = project(&vmi_from(json!({}), spec, status), &origin()).unwrap();
        assert_eq!(
            records(&p),
            [
                "web.lab A\t10.1.0.7",
                "web.lab AAAA\tfd00:1::7",
                "data.web.lab A\t10.1.0.7",
                "data.web.lab AAAA\tfd00:1::7"
            ]
        );
    }
    // No match: nothing, as before; the unnamed entry of another MAC stays unpublished.
    let p = project(
        &vmi_from(
            json!({}),
            two_networks(),
            sriov_status(Some("02:00:00:00:00:01"), "02:ab:cd:00:00:07"),
        ),
        &origin(),
    )
    .unwrap();
    assert!(records(&p).is_empty(), "{:?}", records(&p));
}

#[test]
fn with_network_addresses_only_the_mac_rule_is_off() {
    use status_monitor::projection::{Projector, Rules};
    let rules = Rules {
        addresses_by_mac: false,
        ..Rules::default()
    };
    let metrics = std::sync::Arc::new(status_monitor::metrics::Metrics::new());
    let mut projector = Projector::with_rules(origin(), rules, metrics);
    let vmi = vmi_from(
        json!({}),
        two_networks(),
        sriov_status(Some("02:ab:cd:00:00:07"), "02:ab:cd:00:00:07"),
    );
    assert!(
        projector
            .project(&vmi)
            .is_none_or(|vm| vm.publishes_nothing())
    );
}

#[test]
fn the_publish_annotation_opts_a_vm_out_and_other_values_keep_the_default_with_a_warning() {
    let annotated = |value: &str| {
        vmi_from(
            json!({"annotations": {"kubevirt-dns.io/publish": value}}),
            two_networks(),
            running(both_interfaces()),
        )
    };
    assert_eq!(
        project(&annotated("false"), &origin()),
        Err(VmiSkip::OptedOut)
    );
    assert_eq!(VmiSkip::OptedOut.reason(), "opted_out");
    let published = project(&annotated("true"), &origin()).unwrap();
    assert!(published.skipped.is_empty());
    let huge = "y".repeat(1 << 20);
    let p = project(&annotated(&huge), &origin()).unwrap();
    assert!(
        p.skipped[0].to_string().len() < 200,
        "a hostile value is not logged whole"
    );
    for odd in ["no", "False", "0", ""] {
        let p = project(&annotated(odd), &origin()).unwrap();
        assert_eq!(
            records(&p),
            records(&published),
            "{odd:?} keeps the default"
        );
        assert!(
            matches!(
                &p.skipped[..],
                [InterfaceSkip::InvalidAnnotation {
                    annotation: "kubevirt-dns.io/publish",
                    ..
                }]
            ),
            "{odd:?}: {:?}",
            p.skipped
        );
    }
}

#[test]
fn the_vm_name_interface_annotation_chooses_the_addresses_of_the_vm_name() {
    let chosen = |interface: &str| {
        project(
            &vmi_from(
                json!({"annotations": {"kubevirt-dns.io/vm-name-interface": interface}}),
                two_networks(),
                running(both_interfaces()),
            ),
            &origin(),
        )
        .unwrap()
    };
    let p = chosen("service");
    assert!(p.skipped.is_empty());
    let vm_name: Vec<String> = records(&p)
        .into_iter()
        .filter(|r| r.starts_with("web.lab "))
        .collect();
    assert_eq!(
        vm_name,
        ["web.lab A\t10.2.0.5"],
        "that interface's addresses only"
    );
    // Missing: the default rule (data is first by name), with a warning.
    let p = chosen("storage");
    let vm_name: Vec<String> = records(&p)
        .into_iter()
        .filter(|r| r.starts_with("web.lab "))
        .collect();
    assert_eq!(vm_name, ["web.lab A\t10.1.0.5", "web.lab AAAA\tfd00:1::5"]);
    assert!(matches!(
        &p.skipped[..],
        [InterfaceSkip::InvalidAnnotation { annotation: "kubevirt-dns.io/vm-name-interface", value, .. }] if value == "storage"
    ));
}

#[test]
fn a_label_selector_leaves_unselected_vmis_out() {
    use status_monitor::projection::{Projector, Rules};
    let selector =
        status_monitor::projection::selection::parse_selector("dns in (on, yes),!legacy").unwrap();
    let rules = Rules {
        selector,
        ..Rules::default()
    };
    let metrics = std::sync::Arc::new(status_monitor::metrics::Metrics::new());
    let mut projector = Projector::with_rules(origin(), rules, metrics);
    let labelled = |labels: serde_json::Value| {
        vmi_from(
            json!({"labels": labels}),
            two_networks(),
            running(both_interfaces()),
        )
    };
    assert!(projector.project(&labelled(json!({"dns": "on"}))).is_some());
    assert!(
        projector
            .project(&labelled(json!({"dns": "off"})))
            .is_none()
    );
    assert!(
        projector
            .project(&labelled(json!({"dns": "on", "legacy": "1"})))
            .is_none()
    );
    assert!(
        projector
            .project(&vmi_from(
                json!({}),
                two_networks(),
                running(both_interfaces())
            ))
            .is_none()
    );
}

// Names users choose (the names issue): the spec's hostname and subdomain,
// the aliases and TTL annotations.

/// A running VMI `vm1` in `ns` with interface red at 10.0.0.1, and `spec`
/// and `annotations` added.
fn vmi_choosing(spec: serde_json::Value, annotations: serde_json::Value) -> VirtualMachineInstance {
    let mut spec_all = json!({"networks": pod_and("red")});
    spec_all
        .as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    decode_vmi(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": "vm1", "namespace": "ns", "annotations": annotations},
        "spec": spec_all,
        "status": {"phase": "Running", "interfaces": [{"name": "red", "ipAddresses": ["10.0.0.1"]}]}
    }))
    .expect("fixture decodes")
}

fn chosen(p: &Projection) -> (Option<(String, String)>, Vec<String>, Option<u32>) {
    let chosen = p.vm.chosen_names().cloned().unwrap_or_default();
    (
        chosen
            .scheme
            .map(|s| (s.hostname.to_string(), s.subdomain.to_string())),
        chosen.aliases.iter().map(ToString::to_string).collect(),
        chosen.ttl,
    )
}

#[test]
fn a_subdomain_gives_the_scheme_name_after_the_hostname_or_else_the_vmi_name() {
    let with_hostname = vmi_choosing(json!({"hostname": "www", "subdomain": "front"}), json!({}));
    let p = project(&with_hostname, &origin()).unwrap();
    assert_eq!(chosen(&p).0, Some(("www".into(), "front".into())));
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    let without = vmi_choosing(json!({"subdomain": "front"}), json!({}));
    let p = project(&without, &origin()).unwrap();
    assert_eq!(chosen(&p).0, Some(("vm1".into(), "front".into())));
    // A hostname alone gives no name, as in the cluster DNS.
    let alone = vmi_choosing(json!({"hostname": "www"}), json!({}));
    let p = project(&alone, &origin()).unwrap();
    assert_eq!(p.vm.chosen_names(), None);
    assert!(p.skipped.is_empty());
}

#[test]
fn an_invalid_hostname_or_subdomain_gives_no_scheme_name_and_the_own_names_stay() {
    for spec in [
        json!({"hostname": "Web", "subdomain": "front"}),
        json!({"hostname": "www", "subdomain": "a.b"}),
        json!({"hostname": "w\tIN\tA\t6.6.6.6", "subdomain": "front"}),
        json!({"hostname": "www", "subdomain": "$ORIGIN"}),
        json!({"subdomain": "x".repeat(64)}),
    ] {
        let p = project(&vmi_choosing(spec.clone(), json!({})), &origin()).unwrap();
        assert_eq!(chosen(&p).0, None, "{spec}");
        assert!(
            matches!(p.skipped[..], [InterfaceSkip::InvalidSchemeName { .. }]),
            "{spec}: {:?}",
            p.skipped
        );
        assert_eq!(p.skipped[0].reason(), "invalid_scheme_name");
        assert_eq!(records(&p)[0], "vm1.ns A\t10.0.0.1", "{spec}");
    }
    // Of another type than a string, as no API server admits: malformed.
    let object = json!({
        "metadata": {"name": "vm1", "namespace": "ns"},
        "spec": {"hostname": 7, "subdomain": "front"}
    });
    let error = decode_vmi(object).unwrap_err().to_string();
    assert!(
        error.contains("ns/vm1") && error.contains("spec.hostname"),
        "{error}"
    );
}

#[test]
fn aliases_are_trimmed_labels_and_an_invalid_one_is_skipped_naming_it() {
    let vmi = vmi_choosing(
        json!({}),
        json!({"kubevirt-dns.io/aliases": " www, api,,  , bad_one, www , x\nIN A 1.2.3.4"}),
    );
    let p = project(&vmi, &origin()).unwrap();
    assert_eq!(chosen(&p).1, ["api", "www"]);
    let skipped: Vec<String> = p.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].contains("\"bad_one\""), "{skipped:?}");
    assert_eq!(p.skipped[0].reason(), "invalid_alias");
}

#[test]
fn hostile_aliases_are_capped_and_cost_a_bounded_number_of_warnings() {
    let many: Vec<String> = (0..10_000).map(|i| format!("a{i}")).collect();
    let vmi = vmi_choosing(
        json!({}),
        json!({"kubevirt-dns.io/aliases": many.join(",")}),
    );
    let p = project(&vmi, &origin()).unwrap();
    assert_eq!(chosen(&p).1.len(), status_monitor::projection::MAX_ALIASES);
    assert!(matches!(
        p.skipped[..],
        [InterfaceSkip::TooManyAliases { count: 10_000 }]
    ));
    // One MiB of junk: at most MAX_ALIASES warnings, and one for the count.
    let junk = "x_".repeat(512 * 1024);
    let vmi = vmi_choosing(json!({}), json!({"kubevirt-dns.io/aliases": junk}));
    let p = project(&vmi, &origin()).unwrap();
    assert_eq!(p.skipped.len(), 1, "one entry, invalid");
    assert!(
        p.skipped[0].to_string().len() < 300,
        "the value is shortened"
    );
    let commas = "x_,".repeat(350_000);
    let vmi = vmi_choosing(json!({}), json!({"kubevirt-dns.io/aliases": commas}));
    let p = project(&vmi, &origin()).unwrap();
    assert_eq!(p.skipped.len(), status_monitor::projection::MAX_ALIASES + 1);
}

#[test]
fn a_ttl_from_0_to_86400_applies_to_every_record_and_anything_else_is_ignored_with_a_warning() {
    for (value, want) in [
        ("600", Some(600)),
        (" 0 ", Some(0)),
        ("86400", Some(86_400)),
    ] {
        let vmi = vmi_choosing(json!({}), json!({"kubevirt-dns.io/ttl": value}));
        let p = project(&vmi, &origin()).unwrap();
        assert_eq!(chosen(&p).2, want, "{value:?}");
        assert!(p.skipped.is_empty());
        assert!(p.vm.records().all(|r| r.ttl == want));
    }
    for value in ["-1", "1e9", "86401", "4294967296", "ten", ""] {
        let vmi = vmi_choosing(json!({}), json!({"kubevirt-dns.io/ttl": value}));
        let p = project(&vmi, &origin()).unwrap();
        assert_eq!(chosen(&p).2, None, "{value:?}");
        assert!(p.vm.records().all(|r| r.ttl.is_none()));
        assert_eq!(p.skipped.len(), 1, "{value:?}");
        assert_eq!(p.skipped[0].reason(), "invalid_annotation");
    }
}
