//! Arbitrary bytes as a watched VMI (JSON) or as a manifest file (YAML or
//! JSON): never a panic, a JSON manifest is read if and only if it parses, and
//! whatever is projected renders to a zone a real parser accepts, with only
//! the owner names the projection allows.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use status_monitor::metrics::Metrics;
use status_monitor::projection::Projector;
use status_monitor::source::directory::manifests::{Format, read_vmis_from};
use status_monitor::vmi::VirtualMachineInstance;
use status_monitor::vmi::decode::LenientVmi;
use zone_manager::parsed::ParsedZone;
use zone_manager::{Origin, Serial, ZoneSettings, render_zone};

fn check(vmis: Vec<VirtualMachineInstance>) {
    let origin = Origin::for_domain("example.com").expect("origin");
    let mut projector = Projector::new(origin.clone(), Arc::new(Metrics::new()));
    let mut vms: Vec<_> = vmis
        .iter()
        .filter_map(|vmi| projector.project(vmi))
        .collect();
    vms.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    vms.dedup_by(|a, b| (a.namespace(), a.name()) == (b.namespace(), b.name()));
    let text = render_zone(&ZoneSettings::new(origin), Serial::new(1), &vms);
    let zone =
        ParsedZone::try_parse(&text, "vm.example.com.").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let records: usize = vms.iter().map(|vm| vm.records().count()).sum();
    let parsed: usize = zone
        .rrsets
        .iter()
        .filter(|((_, t), _)| t != "SOA")
        .map(|(_, v)| v.len())
        .sum();
    assert_eq!(
        records, parsed,
        "every record survives the round trip:\n{text}"
    );
    for (name, _) in zone.rrsets.keys() {
        assert!(
            name.ends_with(".vm.example.com.") || name == "vm.example.com.",
            "{name}"
        );
        assert!(name.split('.').all(|l| {
            l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(watched) = serde_json::from_slice::<LenientVmi>(rest)
                && let Ok(vmi) = watched.decode()
            {
                check(vec![vmi]);
            }
        }
        format => {
            let format = if format == 1 { Format::Yaml } else { Format::Json };
            let mut vmis = Vec::new();
            let read = read_vmis_from(Path::new("fuzz"), rest, format, |vmi| {
                vmis.extend(vmi.ok());
            });
            if format == Format::Json {
                // The JSON splitter accepts exactly what serde_json accepts
                // (but for its nesting limit, which applies to each item). A
                // Value, not IgnoredAny: only the former checks UTF-8.
                match serde_json::from_slice::<serde_json::Value>(rest) {
                    Ok(_) => assert!(read.is_ok(), "valid JSON refused: {read:?}"),
                    Err(e) => assert!(
                        read.is_err() || e.to_string().contains("recursion limit"),
                        "invalid JSON accepted: {e}"
                    ),
                }
            }
            if read.is_ok() {
                check(vmis);
            }
        }
    }
});
