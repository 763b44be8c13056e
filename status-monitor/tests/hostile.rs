//! A corpus of malformed and hostile VMIs. For each: no panic, a valid zone, the
//! offending object or interface skipped with a warning naming it and the reason,
//! and every other VMI still served. Checked in process (the watch path) and end
//! to end (`status-monitor render`, then a real parser, named-checkzone and
//! kzonecheck).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::collections::BTreeSet;

use common::ParsedZone;
use serde_json::{Value, json};
use status_monitor::projection::project;
use status_monitor::vmi::decode::LenientVmi;
use zone_manager::Origin;

/// 60 + 12 octets: long enough that three 63-octet labels overflow 253.
fn domain() -> String {
    format!("{}.example.com", "d".repeat(60))
}

/// What must become of a case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// No record at all for this VMI.
    Gone,
    /// Only the interface `ok` (and the VM name) is served.
    OnlyOk,
}

struct Case {
    what: &'static str,
    object: Value,
    outcome: Outcome,
    /// A warning must name the object (false: nothing worth a warning, such as
    /// an empty or missing address).
    warns: bool,
}

fn base(namespace: &str, name: Value, networks: Value, interfaces: Value) -> Value {
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"networks": networks},
        "status": {"interfaces": interfaces}
    })
}

fn multus(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({"name": n, "multus": {"networkName": "net"}}))
            .collect(),
    )
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut n = 0;
    let mut next_ns = || {
        n += 1;
        format!("h{n}")
    };

    // Addresses that are not addresses: the interface keeps its good address,
    // the bad one is reported.
    for bad in [
        "300.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "::g",
        "-1.0.0.0",
        "fe80::1%eth0",
        "10.0.0.1/24",
        "fd00::/64",
        "0x0a000001",
        "10.0.0.01",
        "1.2.3.4 ; evil",
        "10.0.0.1\n@ IN A 6.6.6.6",
    ] {
        let ns = next_ns();
        cases.push(Case {
            what: "unparsable address next to a good one",
            object: base(
                &ns,
                json!("vm"),
                multus(&["ok"]),
                json!([{"name": "ok", "ipAddresses": [bad, "10.7.0.1"]}]),
            ),
            outcome: Outcome::OnlyOk,
            warns: true,
        });
    }
    // Numbers, nulls and lists where other things belong.
    for (what, interfaces, outcome, warns) in [
        (
            "ipAddress is a number",
            json!([{"name": "ok", "ipAddress": 42}]),
            Outcome::Gone,
            true,
        ),
        (
            "ipAddresses is a string",
            json!([{"name": "ok", "ipAddresses": "10.0.0.1"}]),
            Outcome::Gone,
            true,
        ),
        (
            "ipAddresses holds numbers",
            json!([{"name": "ok", "ipAddresses": [1, 2]}]),
            Outcome::Gone,
            true,
        ),
        (
            "interface name is a number",
            json!([{"name": 7, "ipAddress": "10.0.0.1"}]),
            Outcome::Gone,
            true,
        ),
        (
            "interfaces is a map",
            json!({"name": "ok"}),
            Outcome::Gone,
            true,
        ),
        ("interfaces is a string", json!("eth0"), Outcome::Gone, true),
        (
            "null addresses",
            json!([{"name": "ok", "ipAddress": null, "ipAddresses": null}]),
            Outcome::Gone,
            false,
        ),
        (
            "empty address",
            json!([{"name": "ok", "ipAddress": ""}]),
            Outcome::Gone,
            false,
        ),
        ("interfaces null", json!(null), Outcome::Gone, false),
        (
            "unnamed interface",
            json!([{"interfaceName": "eth9", "ipAddress": "10.0.0.1"}]),
            Outcome::Gone,
            false,
        ),
        (
            "empty interface name",
            json!([{"name": "", "ipAddress": "10.0.0.1"}]),
            Outcome::Gone,
            false,
        ),
    ] {
        cases.push(Case {
            what,
            object: base(&next_ns(), json!("vm"), multus(&["ok"]), interfaces),
            outcome,
            warns,
        });
    }
    let ns = next_ns();
    cases.push(Case {
        what: "networks is a string",
        object: base(
            &ns,
            json!("vm"),
            json!("pod"),
            json!([{"name": "ok", "ipAddress": "10.0.0.1"}]),
        ),
        outcome: Outcome::Gone,
        warns: true,
    });
    let ns = next_ns();
    cases.push(Case {
        what: "status is a list",
        object: json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                       "metadata": {"name": "vm", "namespace": ns}, "spec": {}, "status": [1]}),
        outcome: Outcome::Gone,
        warns: true,
    });

    // VMI names that would inject zone syntax or are no single label.
    for name in [
        "a;b",
        "$ORIGIN",
        "@",
        "*",
        "a\nb",
        "a b",
        "a\tb",
        "a(b)",
        "a\"b",
        "a\\b",
        "ünï",
        "Upper",
        "a.b",
        "-lead",
        "trail-",
        "x\r\n$INCLUDE /etc/passwd",
        &"a".repeat(64),
        &"b".repeat(1 << 20),
    ] {
        cases.push(Case {
            what: "hostile VMI name",
            object: base(
                &next_ns(),
                json!(name),
                multus(&["ok"]),
                json!([{"name": "ok", "ipAddress": "10.0.0.1"}]),
            ),
            outcome: Outcome::Gone,
            warns: true,
        });
    }
    cases.push(Case {
        what: "VMI without a name",
        object: json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                       "metadata": {"namespace": next_ns()}, "spec": {"networks": multus(&["ok"])},
                       "status": {"interfaces": [{"name": "ok", "ipAddress": "10.0.0.1"}]}}),
        outcome: Outcome::Gone,
        warns: true,
    });

    // Interface names: that interface skipped, `ok` served.
    for iface in [
        "x;IN A 6.6.6.6".to_owned(),
        "$TTL".into(),
        "@".into(),
        "*".into(),
        "eth\n0".into(),
        "eth 0".into(),
        "Eth0".into(),
        "a.b".into(),
        "ñ".into(),
        "c".repeat(64),
        "d".repeat(1 << 20),
    ] {
        cases.push(Case {
            what: "hostile interface name",
            object: base(
                &next_ns(),
                json!("vm"),
                multus(&[iface.as_str(), "ok"]),
                json!([{"name": iface, "ipAddress": "10.6.6.6"}, {"name": "ok", "ipAddress": "10.0.0.1"}]),
            ),
            outcome: Outcome::OnlyOk,
            warns: true,
        });
    }
    cases.push(Case {
        what: "duplicate interface names",
        object: base(
            &next_ns(),
            json!("vm"),
            multus(&["dup", "ok"]),
            json!([{"name": "dup", "ipAddress": "10.0.0.8"}, {"name": "dup", "ipAddress": "10.0.0.9"}, {"name": "ok", "ipAddress": "10.0.0.1"}]),
        ),
        outcome: Outcome::OnlyOk,
        warns: true,
    });
    // 63 + 63 + 61 + 3 dots + the 75-octet origin = 265 octets.
    let ns = format!("{}{}", next_ns(), "n".repeat(58));
    let long = "l".repeat(63);
    cases.push(Case {
        what: "interface pushing the name past 253 octets",
        object: base(
            &ns,
            json!(long.clone()),
            multus(&[long.as_str(), "ok"]),
            json!([{"name": long, "ipAddress": "10.0.0.2"}, {"name": "ok", "ipAddress": "10.0.0.1"}]),
        ),
        outcome: Outcome::OnlyOk,
        warns: true,
    });
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("n{i}"), "ipAddress": "10.0.0.1"}))
        .collect();
    cases.push(Case {
        what: "10k interfaces",
        object: base(&next_ns(), json!("vm"), json!([]), Value::Array(many)),
        outcome: Outcome::Gone,
        warns: true,
    });
    let addresses: Vec<String> = (0..100).map(|i| format!("10.5.0.{i}")).collect();
    cases.push(Case {
        what: "100 addresses on one interface",
        object: base(&next_ns(), json!("vm"), multus(&["big", "ok"]),
                     json!([{"name": "big", "ipAddresses": addresses}, {"name": "ok", "ipAddress": "10.0.0.1"}])),
        outcome: Outcome::OnlyOk,
        warns: true,
    });

    // The owner's annotations with values that cannot be followed: the default
    // applies, with a warning; nothing of the value reaches the zone.
    let huge = "x".repeat(1 << 20);
    for (annotation, value) in [
        ("kubevirt-dns.io/publish", "FALSE"),
        ("kubevirt-dns.io/publish", "yes"),
        ("kubevirt-dns.io/publish", "false; 6.6.6.6"),
        ("kubevirt-dns.io/publish", huge.as_str()),
        ("kubevirt-dns.io/vm-name-interface", "../../etc"),
        ("kubevirt-dns.io/vm-name-interface", "ok\nevil IN A 6.6.6.6"),
        ("kubevirt-dns.io/vm-name-interface", "missing"),
        ("kubevirt-dns.io/vm-name-interface", huge.as_str()),
    ] {
        let mut object = base(
            &next_ns(),
            json!("vm"),
            multus(&["ok"]),
            json!([{"name": "ok", "ipAddress": "10.0.0.1"}]),
        );
        object["metadata"]["annotations"] = json!({annotation: value});
        cases.push(Case {
            what: "an annotation value that cannot be followed",
            object,
            outcome: Outcome::OnlyOk,
            warns: true,
        });
    }
    // SR-IOV by MAC: the guest's entry is as hostile as any other.
    let guest_flood: Vec<String> = (0..100).map(|i| format!("10.6.0.{i}")).collect();
    cases.push(Case {
        what: "a guest entry with 100 addresses behind an SR-IOV MAC",
        object: base(
            &next_ns(),
            json!("vm"),
            multus(&["sriov", "ok"]),
            json!([
                {"name": "sriov", "mac": "02:00:00:00:00:01"},
                {"mac": "02:00:00:00:00:01", "ipAddresses": guest_flood},
                {"name": "ok", "ipAddress": "10.0.0.1"}
            ]),
        ),
        outcome: Outcome::OnlyOk,
        warns: true,
    });
    cases.push(Case {
        what: "a MAC that is not a string",
        object: base(
            &next_ns(),
            json!("vm"),
            multus(&["sriov", "ok"]),
            json!([
                {"name": "sriov", "mac": 5},
                {"name": "ok", "ipAddress": "10.0.0.1"}
            ]),
        ),
        outcome: Outcome::Gone,
        warns: true,
    });

    // Namespaces from a hand-written manifest (the API server would refuse them).
    for namespace in ["Bad_NS", "ns\nx", "ns;x"] {
        cases.push(Case {
            what: "hostile namespace",
            object: base(
                namespace,
                json!("vm"),
                multus(&["ok"]),
                json!([{"name": "ok", "ipAddress": "10.0.0.1"}]),
            ),
            outcome: Outcome::Gone,
            warns: true,
        });
    }
    cases
}

/// VMIs that must be served whatever the corpus does.
fn good() -> Vec<Value> {
    (0..5)
        .map(|i| {
            base(
                "good",
                json!(format!("vm{i}")),
                json!([{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red"}}]),
                json!([{"name": "default", "ipAddress": "10.244.0.1"}, {"name": "red", "ipAddresses": [format!("10.1.0.{i}"), format!("fd00::{i}")]}]),
            )
        })
        .collect()
}

fn namespace_of(case: &Case) -> String {
    case.object["metadata"]["namespace"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_corpus_has_at_least_fifty_cases() {
    assert!(corpus().len() >= 50, "{} cases", corpus().len());
}

#[test]
fn each_case_on_the_watch_path_is_skipped_as_expected_without_panic() {
    let origin = Origin::for_domain(&domain()).unwrap();
    for case in corpus() {
        let watched: LenientVmi =
            serde_json::from_value(case.object.clone()).expect("any shape deserializes");
        let outcome = match watched.decode() {
            Err(_) => Outcome::Gone,
            Ok(vmi) => match project(&vmi, &origin) {
                Err(_) => Outcome::Gone,
                Ok(p) if p.vm.publishes_nothing() => Outcome::Gone,
                Ok(p) => {
                    let names: Vec<&str> = p.vm.interfaces().map(|i| i.name().as_str()).collect();
                    assert_eq!(names, ["ok"], "{}", case.what);
                    assert!(!p.skipped.is_empty(), "{}: the skip is reported", case.what);
                    Outcome::OnlyOk
                }
            },
        };
        assert_eq!(
            outcome,
            case.outcome,
            "{} in {}",
            case.what,
            namespace_of(&case)
        );
    }
}

#[test]
fn rendering_the_corpus_gives_a_valid_zone_serving_exactly_the_good_parts() {
    let cases = corpus();
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in cases.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("case-{i:03}.json")),
            case.object.to_string(),
        )
        .unwrap();
    }
    let good_list = json!({"apiVersion": "v1", "kind": "List", "items": good()});
    std::fs::write(dir.path().join("good.json"), good_list.to_string()).unwrap();

    let domain = domain();
    let (text, warnings) = common::render(
        &[
            ("DOMAIN", domain.as_str()),
            ("NAME_SERVER_IP", "192.0.2.53"),
        ],
        &["--serial", "7", dir.path().to_str().unwrap()],
    );
    let origin = format!("vm.{domain}.");
    let zone = ParsedZone::parse(&text, &origin);

    let mut expected: BTreeSet<String> = BTreeSet::new();
    expected.insert(format!("ns.{origin}"));
    for i in 0..5 {
        expected.insert(format!("vm{i}.good.{origin}"));
        expected.insert(format!("red.vm{i}.good.{origin}"));
    }
    for case in cases.iter().filter(|c| c.outcome == Outcome::OnlyOk) {
        let name = case.object["metadata"]["name"].as_str().unwrap();
        let ns = namespace_of(case);
        expected.insert(format!("{name}.{ns}.{origin}"));
        expected.insert(format!("ok.{name}.{ns}.{origin}"));
    }
    let owners: BTreeSet<String> = zone.address_owners().into_iter().collect();
    assert_eq!(owners, expected);
    assert!(!text.contains("6.6.6.6"), "nothing injected");

    for case in cases.iter().filter(|c| c.warns) {
        let named = format!("{}/", namespace_of(case).escape_debug());
        assert!(
            warnings.contains(&named),
            "{}: no warning naming {named}",
            case.what
        );
    }

    let file = dir.path().join("zone");
    std::fs::write(&file, &text).unwrap();
    common::check_zone_with_bind_and_knot(&file, origin.trim_end_matches('.'));
}

/// A selector over hostile labels: only the VMIs it really selects are served,
/// labels of any shape neither break the scan nor sneak a VMI in.
#[test]
fn a_label_selector_over_hostile_labels_serves_exactly_the_selected_vmis() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(1 << 20);
    let labelled = |name: &str, labels: Value| {
        let mut object = base(
            "sel",
            json!(name),
            multus(&["ok"]),
            json!([{"name": "ok", "ipAddress": "10.0.0.1"}]),
        );
        object["metadata"]["labels"] = labels;
        object
    };
    let objects = [
        labelled("chosen", json!({"dns": "on"})),
        labelled("also", json!({"dns": "on", "extra": huge})),
        labelled("newline", json!({"dns": "on\nx"})),
        labelled("spaced", json!({"dns ": "on"})),
        labelled("upper", json!({"DNS": "on"})),
        labelled("number", json!({"dns": 5})),
        labelled("list", json!(["dns=on"])),
        labelled("none", json!(null)),
        labelled("legacy", json!({"dns": "on", "legacy": ""})),
    ];
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(dir.path().join("labels.json"), list.to_string()).unwrap();
    let (text, _) = common::render(
        &[
            ("DOMAIN", "example.com"),
            ("VMI_LABEL_SELECTOR", "dns in (on),!legacy"),
        ],
        &["--serial", "7", dir.path().to_str().unwrap()],
    );
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    let owners: BTreeSet<String> = zone.address_owners().into_iter().collect();
    let expected: BTreeSet<String> = ["chosen", "also"]
        .iter()
        .flat_map(|vm| {
            [
                format!("{vm}.sel.vm.example.com."),
                format!("ok.{vm}.sel.vm.example.com."),
            ]
        })
        .collect();
    assert_eq!(owners, expected);
}
