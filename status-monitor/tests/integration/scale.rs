//! Scale on a real API server.

use super::*;

/// Scale on a real API server: SCALE_VMIS VMIs (default 500; `make scale` uses
/// 5000) with statuses exist before status-monitor starts; reports the time to
/// the first complete zone and the monitor's peak RSS.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs etcd and kube-apiserver: run `make integration`"]
async fn scale_time_to_first_complete_zone_and_memory() {
    let count: usize = std::env::var("SCALE_VMIS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let s = Setup::new().await;
    let namespaces: Vec<String> = (0..20).map(|i| format!("scale-{i}")).collect();
    for ns in &namespaces {
        s.vmis.create_namespace(ns).await;
    }
    let created = std::time::Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(32, |i| {
            let (vmis, ns) = (&s.vmis, &namespaces[i % namespaces.len()]);
            async move {
                let name = format!("vm-{i}");
                let v4 = format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
                let v6 = format!("fd00::{:x}", i + 1);
                vmis.create(ns, &name, &["data"]).await;
                vmis.set_interfaces(ns, &name, &[("data", &[v4.as_str(), v6.as_str()])])
                    .await;
            }
        })
        .await;
    let creating = created.elapsed();

    let started = std::time::Instant::now();
    let monitor = s.start_monitor();
    // A, AAAA for the VM and for its interface, plus the ns glue.
    let zone = monitor.wait_for_zone("the complete zone", |z| {
        z.address_owners().len() == 4 * count + 1
    });
    let first_zone = started.elapsed();
    assert_eq!(
        monitor.zone_writes(),
        1.0,
        "the first zone is the complete one"
    );
    assert_eq!(
        zone.get(
            &fqdn(&format!("data.vm-{}.scale-{}", count - 1, (count - 1) % 20)),
            "A"
        )
        .len(),
        1
    );
    let rss = monitor.peak_rss_kib();
    println!(
        "scale: {count} VMIs created in {:.1} s; status-monitor: first complete zone after {:.2} s, peak RSS {:.1} MiB",
        creating.as_secs_f64(),
        first_zone.as_secs_f64(),
        rss as f64 / 1024.0
    );
}
