//! Coalescing: 10k status events for 10k VMs arriving within one debounce window
//! give at most 3 zone writes (in practice one). A count, not a timing.
//! `make bench` runs it with --nocapture to report the figures.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use std::sync::Arc;
use std::time::{Duration, Instant};

use status_monitor::metrics::Metrics;
use status_monitor::output::zone::ZoneOutput;
use status_monitor::output::zone::debounce::Debouncer;
use status_monitor::readiness::Readiness;
use status_monitor::source::SourceEvent;
use status_monitor::vmi::VmiRef;
use tokio::sync::{mpsc, oneshot};
use zone_manager::{InterfaceAddresses, Label, Origin, VmAddresses, ZoneManager, ZoneSettings};

const EVENTS: u32 = 10_000;
/// Wide enough that 10k events sent back to back always fit in it, even on a
/// loaded CI machine; the debounce logic is the same at any width.
const WINDOW: Duration = Duration::from_secs(1);

fn vm(i: u32) -> VmAddresses {
    let label = |s: &str| Label::new(s).unwrap();
    let [_, _, b, c] = i.to_be_bytes();
    VmAddresses::new(
        label("burst"),
        label(&format!("vm-{i}")),
        [InterfaceAddresses::new(
            label("data"),
            [std::net::IpAddr::from([10, 9, b, c])],
        )],
    )
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_events_in_one_window_give_at_most_three_writes() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ZoneSettings::new(Origin::for_domain("example.com").unwrap());
    let manager = ZoneManager::open(settings, dir.path()).unwrap();
    let metrics = Arc::new(Metrics::new());
    let pipeline = ZoneOutput::new(
        manager,
        Debouncer::new(WINDOW, WINDOW * 5),
        metrics.clone(),
        Readiness::default(),
    );
    let (events, receiver) = mpsc::channel(1024);
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(pipeline.run(receiver, async {
        let _ = stopped.await;
    }));
    let writes = || {
        metrics
            .encode()
            .lines()
            .find_map(|l| {
                l.strip_prefix("kubevirt_dns_zone_writes_total{result=\"success\"} ")?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };

    events.send(SourceEvent::resync(Vec::new())).await.unwrap();
    wait_for("the initial zone", || writes() == 1).await;

    let started = Instant::now();
    for i in 0..EVENTS {
        let vmi = VmiRef::new(Some("burst"), Some(&format!("vm-{i}")));
        events
            .send(SourceEvent::Apply {
                vmi,
                vm: Some(vm(i)),
                metadata: None,
            })
            .await
            .unwrap();
    }
    let sending = started.elapsed();
    assert!(
        sending < WINDOW,
        "the burst must arrive within one window to mean anything ({sending:?})"
    );
    wait_for("all VMs in the zone", || {
        metrics.vms_published.get() == i64::from(EVENTS)
    })
    .await;
    let burst_writes = writes() - 1;
    println!(
        "burst: {EVENTS} events sent in {:.1} ms, zone complete after {:.0} ms (window {} ms), {burst_writes} zone write(s)",
        sending.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3,
        WINDOW.as_millis()
    );
    assert!(burst_writes <= 3, "{burst_writes} writes for one burst");
    assert!(burst_writes >= 1);

    stop.send(()).unwrap();
    running.await.unwrap();
}
