//! Two replicas: the same records, one serial history.

use super::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn two_replicas_converge_to_the_same_records_and_one_answers_while_the_other_is_gone() {
    let cluster = Cluster::start();
    let vmis = Vmis::connect(&cluster).await;
    let kubeconfig = cluster.kubeconfig("monitor");
    let env = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    let (zones_a, zones_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut monitor_a = Monitor::spawn(zones_a.path(), &env, &[] as &[&OsStr]);
    let monitor_b = Monitor::spawn(zones_b.path(), &env, &[] as &[&OsStr]);
    let coredns_b = CoreDns::serve(zones_b.path());

    // A stream of changes while both watch: creations, address changes, deletions.
    let namespaces = ["red-team", "blue-team", "lab"];
    for ns in namespaces {
        vmis.create_namespace(ns).await;
    }
    stream::iter(0..60)
        .for_each_concurrent(16, |i| {
            let (vmis, ns) = (&vmis, namespaces[i % namespaces.len()]);
            async move {
                let name = format!("vm-{i}");
                vmis.create(ns, &name, &["data"]).await;
                for generation in 0..3 {
                    let v4 = format!("10.20.{generation}.{i}");
                    let v6 = format!("fd00:20::{generation}:{i:x}");
                    vmis.set_interfaces(ns, &name, &[("data", &[v4.as_str(), v6.as_str()])])
                        .await;
                }
                if i % 5 == 0 {
                    vmis.delete(ns, &name).await;
                }
            }
        })
        .await;

    // Both reach the final state, byte for byte: the same records with the
    // same serial (the ledger's), so a secondary may transfer from either.
    for monitor in [&monitor_a, &monitor_b] {
        monitor.wait_for_zone("the final state", |z| {
            z.get(&fqdn("vm-1.blue-team"), "A") == ["10.20.2.1"]
                && z.get(&fqdn("vm-59.lab"), "AAAA") == ["fd00:20::2:3b"]
                && z.get(&fqdn("vm-10.blue-team"), "A").is_empty()
        });
    }
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
    let agreed = wait_until(
        "both replicas to write the same zone file",
        || {
            format!(
                "a:\n{:?}\nb:\n{:?}",
                read(monitor_a.zone_path()),
                read(monitor_b.zone_path())
            )
        },
        || {
            let a = read(monitor_a.zone_path())?;
            (Some(&a) == read(monitor_b.zone_path()).as_ref()).then_some(a)
        },
    );
    assert_eq!(
        agreed.lines().filter(|l| l.contains("\tA\t")).count(),
        // 48 VMs left, each with an interface name and a VM name, plus the ns glue.
        48 * 2 + 1,
        "{agreed}"
    );

    // One replica dies; the other keeps answering, changes included.
    monitor_a.kill();
    vmis.set_interfaces("lab", "vm-2", &[("data", &["10.20.9.2"])])
        .await;
    monitor_b.wait_for_zone("the change after a's death", |z| {
        z.get(&fqdn("data.vm-2.lab"), "A") == ["10.20.9.2"]
    });
    if let Some(coredns) = &coredns_b {
        let response = coredns.wait_for_answer(&fqdn("data.vm-2.lab"), "A", &["10.20.9.2"]);
        assert!(response.is_authoritative(), "{}", response.text);
        coredns.wait_for_answer(&fqdn("vm-1.blue-team"), "A", &["10.20.2.1"]);
    }
}

/// Every version of every zone file a monitor writes, as read by polling its
/// directory: (file, serial) → the distinct texts seen with that serial.
type Versions = std::collections::BTreeMap<(String, u32), Vec<String>>;

/// Polls `dir` every 10 ms until `stop`, recording each zone file's versions.
fn record_versions(
    dir: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Versions> {
    std::thread::spawn(move || {
        let mut versions = Versions::new();
        while !stop.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue; // replaced or removed between the listing and the read
                };
                let origin = format!("{}.", name.trim_start_matches("db."));
                let serial = zone_manager::parsed::ParsedZone::parse(&text, &origin).serial;
                let texts = versions.entry((name, serial)).or_default();
                if !texts.contains(&text) {
                    texts.push(text);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        versions
    })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn replicas_batching_one_stream_differently_never_give_one_serial_two_contents() {
    let cluster = Cluster::start();
    let vmis = Vmis::connect(&cluster).await;
    vmis.create_namespace("lab").await;
    vmis.create("lab", "web", &["data"]).await;
    vmis.set_interfaces("lab", "web", &[("data", &["10.40.0.0"])])
        .await;
    let kubeconfig = cluster.kubeconfig("monitor");
    let (zones_a, zones_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let recorders =
        [&zones_a, &zones_b].map(|dir| record_versions(dir.path().to_path_buf(), stop.clone()));
    // Different debounce windows and caps, started 0.7 s apart: the two never
    // batch the stream alike.
    let layout = [
        ("ZONE_LAYOUT", "namespace"),
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
    ];
    let batching_a = [
        ("DEBOUNCE_WINDOW_MS", "100"),
        ("DEBOUNCE_MAX_DELAY_MS", "300"),
    ];
    let batching_b = [
        ("DEBOUNCE_WINDOW_MS", "400"),
        ("DEBOUNCE_MAX_DELAY_MS", "2000"),
    ];
    let monitor_a = Monitor::spawn(
        zones_a.path(),
        &[&layout[..], &batching_a].concat(),
        &[] as &[&OsStr],
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let monitor_b = Monitor::spawn(
        zones_b.path(),
        &[&layout[..], &batching_b].concat(),
        &[] as &[&OsStr],
    );

    // One VMI changes every 150 ms for 20 s.
    for change in 1..=133u32 {
        let ip = format!("10.40.{}.{}", change / 200, change % 200);
        vmis.set_interfaces("lab", "web", &[("data", &[ip.as_str()])])
            .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let both_final = || {
        let read =
            |dir: &TempDir| std::fs::read_to_string(dir.path().join("db.lab.vm.example.com")).ok();
        let (a, b) = (read(&zones_a)?, read(&zones_b)?);
        (a == b && a.contains("10.40.0.133")).then_some(a)
    };
    let final_zone = wait_until(
        "both replicas at the last change, byte for byte",
        || format!("a:\n{}\nb:\n{}", monitor_a.log(), monitor_b.log()),
        both_final,
    );
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let [a, b] = recorders.map(|recorder| recorder.join().unwrap());

    let mut all = a.clone();
    for (version, texts) in &b {
        let seen = all.entry(version.clone()).or_default();
        for text in texts {
            if !seen.contains(text) {
                seen.push(text.clone());
            }
        }
    }
    let clashes: Vec<_> = all.iter().filter(|(_, texts)| texts.len() > 1).collect();
    assert!(clashes.is_empty(), "one serial, two contents: {clashes:#?}");
    // Not vacuous: the replicas wrote many versions, and shared many serials.
    let shared = a.keys().filter(|version| b.contains_key(*version)).count();
    assert!(
        a.len() >= 20 && b.len() >= 5,
        "versions: a {}, b {}",
        a.len(),
        b.len()
    );
    assert!(shared >= 5, "serials both wrote: {shared}");
    eprintln!(
        "versions written: a {}, b {}; serials both wrote: {shared}",
        a.len(),
        b.len()
    );
    assert!(final_zone.contains("10.40.0.133"));
    // The ledger is the shipped Role's ConfigMaps, in the monitor's namespace.
    let out = cluster.kubectl_ok(&["-n", "kubevirt-dns", "get", "configmaps", "-o", "name"]);
    assert!(out.contains("configmap/kubevirt-dns-serials-"), "{out}");
}
