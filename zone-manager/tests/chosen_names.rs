//! Names VM owners choose: the hostname/subdomain scheme, subdomain groups,
//! aliases and TTLs, and which of them win when names collide.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::time::SystemTime;

use common::{ParsedZone, label, settings, vm};
use zone_manager::{
    ChosenKind, ChosenNames, Holder, SchemeName, Serial, VmAddresses, ZoneLayout, ZoneManager,
    render_zone,
};

fn scheme(hostname: &str, subdomain: &str) -> Option<SchemeName> {
    Some(SchemeName {
        hostname: label(hostname),
        subdomain: label(subdomain),
    })
}

fn chosen(
    vm: VmAddresses,
    scheme: Option<SchemeName>,
    aliases: &[&str],
    ttl: Option<u32>,
) -> VmAddresses {
    vm.with_chosen_names(ChosenNames {
        scheme,
        aliases: aliases.iter().map(|a| label(a)).collect(),
        ttl,
    })
}

fn zone_of(vms: &[VmAddresses]) -> (String, ParsedZone) {
    let text = render_zone(&settings("example.com", None), Serial::new(1), vms);
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    (text, zone)
}

#[test]
fn hostname_and_subdomain_give_the_cluster_dns_scheme_name_with_the_vm_names_records() {
    let web = vm("tenant", "web-0", &[("net1", &["10.0.0.1", "fd00::1"])]);
    let (_, zone) = zone_of(&[chosen(web, scheme("www", "frontend"), &[], None)]);
    assert_eq!(
        zone.get("www.frontend.tenant.vm.example.com.", "A"),
        ["10.0.0.1"]
    );
    assert_eq!(
        zone.get("www.frontend.tenant.vm.example.com.", "AAAA"),
        ["fd00::1"]
    );
    // Its own names stay.
    assert_eq!(zone.get("web-0.tenant.vm.example.com.", "A"), ["10.0.0.1"]);
    assert_eq!(
        zone.get("net1.web-0.tenant.vm.example.com.", "A"),
        ["10.0.0.1"]
    );
}

#[test]
fn a_subdomain_group_answers_every_member_at_the_smallest_ttl() {
    let vms = [
        chosen(
            vm("tenant", "db-0", &[("net1", &["10.0.0.1"])]),
            scheme("db-0", "db"),
            &[],
            Some(120),
        ),
        chosen(
            vm("tenant", "db-1", &[("net1", &["10.0.0.2", "fd00::2"])]),
            scheme("db-1", "db"),
            &[],
            None,
        ),
        chosen(
            vm("other", "db-2", &[("net1", &["10.0.9.9"])]),
            scheme("db-2", "db"),
            &[],
            None,
        ),
    ];
    let (_, zone) = zone_of(&vms);
    assert_eq!(
        zone.get("db.tenant.vm.example.com.", "A"),
        ["10.0.0.1", "10.0.0.2"]
    );
    assert_eq!(zone.get("db.tenant.vm.example.com.", "AAAA"), ["fd00::2"]);
    let key = |n: &str, t: &str| (n.to_owned(), t.to_owned());
    // db-1 has the zone's 30 s, less than db-0's 120 s.
    assert_eq!(zone.ttls[&key("db.tenant.vm.example.com.", "A")], 30);
    assert_eq!(
        zone.get("db.other.vm.example.com.", "A"),
        ["10.0.9.9"],
        "a group never leaves its namespace"
    );
    assert_eq!(zone.ttls[&key("db-0.tenant.vm.example.com.", "A")], 120);
    assert_eq!(zone.ttls[&key("db-0.db.tenant.vm.example.com.", "A")], 120);
    assert_eq!(zone.ttls[&key("db-1.tenant.vm.example.com.", "A")], 30);
}

#[test]
fn aliases_are_cnames_to_the_vm_name_with_its_ttl() {
    let web = chosen(
        vm("tenant", "web", &[("net1", &["10.0.0.1"])]),
        None,
        &["www", "api"],
        Some(600),
    );
    let (_, zone) = zone_of(&[web]);
    for alias in ["www", "api"] {
        let name = format!("{alias}.tenant.vm.example.com.");
        assert_eq!(zone.get(&name, "CNAME"), ["web.tenant.vm.example.com."]);
        assert_eq!(zone.ttls[&(name, "CNAME".to_owned())], 600);
    }
    let key = ("net1.web.tenant.vm.example.com.".to_owned(), "A".to_owned());
    assert_eq!(
        zone.ttls[&key], 600,
        "the TTL is the VM's, for all its records"
    );
}

#[test]
fn own_names_win_over_scheme_names_groups_and_aliases_and_each_loss_names_both_vmis() {
    let vms = [
        // VMI db's interface `primary` is `primary.db`, and VMI db is `db`.
        vm("tenant", "db", &[("primary", &["10.0.0.1"])]),
        // Hostname primary, subdomain db: `primary.db` (lost) and group `db` (lost).
        chosen(
            vm("tenant", "pg", &[("net1", &["10.0.0.2"])]),
            scheme("primary", "db"),
            &[],
            None,
        ),
        // Alias `db` (lost to VMI db) and `pg` (lost to VMI pg), `web` kept.
        chosen(
            vm("tenant", "web", &[("net1", &["10.0.0.3"])]),
            None,
            &["db", "pg", "front"],
            None,
        ),
    ];
    let (_, zone) = zone_of(&vms);
    assert_eq!(
        zone.get("primary.db.tenant.vm.example.com.", "A"),
        ["10.0.0.1"]
    );
    assert_eq!(zone.get("db.tenant.vm.example.com.", "A"), ["10.0.0.1"]);
    assert!(zone.get("db.tenant.vm.example.com.", "CNAME").is_empty());
    assert!(zone.get("pg.tenant.vm.example.com.", "CNAME").is_empty());
    assert_eq!(
        zone.get("front.tenant.vm.example.com.", "CNAME"),
        ["web.tenant.vm.example.com."]
    );
    let manager = manager_with(&vms);
    let lost: Vec<(String, ChosenKind, String, Holder)> = manager
        .name_collisions()
        .into_iter()
        .map(|c| (c.name, c.kind, c.vmi.to_string(), c.holder))
        .collect();
    let own = |vmi: &str| Holder::Own { vmi: label(vmi) };
    assert_eq!(
        lost,
        [
            (
                "primary.db.tenant".into(),
                ChosenKind::Scheme,
                "pg".into(),
                own("db")
            ),
            (
                "db.tenant".into(),
                ChosenKind::Group,
                "pg".into(),
                own("db")
            ),
            (
                "db.tenant".into(),
                ChosenKind::Alias,
                "web".into(),
                own("db")
            ),
            (
                "pg.tenant".into(),
                ChosenKind::Alias,
                "web".into(),
                own("pg")
            ),
        ]
    );
    let said = manager.name_collisions()[0].to_string();
    assert!(
        said.contains("tenant/pg") && said.contains("tenant/db"),
        "{said}"
    );
}

#[test]
fn an_alias_two_vmis_claim_goes_to_the_first_by_name_and_a_group_beats_an_alias() {
    let vms = [
        chosen(
            vm("tenant", "b", &[("net1", &["10.0.0.2"])]),
            None,
            &["www", "cache"],
            None,
        ),
        chosen(
            vm("tenant", "a", &[("net1", &["10.0.0.1"])]),
            None,
            &["www"],
            None,
        ),
        chosen(
            vm("tenant", "c", &[("net1", &["10.0.0.3"])]),
            scheme("c", "cache"),
            &[],
            None,
        ),
    ];
    let (_, zone) = zone_of(&sorted(&vms));
    assert_eq!(
        zone.get("www.tenant.vm.example.com.", "CNAME"),
        ["a.tenant.vm.example.com."]
    );
    assert_eq!(zone.get("cache.tenant.vm.example.com.", "A"), ["10.0.0.3"]);
    assert!(
        zone.get("cache.tenant.vm.example.com.", "CNAME").is_empty(),
        "a CNAME is alone at its name"
    );
    let lost: Vec<(String, Holder)> = manager_with(&vms)
        .name_collisions()
        .into_iter()
        .map(|c| (c.name, c.holder))
        .collect();
    let chosen_by = |kind, vmi: &str| Holder::Chosen {
        kind,
        vmi: label(vmi),
    };
    assert_eq!(
        lost,
        [
            ("cache.tenant".into(), chosen_by(ChosenKind::Group, "c")),
            ("www.tenant".into(), chosen_by(ChosenKind::Alias, "a")),
        ]
    );
}

#[test]
fn the_zones_are_the_same_whatever_the_order_of_changes_in_both_layouts() {
    let vms = [
        vm("tenant", "db", &[("primary", &["10.0.0.1"])]),
        chosen(
            vm("tenant", "pg", &[("net1", &["10.0.0.2"])]),
            scheme("primary", "db"),
            &["www"],
            None,
        ),
        chosen(
            vm("tenant", "web", &[("net1", &["10.0.0.3"])]),
            scheme("web", "front"),
            &["www", "db"],
            Some(5),
        ),
        chosen(
            vm("other", "x", &[("net1", &["10.0.1.1"])]),
            scheme("x", "front"),
            &["www"],
            None,
        ),
    ];
    for layout in [ZoneLayout::Single, ZoneLayout::Namespace] {
        let files = |order: &[usize]| {
            let dir = tempfile::tempdir().unwrap();
            let mut manager = ZoneManager::open_with(
                settings("example.com", Some("192.0.2.53")),
                layout,
                &[],
                dir.path(),
            )
            .unwrap();
            for &i in order {
                manager.upsert(vms[i].clone());
            }
            // A change undone on the way: the same end state.
            manager.remove("tenant", "db");
            manager.upsert(vms[0].clone());
            manager.publish_all(SystemTime::UNIX_EPOCH).unwrap();
            let mut texts: Vec<(String, String)> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(|p| {
                    (
                        p.display().to_string(),
                        std::fs::read_to_string(&p).unwrap(),
                    )
                })
                .map(|(p, t)| (p.rsplit('/').next().unwrap().to_owned(), t))
                .collect();
            texts.sort();
            (texts, manager.name_collisions())
        };
        let (first, lost) = files(&[0, 1, 2, 3]);
        assert_eq!(
            files(&[3, 2, 1, 0]),
            (first.clone(), lost.clone()),
            "{layout:?}"
        );
        assert_eq!(files(&[2, 0, 3, 1]).0, first, "{layout:?}");
        assert_eq!(lost.len(), 4, "{lost:?}");
        let all: String = first.iter().map(|(_, t)| t.as_str()).collect();
        assert!(all.contains("CNAME"), "{all}");
    }
}

fn sorted(vms: &[VmAddresses]) -> Vec<VmAddresses> {
    let mut vms = vms.to_vec();
    vms.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    vms
}

fn manager_with(vms: &[VmAddresses]) -> ZoneManager {
    let dir = tempfile::tempdir().unwrap();
    let mut manager = ZoneManager::open_with(
        settings("example.com", None),
        ZoneLayout::Single,
        &[],
        dir.path(),
    )
    .unwrap();
    for vm in vms {
        manager.upsert(vm.clone());
    }
    manager
}
