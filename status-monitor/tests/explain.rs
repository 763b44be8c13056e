//! `status-monitor explain` on manifests, as an operator asks it: every name
//! and record a VMI gets with its zone file, every part left out with its
//! reason, `-o json`, an unknown VMI, and the served serial through CoreDNS.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::coredns::CoreDns;
use common::monitor::Monitor;
use serde_json::{Value, json};

fn vmi(name: &str, annotations: Value, phase: &str, interfaces: Value) -> String {
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": name, "namespace": "lab", "annotations": annotations,
                     "labels": {"tier": "web"}},
        "spec": {
            "networks": [
                {"name": "default", "pod": {}},
                {"name": "red", "multus": {"networkName": "red"}},
                {"name": "blue", "multus": {"networkName": "blue"}},
                {"name": "Bad_Name", "multus": {"networkName": "x"}}
            ],
            "domain": {"devices": {"interfaces": [
                {"name": "default", "masquerade": {}},
                {"name": "red", "bridge": {}},
                {"name": "blue", "bridge": {}, "state": "absent"},
                {"name": "Bad_Name", "bridge": {}}
            ]}}
        },
        "status": {"phase": phase, "interfaces": interfaces}
    })
    .to_string()
}

fn manifests(dir: &Path) {
    let interfaces = json!([
        {"name": "default", "ipAddresses": ["10.244.0.7"]},
        {"name": "red", "ipAddresses": ["10.10.0.5", "fe80::1", "2001:db8::5"]},
        {"name": "blue", "ipAddresses": ["10.10.0.6"]},
        {"name": "Bad_Name", "ipAddresses": ["10.10.0.7"]}
    ]);
    let files = [
        (
            "web.json",
            vmi("web", json!({}), "Running", interfaces.clone()),
        ),
        (
            "done.json",
            vmi("done", json!({}), "Succeeded", interfaces.clone()),
        ),
        (
            "private.json",
            vmi(
                "private",
                json!({"kubevirt-dns.io/publish": "false"}),
                "Running",
                interfaces,
            ),
        ),
        (
            "broken.json",
            r#"{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": "broken", "namespace": "lab"}, "status": {"interfaces": 7}}"#
                .to_owned(),
        ),
    ];
    for (file, text) in files {
        common::write_atomically(dir, file, &text);
    }
}

fn explain(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut all = vec![("DOMAIN", "example.com"), ("REVERSE_ZONES", "10.10.0.0/16")];
    all.extend_from_slice(env);
    let out = common::run(
        common::status_monitor(&all)
            .arg("explain")
            .arg("--source-dir")
            .arg(dir)
            .args(args),
    );
    (
        out.status.code().unwrap_or(-1),
        common::text(&out.stdout),
        common::text(&out.stderr),
    )
}

fn json_of(dir: &Path, env: &[(&str, &str)], name: &str) -> Value {
    let (code, stdout, stderr) = explain(dir, env, &["-n", "lab", "-o", "json", name]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn reasons(explanation: &Value) -> Vec<(String, String)> {
    explanation["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["what"].as_str().unwrap().to_owned(),
                l["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_published_vmi_shows_its_records_and_zone_files_and_what_of_it_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let web = json_of(dir.path(), &[], "web");
    let records: Vec<(String, String, String, String)> = web["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_owned();
            (field("file"), field("name"), field("type"), field("data"))
        })
        .collect();
    let zone = "db.lab.vm.example.com";
    assert_eq!(
        records,
        [
            (
                "db.10.10.in-addr.arpa".into(),
                "5.0.10.10.in-addr.arpa.".into(),
                "PTR".into(),
                "red.web.lab.vm.example.com.".into()
            ),
            (
                zone.into(),
                "red.web.lab.vm.example.com.".into(),
                "A".into(),
                "10.10.0.5".into()
            ),
            (
                zone.into(),
                "red.web.lab.vm.example.com.".into(),
                "AAAA".into(),
                "2001:db8::5".into()
            ),
            (
                zone.into(),
                "web.lab.vm.example.com.".into(),
                "A".into(),
                "10.10.0.5".into()
            ),
            (
                zone.into(),
                "web.lab.vm.example.com.".into(),
                "AAAA".into(),
                "2001:db8::5".into()
            ),
        ],
        "{web:#}"
    );
    let mut left_out = reasons(&web);
    left_out.sort();
    assert_eq!(
        left_out,
        [
            ("address fe80::1 of interface red", "link_local"),
            ("interface Bad_Name", "interface_invalid_name"),
            ("interface blue", "unplugged"),
            ("interface default", "default_network"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // The same for people, one zone file after the other.
    let (code, text, _) = explain(dir.path(), &[], &["-n", "lab", "web"]);
    assert_eq!(code, 0);
    assert!(
        text.starts_with("VMI lab/web\n  records:\n    in db.10.10.in-addr.arpa"),
        "{text}"
    );
    assert!(
        text.contains("      web.lab.vm.example.com. A 10.10.0.5\n"),
        "{text}"
    );
    assert!(
        text.contains("    interface blue: interface \"blue\" is unplugged"),
        "{text}"
    );

    // With one zone for every namespace, the names are in the parent's file.
    let single = json_of(dir.path(), &[("ZONE_LAYOUT", "single")], "web");
    assert!(
        single["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] != "PTR")
            .all(|r| r["file"] == "db.vm.example.com")
    );
}

#[test]
fn a_vmi_left_out_whole_says_why() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    for (name, env, reason) in [
        ("done", vec![], "final_phase"),
        ("private", vec![], "opted_out"),
        ("broken", vec![], "malformed"),
        (
            "web",
            vec![("VMI_LABEL_SELECTOR", "tier=db")],
            "not_selected",
        ),
    ] {
        let explanation = json_of(dir.path(), &env, name);
        assert_eq!(explanation["records"], json!([]), "{name}");
        assert_eq!(
            reasons(&explanation),
            [("the VMI".to_owned(), reason.to_owned())],
            "{name}: {explanation:#}"
        );
        let (_, text, _) = explain(dir.path(), &env, &["-n", "lab", name]);
        assert!(text.contains("no records: it is not in DNS"), "{text}");
    }
}

#[test]
fn an_unknown_vmi_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let (code, stdout, stderr) = explain(dir.path(), &[], &["-n", "lab", "nothere"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no VMI lab/nothere"), "{stderr}");
    let (code, _, stderr) = explain(dir.path(), &[], &["web"]);
    assert_eq!(code, 1, "web is in lab, not in default");
    assert!(stderr.contains("default/web"), "{stderr}");
}

#[test]
fn explain_compares_the_serial_on_disk_with_the_one_coredns_serves() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    manifests(source.path());
    let Some(coredns) = CoreDns::serve(zones.path()) else {
        return;
    };
    let local = format!("127.0.0.1:{}", coredns.ports.dns);
    let zones_dir = zones.path().to_str().unwrap();
    let env = [
        ("LOCAL_DNS_ADDR", local.as_str()),
        ("ZONES_DIR", zones_dir),
        ("ZONE_LAYOUT", "namespace"),
        ("REVERSE_ZONES", "10.10.0.0/16"),
    ];
    let monitor = Monitor::spawn(
        zones.path(),
        &env,
        &[OsStr::new("--source-dir"), source.path().as_os_str()],
    );
    monitor.wait_until_ready();
    let web = json_of(source.path(), &env, "web");
    let served = &web["served"];
    assert_eq!(served["zone"], "lab.vm.example.com.");
    assert!(served["written"].as_u64().is_some(), "{web:#}");
    assert_eq!(served["written"], served["served"], "{web:#}");
    let (_, text, _) = explain(source.path(), &env, &["-n", "lab", "web"]);
    assert!(text.contains("on disk and served"), "{text}");

    // No DNS server there: the serial on disk is not served.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let nobody = silent.local_addr().unwrap().to_string();
    let mut env = env.to_vec();
    env[0] = ("LOCAL_DNS_ADDR", nobody.as_str());
    let (_, text, _) = explain(source.path(), &env, &["-n", "lab", "web"]);
    assert!(
        text.contains("the DNS server does not answer for it"),
        "{text}"
    );
}

/// The names an owner chose, each checked against the namespace's other VMIs:
/// its scheme name, its group and aliases are listed, and an alias another
/// VMI's own name holds is left out as a lost collision naming both.
#[test]
fn explain_lists_chosen_names_and_the_collisions_they_lost() {
    let dir = tempfile::tempdir().unwrap();
    let with = |name: &str, spec: Value, annotations: Value, address: &str| {
        json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": "lab", "annotations": annotations},
            "spec": {"networks": [{"name": "red", "multus": {"networkName": "red"}}],
                     "subdomain": spec["subdomain"]},
            "status": {"phase": "Running", "interfaces": [{"name": "red", "ipAddresses": [address]}]}
        })
        .to_string()
    };
    common::write_atomically(
        dir.path(),
        "web.json",
        &with(
            "web",
            json!({"subdomain": "front"}),
            json!({"kubevirt-dns.io/aliases": "www, db"}),
            "10.10.0.5",
        ),
    );
    common::write_atomically(
        dir.path(),
        "db.json",
        &with("db", json!({"subdomain": "front"}), json!({}), "10.10.0.9"),
    );
    let explanation = json_of(dir.path(), &[("ZONE_LAYOUT", "single")], "web");
    let records: Vec<(String, String, String)> = explanation["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] != "PTR")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("name"), s("type"), s("data"))
        })
        .collect();
    for want in [
        ("web.front.lab.vm.example.com.", "A", "10.10.0.5"),
        ("front.lab.vm.example.com.", "A", "10.10.0.5"),
        ("front.lab.vm.example.com.", "A", "10.10.0.9"),
        (
            "www.lab.vm.example.com.",
            "CNAME",
            "web.lab.vm.example.com.",
        ),
    ] {
        let want = (want.0.to_owned(), want.1.to_owned(), want.2.to_owned());
        assert!(records.contains(&want), "{want:?} in {records:?}");
    }
    assert!(
        !records
            .iter()
            .any(|r| r.0.starts_with("db.lab") && r.1 == "CNAME")
    );
    let lost: Vec<&Value> = explanation["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["reason"] == "name_collision")
        .collect();
    assert_eq!(lost.len(), 1, "{explanation}");
    let detail = lost[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("lab/web") && detail.contains("lab/db"),
        "{detail}"
    );
}

/// Under `NAMESPACE_ZONES_MAX` a namespace has a zone of its own only among
/// the largest: where the zones directory holds the parent, it tells which.
#[test]
fn explain_names_the_zone_the_namespace_zone_limit_put_the_records_in() {
    let source = tempfile::tempdir().unwrap();
    let zones = tempfile::tempdir().unwrap();
    manifests(source.path());
    let zones_dir = zones.path().to_str().unwrap();
    let zone_of = |env: &[(&str, &str)]| {
        let web = json_of(source.path(), env, "web");
        let records = web["records"].as_array().unwrap().clone();
        let forward = records.iter().find(|r| r["type"] != "PTR").unwrap();
        forward["zone"].as_str().unwrap().to_owned()
    };
    let env = [("ZONES_DIR", zones_dir), ("LOCAL_DNS_ADDR", "")];
    assert_eq!(
        zone_of(&env),
        "lab.vm.example.com.",
        "no zones written here"
    );

    std::fs::write(zones.path().join("db.vm.example.com"), "").unwrap();
    assert_eq!(
        zone_of(&env),
        "vm.example.com.",
        "lab is not among the largest"
    );
    let unlimited = [env[0], env[1], ("NAMESPACE_ZONES_MAX", "0")];
    assert_eq!(zone_of(&unlimited), "lab.vm.example.com.");

    std::fs::write(zones.path().join("db.lab.vm.example.com"), "").unwrap();
    assert_eq!(zone_of(&env), "lab.vm.example.com.");
}
