//! The rendered zone, read back by a real RFC 1035 parser.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use common::{ParsedZone, settings, vm};
use zone_manager::{Serial, ZoneSettings, render_zone};

#[test]
fn zone_has_soa_with_ns_mname_and_configured_timers() {
    let mut s = settings("example.com", None);
    s.record_ttl = 45;
    s.refresh = 111;
    s.retry = 22;
    s.expire = 3333;
    s.negative_ttl = 4;
    let text = render_zone(&s, Serial::new(42), []);
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    assert_eq!(zone.origin, "vm.example.com.");
    assert_eq!(
        zone.get("vm.example.com.", "SOA"),
        ["ns.vm.example.com. hostmaster.vm.example.com. 42 111 22 3333 4"]
    );
    assert!(text.contains("$TTL 45\n"), "{text}");
}

#[test]
fn empty_domain_gives_the_vm_zone() {
    let text = render_zone(
        &settings("", None),
        Serial::new(1),
        [&vm("ns1", "a", &[("net1", &["10.0.0.1"])])],
    );
    let zone = ParsedZone::parse(&text, "vm.");
    assert_eq!(zone.get("net1.a.ns1.vm.", "A"), ["10.0.0.1"]);
    assert_eq!(zone.get("a.ns1.vm.", "A"), ["10.0.0.1"]);
}

#[test]
fn name_server_ip_adds_ns_and_glue() {
    let v4 = render_zone(
        &settings("example.com", Some("192.0.2.53")),
        Serial::new(1),
        [],
    );
    let zone = ParsedZone::parse(&v4, "vm.example.com.");
    assert_eq!(zone.get("vm.example.com.", "NS"), ["ns.vm.example.com."]);
    assert_eq!(zone.get("ns.vm.example.com.", "A"), ["192.0.2.53"]);

    let v6 = render_zone(
        &settings("example.com", Some("2001:db8::53")),
        Serial::new(1),
        [],
    );
    let zone = ParsedZone::parse(&v6, "vm.example.com.");
    assert_eq!(zone.get("vm.example.com.", "NS"), ["ns.vm.example.com."]);
    assert_eq!(zone.get("ns.vm.example.com.", "AAAA"), ["2001:db8::53"]);
    assert!(zone.get("ns.vm.example.com.", "A").is_empty());
}

#[test]
fn several_name_server_addresses_give_one_ns_and_glue_for_each_in_canonical_order() {
    let mut settings = settings("example.com", None);
    settings.set_name_servers(
        ["2001:db8::53", "192.0.2.54", "192.0.2.53", "192.0.2.54"]
            .iter()
            .map(|a| a.parse().unwrap()),
    );
    let text = render_zone(&settings, Serial::new(1), []);
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    assert_eq!(zone.get("vm.example.com.", "NS"), ["ns.vm.example.com."]);
    assert_eq!(
        zone.get("ns.vm.example.com.", "A"),
        ["192.0.2.53", "192.0.2.54"]
    );
    assert_eq!(zone.get("ns.vm.example.com.", "AAAA"), ["2001:db8::53"]);
    let glue: Vec<&str> = text.lines().filter(|l| l.starts_with("ns\t")).collect();
    assert_eq!(
        glue,
        [
            "ns\tIN\tA\t192.0.2.53",
            "ns\tIN\tA\t192.0.2.54",
            "ns\tIN\tAAAA\t2001:db8::53"
        ],
        "the same addresses in any order give the same bytes"
    );
}

#[test]
fn no_name_server_ip_means_no_ns_record() {
    let text = render_zone(&settings("example.com", None), Serial::new(1), []);
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    assert!(zone.get("vm.example.com.", "NS").is_empty());
}

#[test]
fn every_interface_and_the_vm_get_names_under_namespace_and_origin() {
    let vms = [
        vm(
            "prod",
            "web",
            &[("blue", &["10.1.0.2", "fd00:1::2"]), ("red", &["10.2.0.2"])],
        ),
        vm("dev", "web", &[("red", &["10.2.0.9"])]),
    ];
    let text = render_zone(
        &settings("example.com", Some("192.0.2.53")),
        Serial::new(1),
        &vms,
    );
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    assert_eq!(zone.get("blue.web.prod.vm.example.com.", "A"), ["10.1.0.2"]);
    assert_eq!(
        zone.get("blue.web.prod.vm.example.com.", "AAAA"),
        ["fd00:1::2"]
    );
    assert_eq!(zone.get("red.web.prod.vm.example.com.", "A"), ["10.2.0.2"]);
    // The VM name: A of the first interface by name with IPv4 (blue), AAAA likewise.
    assert_eq!(zone.get("web.prod.vm.example.com.", "A"), ["10.1.0.2"]);
    assert_eq!(zone.get("web.prod.vm.example.com.", "AAAA"), ["fd00:1::2"]);
    assert_eq!(zone.get("web.dev.vm.example.com.", "A"), ["10.2.0.9"]);
    assert_eq!(zone.get("red.web.dev.vm.example.com.", "A"), ["10.2.0.9"]);
    // 7 owner/type sets of VMs plus the glue record.
    assert_eq!(zone.address_owners().len(), 8, "{text}");
}

#[test]
fn defaults_suit_vms_that_come_and_go() {
    let s = ZoneSettings::new(zone_manager::Origin::for_domain("").unwrap());
    assert!(s.negative_ttl <= 30, "a new VM must resolve quickly");
    assert!(
        s.record_ttl <= 60,
        "a moved VM must resolve to its new address quickly"
    );
    assert!(s.retry < s.refresh && s.refresh < s.expire);
}

/// The one writer, for every type of the record model, read back by a real
/// parser: names absolute or relative, a TTL of its own, and TXT text that
/// would break the line unescaped.
#[test]
fn every_record_type_is_written_as_a_parser_reads_it() {
    use zone_manager::{Label, Labels, Name, Origin, Owner, Record, RecordData, write_record};
    let s = settings("example.com", None);
    let mut text = render_zone(&s, Serial::new(3), []);
    let (web, tenant) = (Label::new("web").unwrap(), Label::new("tenant").unwrap());
    let www = Label::new("www").unwrap();
    let target = Name {
        labels: Labels::new(&[&web, &tenant]),
        origin: Some(&s.origin),
    };
    let other = Origin::parse("example.net").unwrap();
    let records = [
        Record {
            owner: Owner::Below(Labels::new(&[&www, &tenant])),
            ttl: Some(600),
            data: RecordData::Cname(target),
        },
        Record::new(
            Owner::Below(Labels::new(&[&tenant])),
            RecordData::Ns(Name {
                labels: Labels::NONE,
                origin: Some(&other),
            }),
        ),
        Record::new(
            Owner::Below(Labels::new(&[&web, &tenant])),
            RecordData::Txt("say \"hi\" \\ now;\nthen é"),
        ),
        Record::new(Owner::Apex, RecordData::Ptr(target)),
    ];
    for record in &records {
        write_record(&mut text, record).unwrap();
    }
    let zone = ParsedZone::parse(&text, "vm.example.com.");
    let key = |n: &str, t: &str| (n.to_owned(), t.to_owned());
    assert_eq!(
        zone.get("www.tenant.vm.example.com.", "CNAME"),
        ["web.tenant.vm.example.com."]
    );
    assert_eq!(zone.ttls[&key("www.tenant.vm.example.com.", "CNAME")], 600);
    assert_eq!(
        zone.ttls[&key("tenant.vm.example.com.", "NS")],
        ZoneSettings::DEFAULT_RECORD_TTL,
        "no TTL of its own: the zone's $TTL"
    );
    assert_eq!(zone.get("tenant.vm.example.com.", "NS"), ["example.net."]);
    assert_eq!(
        zone.get("vm.example.com.", "PTR"),
        ["web.tenant.vm.example.com."]
    );
    let txt = zone.get("web.tenant.vm.example.com.", "TXT");
    assert_eq!(txt.len(), 1, "one record on one line: {text}");
    assert!(
        text.lines()
            .any(|l| l == "web.tenant\tIN\tTXT\t\"say \\\"hi\\\" \\\\ now;\\010then \\195\\169\""),
        "{text}"
    );
    // Each record's Display is its type and data, as in the file.
    assert_eq!(
        records[0].data.to_string(),
        "CNAME\tweb.tenant.vm.example.com."
    );
}
