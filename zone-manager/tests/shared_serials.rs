//! Replicas that batch one stream of changes differently, with serials from one
//! shared ledger: no serial of a zone ever carries two contents. With serials
//! from each replica's clock alone the same stream does give one serial two
//! contents, which is why the ledger exists.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ParsedZone, settings, vm};
use zone_manager::{
    ClockSerials, ContentDigest, Origin, Serial, SerialGrants, SerialSource, ZoneFileError,
    ZoneLayout, ZoneManager,
};

/// The shared ledger, in memory: per zone its latest serial and content.
#[derive(Default)]
struct Ledger {
    entries: HashMap<Origin, (Serial, ContentDigest)>,
}

impl Ledger {
    fn serve(&mut self, grants: &mut SerialGrants, now: SystemTime) {
        for request in grants.take_requests() {
            let entry = self.entries.get(&request.zone).copied();
            let serial = request.grant(entry, None, now);
            self.entries
                .insert(request.zone.clone(), (serial, request.content));
            grants.grant(request.zone, request.content, serial);
        }
    }
}

/// One replica: its manager, its zones directory and its serial source.
struct Replica {
    manager: ZoneManager,
    dir: tempfile::TempDir,
    grants: Option<SerialGrants>,
}

impl Replica {
    fn open(shared: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manager = ZoneManager::open_with(
            settings("example.com", Some("192.0.2.53")),
            ZoneLayout::Namespace,
            &[],
            dir.path(),
        )
        .unwrap()
        .with_catalog(Origin::parse("catalog.example.com").unwrap());
        Self {
            manager,
            dir,
            grants: shared.then(SerialGrants::default),
        }
    }

    /// Publishes as status-monitor does: ask the ledger for what awaits a
    /// serial, and publish again, until nothing awaits.
    fn publish(&mut self, ledger: &mut Ledger, now: SystemTime) {
        let Some(grants) = &mut self.grants else {
            self.manager
                .publish_with(&mut ClockSerials::at(now))
                .unwrap();
            return;
        };
        for _ in 0..4 {
            match self.manager.publish_with(grants as &mut dyn SerialSource) {
                Ok(_) => return,
                Err(ZoneFileError::AwaitingSerial { .. }) => ledger.serve(grants, now),
                Err(e) => panic!("{e}"),
            }
        }
        panic!("still awaiting serials after four passes");
    }

    /// Every zone file here: (file, serial) → text.
    fn record(&self, seen: &mut BTreeMap<(String, u32), Vec<String>>) {
        for (name, text) in zone_files(self.dir.path()) {
            let origin = format!("{}.", name.trim_start_matches("db."));
            let serial = ParsedZone::parse(&text, &origin).serial;
            let texts = seen.entry((name, serial)).or_default();
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }
}

fn zone_files(dir: &Path) -> Vec<(String, String)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read_to_string(e.path()).unwrap())
        })
        .collect()
}

/// One event stream, two batchings: A publishes after every 2 changes, B after
/// every 3, all within the same second. Returns every (zone, serial) that
/// carried more than one text among both replicas.
fn run(shared: bool) -> Vec<((String, u32), Vec<String>)> {
    let mut ledger = Ledger::default();
    let mut replicas = [Replica::open(shared), Replica::open(shared)];
    let batch = [2, 3];
    let mut seen = BTreeMap::new();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for change in 1..=30u32 {
        // A VM moves, another namespace comes and goes: forward zones, the
        // parent's delegations and the catalog all change.
        let ip = format!("10.0.{}.{}", change / 250, change % 250 + 1);
        let extra = format!("ns{}", change % 4);
        for (replica, every) in replicas.iter_mut().zip(batch) {
            replica
                .manager
                .upsert(vm("lab", "web", &[("red", &[ip.as_str()])]));
            if change % 5 == 0 {
                replica.manager.remove(&extra, "db");
            } else {
                replica
                    .manager
                    .upsert(vm(&extra, "db", &[("red", &["10.9.0.1"])]));
            }
            if change % every == 0 {
                replica.publish(&mut ledger, now);
                replica.record(&mut seen);
            }
        }
    }
    seen.into_iter()
        .filter(|(_, texts)| texts.len() > 1)
        .collect()
}

#[test]
fn with_a_shared_ledger_no_serial_carries_two_contents() {
    let clashes = run(true);
    assert!(clashes.is_empty(), "{clashes:#?}");
}

#[test]
fn with_serials_from_each_replicas_clock_the_same_stream_clashes() {
    // The control: the stream above is one that breaks the promise without
    // the ledger, so the test above can fail.
    assert!(!run(false).is_empty());
}
