//! Names: the VMs' life, the label selector, and the names owners choose.

use super::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn names_follow_the_vms_life_and_the_label_selector() {
    let s = Setup::new().await;
    s.vmis.create_namespace("lab").await;
    let selected = serde_json::json!({"metadata": {"labels": {"dns": "on"}}});
    for vm in ["batch", "web", "gpu", "quiet"] {
        s.vmis.create("lab", vm, &["data", "service"]).await;
        s.vmis.patch("lab", vm, selected.clone()).await;
        s.vmis
            .set_interfaces(
                "lab",
                vm,
                &[("data", &["10.7.0.1"]), ("service", &["10.8.0.1"])],
            )
            .await;
    }
    let monitor = s.start_monitor_with(&[("VMI_LABEL_SELECTOR", "dns=on")]);
    monitor.wait_for_zone("the selected VMs", |z| {
        z.get(&fqdn("quiet.lab"), "A") == ["10.7.0.1"]
    });

    // Succeeded: the names go; a new run brings them back.
    let interfaces = |data: &str| {
        serde_json::json!([
            {"name": "data", "ipAddresses": [data]},
            {"name": "service", "ipAddresses": ["10.8.0.1"]}
        ])
    };
    s.vmis
        .patch_status("lab", "batch", serde_json::json!({"phase": "Succeeded"}))
        .await;
    monitor.wait_for_zone("batch to go", |z| {
        z.get(&fqdn("data.batch.lab"), "A").is_empty()
    });
    s.coredns_nxdomain(&fqdn("data.batch.lab"));
    s.vmis
        .patch_status(
            "lab",
            "batch",
            serde_json::json!({"phase": "Running", "interfaces": interfaces("10.7.0.2")}),
        )
        .await;
    monitor.wait_for_zone("batch's new run", |z| {
        z.get(&fqdn("data.batch.lab"), "A") == ["10.7.0.2"]
    });
    s.coredns_answers(&fqdn("data.batch.lab"), "A", &["10.7.0.2"]);

    // Hot-unplug: the spec says absent while the status still lists it.
    s.vmis
        .patch(
            "lab",
            "web",
            serde_json::json!({"spec": {"domain": {"devices": {"interfaces": [
                {"name": "data", "bridge": {}, "state": "absent"},
                {"name": "service", "bridge": {}}
            ]}}}}),
        )
        .await;
    monitor.wait_for_zone("web's data interface to go", |z| {
        z.get(&fqdn("data.web.lab"), "A").is_empty() && z.get(&fqdn("web.lab"), "A") == ["10.8.0.1"]
    });
    s.coredns_answers(&fqdn("web.lab"), "A", &["10.8.0.1"]);

    // SR-IOV: the named entry without addresses, the guest's entry by MAC.
    s.vmis
        .patch_status(
            "lab",
            "gpu",
            serde_json::json!({"phase": "Running", "interfaces": [
                {"name": "data", "mac": "02:00:00:00:0a:01", "infoSource": "domain, multus-status"},
                {"interfaceName": "eth1", "mac": "02:00:00:00:0A:01", "ipAddresses": ["10.7.0.9"], "infoSource": "guest-agent"}
            ]}),
        )
        .await;
    monitor.wait_for_zone("gpu's SR-IOV address", |z| {
        z.get(&fqdn("data.gpu.lab"), "A") == ["10.7.0.9"]
    });
    s.coredns_answers(&fqdn("data.gpu.lab"), "A", &["10.7.0.9"]);

    // The label selector: an unselected VMI never appears; relabelled, it does.
    s.vmis.create("lab", "unlisted", &["data"]).await;
    s.vmis
        .set_interfaces("lab", "unlisted", &[("data", &["10.7.0.50"])])
        .await;
    s.vmis
        .annotate(
            "lab",
            "quiet",
            serde_json::json!({"kubevirt-dns.io/publish": "false"}),
        )
        .await;
    monitor.wait_for_zone("quiet to opt out", |z| {
        z.get(&fqdn("quiet.lab"), "A").is_empty()
    });
    assert!(
        monitor
            .zone()
            .unwrap()
            .get(&fqdn("unlisted.lab"), "A")
            .is_empty()
    );
    assert!(
        !monitor.log().contains("unlisted"),
        "the API server never sent the unselected VMI:\n{}",
        monitor.log()
    );
    s.vmis.patch("lab", "unlisted", selected).await;
    monitor.wait_for_zone("unlisted, relabelled", |z| {
        z.get(&fqdn("unlisted.lab"), "A") == ["10.7.0.50"]
    });
    s.coredns_answers(&fqdn("unlisted.lab"), "A", &["10.7.0.50"]);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn names_owners_choose_follow_their_vmis_through_relabelling_changes_and_deletion() {
    let s = Setup::new().await;
    s.vmis.create_namespace("shop").await;
    let selected = serde_json::json!({"metadata": {"labels": {"dns": "on"}}});
    for (vm, address) in [("web-0", "10.9.0.1"), ("web-1", "10.9.0.2")] {
        s.vmis.create("shop", vm, &["lan"]).await;
        s.vmis
            .patch(
                "shop",
                vm,
                serde_json::json!({"spec": {"subdomain": "front"}}),
            )
            .await;
        s.vmis.patch("shop", vm, selected.clone()).await;
        s.vmis
            .set_interfaces("shop", vm, &[("lan", &[address])])
            .await;
    }
    s.vmis
        .annotate(
            "shop",
            "web-0",
            serde_json::json!({"kubevirt-dns.io/aliases": "www", "kubevirt-dns.io/ttl": "120"}),
        )
        .await;
    let monitor = s.start_monitor_with(&[("VMI_LABEL_SELECTOR", "dns=on")]);
    monitor.wait_for_zone("the chosen names", |z| {
        z.get(&fqdn("front.shop"), "A") == ["10.9.0.1", "10.9.0.2"]
            && z.get(&fqdn("www.shop"), "CNAME") == [fqdn("web-0.shop")]
            && z.get(&fqdn("web-1.front.shop"), "A") == ["10.9.0.2"]
    });
    let zone = monitor.zone().unwrap();
    let ttl = |name: &str, t: &str| zone.ttls[&(fqdn(name), t.to_owned())];
    assert_eq!(ttl("www.shop", "CNAME"), 120);
    assert_eq!(ttl("front.shop", "A"), 30, "web-1 has the zone's TTL");
    s.coredns_answers(&fqdn("www.shop"), "A", &["10.9.0.1"]);
    s.coredns_answers(&fqdn("front.shop"), "A", &["10.9.0.1", "10.9.0.2"]);

    // Relabelled out of the selector: web-1 leaves the group.
    s.vmis
        .patch(
            "shop",
            "web-1",
            serde_json::json!({"metadata": {"labels": {"dns": "off"}}}),
        )
        .await;
    monitor.wait_for_zone("web-1 to leave the group", |z| {
        z.get(&fqdn("front.shop"), "A") == ["10.9.0.1"]
            && z.get(&fqdn("web-1.front.shop"), "A").is_empty()
    });

    // Changed: another alias, and an alias taken by a VM's own name loses.
    s.vmis
        .annotate(
            "shop",
            "web-0",
            serde_json::json!({"kubevirt-dns.io/aliases": "api, web-0"}),
        )
        .await;
    monitor.wait_for_zone("the new alias", |z| {
        z.get(&fqdn("api.shop"), "CNAME") == [fqdn("web-0.shop")]
            && z.get(&fqdn("www.shop"), "CNAME").is_empty()
    });
    s.coredns_nxdomain(&fqdn("www.shop"));
    common::monitor::wait_until(
        "the collision warning",
        || monitor.log(),
        || {
            monitor
                .log()
                .contains("web-0.shop (alias of VMI shop/web-0)")
                .then_some(())
        },
    );

    // Deleted: every name it gave goes.
    s.vmis.delete("shop", "web-0").await;
    monitor.wait_for_zone("web-0's names to go", |z| {
        z.rrsets.keys().all(|(name, _)| !name.contains(".shop."))
    });
    s.coredns_nxdomain(&fqdn("api.shop"));
}
