//! Prometheus metrics, served at `/metrics` in the text exposition format.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use zone_manager::{Publication, Published, RecordCounts, RecordType};

const PREFIX: &str = "kubevirt_dns";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointWriteLabels {
    pub operation: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Every metric the monitor exports. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    pub vmis_known: Gauge,
    pub vms_published: Gauge,
    pub records: Family<TypeLabel, Gauge>,
    pub zone_writes: Family<ResultLabel, Counter>,
    pub zone_files: Gauge,
    pub zone_file_writes: Family<KindLabel, Counter>,
    pub publish_duration: Histogram,
    pub watch_restarts: Counter,
    pub watch_errors: Counter,
    pub skipped: Family<ReasonLabel, Counter>,
    pub serial: Gauge<i64, AtomicI64>,
    pub last_write: Gauge<f64, AtomicU64>,
    pub zone_rewrites_after_tampering: Counter,
    pub endpoint_writes: Family<EndpointWriteLabels, Counter>,
    pub notifies: Family<ResultLabel, Counter>,
    change_to_served: Histogram,
    zones_unserved: Gauge,
    unserved_for: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let m = Self {
            vmis_known: Gauge::default(),
            vms_published: Gauge::default(),
            records: Family::default(),
            zone_writes: Family::default(),
            zone_files: Gauge::default(),
            zone_file_writes: Family::default(),
            // 100 µs to ~13 s.
            publish_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            watch_restarts: Counter::default(),
            watch_errors: Counter::default(),
            skipped: Family::default(),
            serial: Gauge::default(),
            last_write: Gauge::default(),
            zone_rewrites_after_tampering: Counter::default(),
            endpoint_writes: Family::default(),
            notifies: Family::default(),
            // 50 ms to ~7 min.
            change_to_served: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            zones_unserved: Gauge::default(),
            unserved_for: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "vmis_known",
            "VirtualMachineInstances currently known from the source",
            m.vmis_known.clone(),
        );
        registry.register(
            "vms_published",
            "VMs with at least one record in the zone",
            m.vms_published.clone(),
        );
        registry.register(
            "zone_records",
            "Records in the zones, by type (PTR: all reverse zones together)",
            m.records.clone(),
        );
        registry.register(
            "zone_writes",
            "Zone file writes, by result",
            m.zone_writes.clone(),
        );
        registry.register(
            "zone_files",
            "Zone files status-monitor keeps: vm.<DOMAIN>, the namespace zones, the reverse zones and the catalog",
            m.zone_files.clone(),
        );
        registry.register(
            "zone_file_writes",
            "Zone files written, by kind: parent (vm.<DOMAIN>, the only forward zone with ZONE_LAYOUT=single), namespace, reverse or catalog",
            m.zone_file_writes.clone(),
        );
        registry.register(
            "zone_publish_duration_seconds",
            "Time to render and atomically write the zone",
            m.publish_duration.clone(),
        );
        registry.register(
            "watch_restarts",
            "Relists of the VMI watch after the first list",
            m.watch_restarts.clone(),
        );
        registry.register(
            "watch_errors",
            "Errors of the VMI watch, each retried with backoff",
            m.watch_errors.clone(),
        );
        registry.register(
            "objects_skipped",
            "VMIs or interfaces left out of the zone, by reason",
            m.skipped.clone(),
        );
        registry.register(
            "zone_serial",
            "SOA serial of the zone on disk",
            m.serial.clone(),
        );
        registry.register(
            "zone_last_write_timestamp_seconds",
            "Unix time of the last successful zone write",
            m.last_write.clone(),
        );
        registry.register(
            "zone_restored",
            "Zone files rewritten because someone removed or changed them",
            m.zone_rewrites_after_tampering.clone(),
        );
        registry.register(
            "dnsendpoint_writes",
            "DNSEndpoint applies and deletes (DNS_ENDPOINTS=true), by operation and result",
            m.endpoint_writes.clone(),
        );
        registry.register(
            "notifies",
            "NOTIFY messages to the secondaries of NOTIFY_SECONDARIES, by result: accepted, refused (any other answer) or unanswered (after every retry)",
            m.notifies.clone(),
        );
        registry.register(
            "change_to_served_seconds",
            "From a change reaching status-monitor to the DNS server beside it (LOCAL_DNS_ADDR) serving the zone's new serial",
            m.change_to_served.clone(),
        );
        registry.register(
            "zones_unserved",
            "Zones written whose serial the DNS server beside status-monitor does not serve yet",
            m.zones_unserved.clone(),
        );
        registry.register(
            "zones_unserved_oldest_seconds",
            "How long the oldest of the zones not served yet has waited (0: none waits)",
            m.unserved_for.clone(),
        );
        // Every result of these from the start, at 0: alerts and dashboards
        // see a series before the first failure.
        for result in ["success", "failure"] {
            let _ = m.zone_writes.get_or_create(&ResultLabel { result });
        }
        for result in ["accepted", "refused", "unanswered"] {
            let _ = m.notifies.get_or_create(&ResultLabel { result });
        }
        Self { registry, ..m }
    }

    /// A change was served `after` it reached status-monitor.
    pub fn change_served(&self, after: Duration) {
        self.change_to_served.observe(after.as_secs_f64());
    }

    pub fn zones_unserved(&self, zones: usize, oldest: Duration) {
        self.zones_unserved.set(zones as i64);
        self.unserved_for.set(oldest.as_secs_f64());
    }

    pub fn notify(&self, result: &'static str) {
        self.notifies.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn endpoint_write(&self, operation: &'static str, result: &'static str) {
        self.endpoint_writes
            .get_or_create(&EndpointWriteLabels { operation, result })
            .inc();
    }

    pub fn skip(&self, reason: &'static str) {
        self.skipped.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn write_failed(&self) {
        self.zone_writes
            .get_or_create(&ResultLabel { result: "failure" })
            .inc();
    }

    /// A zone reached the disk (or was found there, identical).
    pub fn zone_on_disk(
        &self,
        serial: u32,
        records: RecordCounts,
        ptr: usize,
        vms: usize,
        wrote: bool,
        took: Duration,
    ) {
        if wrote {
            self.zone_writes
                .get_or_create(&ResultLabel { result: "success" })
                .inc();
            self.publish_duration.observe(took.as_secs_f64());
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.last_write.set(now.as_secs_f64());
        }
        self.serial.set(i64::from(serial));
        // The VMs' records; the zones' own SOA and NS are not counted, and
        // PTRs come from the reverse zones.
        for (record_type, count) in records.iter() {
            if !matches!(
                record_type,
                RecordType::Soa | RecordType::Ns | RecordType::Ptr
            ) {
                self.records
                    .get_or_create(&TypeLabel {
                        r#type: record_type.as_str(),
                    })
                    .set(count as i64);
            }
        }
        self.records
            .get_or_create(&TypeLabel { r#type: "PTR" })
            .set(ptr as i64);
        self.vms_published.set(vms as i64);
    }

    /// What one publish wrote, by zone kind, and how many zone files there are.
    pub fn zone_files_written(&self, publication: &Publication, files: usize) {
        let written = |outcome: &Published| matches!(outcome, Published::Written { .. });
        let kinds = [
            ("parent", usize::from(written(&publication.forward))),
            (
                "namespace",
                publication
                    .namespaces
                    .iter()
                    .filter(|(_, p)| written(p))
                    .count(),
            ),
            (
                "reverse",
                publication
                    .reverse
                    .iter()
                    .filter(|(_, p)| written(p))
                    .count(),
            ),
            (
                "catalog",
                publication
                    .catalog
                    .iter()
                    .filter(|(_, p)| written(p))
                    .count(),
            ),
        ];
        for (kind, count) in kinds {
            self.zone_file_writes
                .get_or_create(&KindLabel { kind })
                .inc_by(count as u64);
        }
        self.zone_files.set(files as i64);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
