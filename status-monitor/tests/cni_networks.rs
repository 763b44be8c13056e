//! The networks the functest gives its VMs (tests/fixtures/networks/, the
//! NetworkAttachmentDefinitions' `spec.config`) set up for real: each plugin of
//! each config runs from Debian's containernetworking-plugins, CNI ADD and DEL,
//! for a container namespace whose host side is a namespace of its own. A
//! config that cannot be set up (ptp with static IPAM and no gateway) fails
//! here instead of leaving a virt-launcher pod pending on a user's cluster.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::{Path, PathBuf};

use common::cni::{self, Attachment};
use common::netns::NetworkNamespace;
use serde_json::{Value, json};

fn network_configs() -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/networks");
    let mut configs: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let config = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (path, config)
        })
        .collect();
    configs.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(configs.len() >= 2, "the functest's networks in {dir:?}");
    configs
}

/// The attachment of `net1` of `container`, whose host side is `host`.
fn attachment<'a>(
    host: &'a NetworkNamespace,
    container: &'a NetworkNamespace,
    path: &'a str,
) -> Attachment<'a> {
    Attachment {
        host_netns: &host.name,
        container_netns: path,
        container_id: &container.name,
        ifname: "net1",
    }
}

/// The addresses (with prefix length) on `net1` inside `namespace`.
fn interface_addresses(namespace: &NetworkNamespace) -> Vec<String> {
    let out = namespace
        .exec("ip")
        .args(["-j", "addr", "show", "dev", "net1"])
        .output()
        .unwrap();
    let links: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!([]));
    let mut addresses: Vec<String> = links[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    addresses.sort();
    addresses
}

#[test]
fn every_functest_network_can_be_set_up_by_its_cni_plugins() {
    if !common::running_as_root_or_skip("running CNI plugins in network namespaces") {
        return;
    }
    for (path, list) in network_configs() {
        let host = NetworkNamespace::new("sm-cni-host");
        let container = NetworkNamespace::new("sm-cni-ctr");
        let container_path = container.path();
        let attachment = attachment(&host, &container, &container_path);
        let result =
            cni::add(&list, &attachment).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let plugins = list["plugins"].as_array().unwrap();
        let mut wanted: Vec<String> = plugins
            .iter()
            .flat_map(|p| {
                p["ipam"]["addresses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|a| a["address"].as_str().unwrap().to_owned())
            .collect();
        wanted.sort();
        assert_eq!(
            interface_addresses(&container),
            wanted,
            "{}: the VM side has the static addresses",
            path.display()
        );
        cni::del(&list, Some(&result), &attachment)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn ptp_without_a_gateway_is_refused_as_on_a_cluster() {
    if !common::running_as_root_or_skip("running CNI plugins in network namespaces") {
        return;
    }
    // The shape the functest had: static IPAM, no gateway.
    let list = json!({"cniVersion": "0.3.1", "name": "no-gateway", "plugins": [
        {"type": "ptp", "ipam": {"type": "static", "addresses": [{"address": "10.10.0.5/24"}]}}
    ]});
    let host = NetworkNamespace::new("sm-cni-host");
    let container = NetworkNamespace::new("sm-cni-ctr");
    let container_path = container.path();
    let error = cni::add(&list, &attachment(&host, &container, &container_path))
        .expect_err("ptp cannot set up a static address without a gateway");
    assert!(error.contains("out of range"), "{error}");
}
