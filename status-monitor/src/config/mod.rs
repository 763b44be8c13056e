//! Configuration from environment variables (read with envy). A bad value stops
//! startup with a message naming the variable.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use kube::core::Selector;

use crate::projection::Rules;
use crate::readiness::ReadyWhen;
use environment::Environment;
use values::{check_catalog_zone, check_zones_dir, invalid};
use zone_manager::{NamespaceZoneLimit, Origin, ReversePrefix, ZoneLayout, ZoneSettings, ZonesDir};

mod environment;
mod values;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// envy's own message names the variable and the value.
    #[error("invalid configuration: {0}")]
    Env(#[from] envy::Error),
    #[error("invalid configuration: {variable}={value:?}: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid configuration: {} cannot be used with {}: {reason}", settings[0], settings[1])]
    Conflict {
        settings: [&'static str; 2],
        reason: &'static str,
    },
}

/// Whose addresses are published (`ADDRESS_SOURCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddressSource {
    /// Whatever the VMI status reports, guest agent included.
    #[default]
    Any,
    /// Only what the network layer (CNI, through Multus' network-status on the
    /// virt-launcher pod) assigned; needs get/list/watch on pods.
    Network,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub zone: ZoneSettings,
    /// `ZONES_DIR`, and `STAGING_DIR` where files are staged (ZONES_DIR itself
    /// when unset).
    pub zones_dir: ZonesDir,
    pub log_format: LogFormat,
    /// `/healthz`, `/readyz` and `/metrics`.
    pub http_addr: ListenAddress,
    /// Publish this long after the last change of a burst...
    pub debounce_window: Duration,
    /// ...but no later than this after its first change.
    pub debounce_max_delay: Duration,
    /// `READY_DELAY_MS`: without a DNS server to ask (`LOCAL_DNS_ADDR`
    /// empty), `/readyz` waits this long after the first complete zone is on
    /// disk, for a server that loads it on its own schedule.
    pub ready_delay: Duration,
    pub address_source: AddressSource,
    /// `REVERSE_ZONES`: one PTR zone per prefix.
    pub reverse_zones: Vec<ReversePrefix>,
    /// `ZONE_LAYOUT`: a zone per namespace (the default), or one zone.
    pub zone_layout: ZoneLayout,
    /// `NAMESPACE_ZONES_MAX`: with `ZONE_LAYOUT=namespace`, only this many
    /// namespaces (the largest) get zones of their own; `None` for no limit.
    pub namespace_zones_max: NamespaceZoneLimit,
    /// `CATALOG_ZONE`: the RFC 9432 catalog of every zone written, for
    /// secondaries that follow catalogs; `None` when empty.
    pub catalog_zone: Option<Origin>,
    /// Where and how to tell secondaries that a zone changed.
    pub notify: NotifySettings,
    /// `DNS_ENDPOINTS=true`: the external-dns DNSEndpoint sink.
    pub dns_endpoints: Option<DnsEndpointSettings>,
    /// `VMI_LABEL_SELECTOR`: only the VMIs it selects are published.
    pub vmi_selector: Option<Selector>,
    /// `VMI_SOURCE_DIR` (or `--source-dir`): read VMIs from manifests there
    /// instead of the Kubernetes API.
    pub source_dir: Option<PathBuf>,
    /// `SERIAL_LEDGER`: the prefix of the ConfigMaps, in status-monitor's
    /// namespace, that the replicas take serials from; `None` (set empty)
    /// for serials from this process's clock. Unused with manifests.
    pub serial_ledger: Option<String>,
}

/// Two settings that cannot be used together, declared once: [`Config`]
/// checks every pair after reading the environment and the command line.
struct Conflict {
    settings: [&'static str; 2],
    applies: fn(&Config) -> bool,
    reason: &'static str,
}

const CONFLICTS: [Conflict; 4] = [
    // BIND refuses a zone without NS ("has no NS records"), and NS needs glue.
    Conflict {
        settings: ["NOTIFY_SECONDARIES", "an empty NAME_SERVER_IP"],
        applies: |c| !c.notify.secondaries.is_empty() && c.zone.name_servers().is_empty(),
        reason: "secondaries refuse zones without NS records; set NAME_SERVER_IP to the addresses they transfer from",
    },
    Conflict {
        settings: ["CATALOG_ZONE", "an empty NAME_SERVER_IP"],
        applies: |c| c.catalog_zone.is_some() && c.zone.name_servers().is_empty(),
        reason: "secondaries refuse zones without NS records; set NAME_SERVER_IP to the addresses they transfer from",
    },
    Conflict {
        settings: ["VMI_SOURCE_DIR (--source-dir)", "ADDRESS_SOURCE=network"],
        applies: |c| c.source_dir.is_some() && c.address_source == AddressSource::Network,
        reason: "ADDRESS_SOURCE=network needs the virt-launcher pods of the Kubernetes API; manifests have none",
    },
    Conflict {
        settings: ["VMI_SOURCE_DIR (--source-dir)", "DNS_ENDPOINTS=true"],
        applies: |c| c.source_dir.is_some() && c.dns_endpoints.is_some(),
        reason: "DNS_ENDPOINTS=true writes DNSEndpoints to the Kubernetes API; it cannot run with --source-dir",
    },
];

/// Where the HTTP endpoints listen (`HTTP_ADDR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:port`: every interface of both families (IPv6-only clusters too), or
    /// every IPv4 one where the kernel has no IPv6.
    AllInterfaces { port: u16 },
    /// `host:port` or `[v6]:port`: exactly there.
    Socket(SocketAddr),
}

impl ListenAddress {
    pub fn port(&self) -> u16 {
        match self {
            Self::AllInterfaces { port } => *port,
            Self::Socket(address) => address.port(),
        }
    }
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AllInterfaces { port } => write!(f, ":{port}"),
            Self::Socket(address) => address.fmt(f),
        }
    }
}

/// `NOTIFY_SECONDARIES` and `LOCAL_DNS_ADDR`: after each write, once the DNS
/// server beside status-monitor serves the new serial, a NOTIFY (RFC 1996)
/// goes to every secondary. The same server's serials make the pod ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySettings {
    /// Empty: no NOTIFY is sent.
    pub secondaries: Vec<SocketAddr>,
    /// The DNS server (CoreDNS in the same pod) asked for each zone's serial;
    /// `None` (set empty): none, so a written zone counts as served.
    pub local_dns: Option<SocketAddr>,
}

/// How the DNSEndpoint sink behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsEndpointSettings {
    /// `DNS_ENDPOINTS_KEEP_WITHOUT_ADDRESSES`: while an annotated VMI has no
    /// address (rebooting, migrating), keep its DNSEndpoint as it is (default)
    /// instead of deleting it.
    pub keep_without_addresses: bool,
}

impl Config {
    /// A few thousand zone files is where CoreDNS's reload checks start to
    /// crowd out its queries (docs/performance.md).
    pub const DEFAULT_NAMESPACE_ZONES_MAX: NamespaceZoneLimit = NonZeroUsize::new(2000);
    pub const DEFAULT_DEBOUNCE_WINDOW: Duration = Duration::from_millis(200);
    pub const DEFAULT_DEBOUNCE_MAX_DELAY: Duration = Duration::from_secs(2);
}

impl Config {
    /// What the projection needs of the configuration.
    pub fn projection_rules(&self) -> Rules {
        Rules {
            selector: self.vmi_selector.clone(),
            // Guest-reported addresses by MAC only where guests are trusted.
            addresses_by_mac: self.address_source == AddressSource::Any,
        }
    }

    /// When `/readyz` turns 200: once the DNS server beside status-monitor
    /// serves the zones, or after `READY_DELAY_MS` when there is none to ask.
    pub fn ready_when(&self) -> ReadyWhen {
        match self.notify.local_dns {
            Some(_) => ReadyWhen::Served,
            None => ReadyWhen::OnDiskFor(self.ready_delay),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// `--source-dir` given on the command line, over `VMI_SOURCE_DIR`; the
    /// combination is checked again.
    pub fn with_source_dir(mut self, dir: Option<PathBuf>) -> Result<Self, ConfigError> {
        if dir.is_some() {
            self.source_dir = dir;
        }
        self.check_conflicts()?;
        Ok(self)
    }

    fn check_conflicts(&self) -> Result<(), ConfigError> {
        match CONFLICTS.iter().find(|conflict| (conflict.applies)(self)) {
            None => Ok(()),
            Some(conflict) => Err(ConfigError::Conflict {
                settings: conflict.settings,
                reason: conflict.reason,
            }),
        }
    }

    /// The configuration from `vars`, as from the environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::try_from(envy::from_iter::<_, Environment>(vars)?)
    }
}

/// The variables, each already typed, put together and checked against
/// each other.
impl TryFrom<Environment> for Config {
    type Error = ConfigError;

    fn try_from(env: Environment) -> Result<Self, ConfigError> {
        let mut zone = ZoneSettings::new(env.domain.get());
        if let Some(rname) = env.soa_rname.get() {
            zone.rname = rname;
        }
        zone.set_name_servers(env.name_server_ip.get());
        let timers = [
            (env.record_ttl.get(), &mut zone.record_ttl),
            (env.soa_refresh.get(), &mut zone.refresh),
            (env.soa_retry.get(), &mut zone.retry),
            (env.soa_expire.get(), &mut zone.expire),
            (env.soa_negative_ttl.get(), &mut zone.negative_ttl),
        ];
        for (value, field) in timers {
            if let Some(value) = value {
                *field = value;
            }
        }
        let debounce_window = env.debounce_window_ms.get();
        let debounce_max_delay = env.debounce_max_delay_ms.get();
        if debounce_max_delay < debounce_window {
            return Err(invalid(
                "DEBOUNCE_MAX_DELAY_MS",
                &debounce_max_delay.as_millis().to_string(),
                "must not be shorter than DEBOUNCE_WINDOW_MS",
            ));
        }
        let reverse_zones = env.reverse_zones.get();
        let catalog_zone = check_catalog_zone(env.catalog_zone.get(), &zone, &reverse_zones)?;
        let keep_without_addresses = env.dns_endpoints_keep_without_addresses.get();
        let config = Self {
            zones_dir: check_zones_dir(env.zones_dir.get(), env.staging_dir.get())?,
            zone,
            log_format: env.log_format.get(),
            http_addr: env.http_addr.get(),
            debounce_window,
            debounce_max_delay,
            ready_delay: env.ready_delay_ms.get(),
            address_source: env.address_source.get(),
            reverse_zones,
            zone_layout: env.zone_layout.get(),
            namespace_zones_max: env.namespace_zones_max.get(),
            catalog_zone,
            notify: NotifySettings {
                secondaries: env.notify_secondaries.get(),
                local_dns: env.local_dns_addr.get(),
            },
            dns_endpoints: env.dns_endpoints.get().then_some(DnsEndpointSettings {
                keep_without_addresses,
            }),
            vmi_selector: env.vmi_label_selector.get(),
            source_dir: env.vmi_source_dir.get(),
            serial_ledger: env.serial_ledger.get(),
        };
        config.check_conflicts()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn error(vars: &[(&str, &str)]) -> String {
        config(vars).expect_err("should be rejected").to_string()
    }

    #[test]
    fn conflicting_settings_stop_startup_naming_both() {
        let e = error(&[("VMI_SOURCE_DIR", "/vmis"), ("ADDRESS_SOURCE", "network")]);
        assert!(
            e.contains("VMI_SOURCE_DIR") && e.contains("ADDRESS_SOURCE=network"),
            "{e}"
        );
        let e = error(&[("VMI_SOURCE_DIR", "/vmis"), ("DNS_ENDPOINTS", "true")]);
        assert!(e.contains("DNS_ENDPOINTS=true"), "{e}");
        // The command line's directory is checked the same way.
        let network = config(&[("ADDRESS_SOURCE", "network")]).unwrap();
        assert!(network.with_source_dir(Some("/vmis".into())).is_err());
        let plain = config(&[("VMI_SOURCE_DIR", "/vmis")]).unwrap();
        assert_eq!(plain.source_dir, Some(PathBuf::from("/vmis")));
        let overridden = plain.with_source_dir(Some("/other".into())).unwrap();
        assert_eq!(overridden.source_dir, Some(PathBuf::from("/other")));
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.zone.origin.to_string(), "vm.");
        assert_eq!(c.zones_dir, ZonesDir::new("/zones"));
        assert_eq!(c.zone.record_ttl, 30);
        assert_eq!(c.zone.negative_ttl, 10);
        assert!(c.zone.name_servers().is_empty());
        assert_eq!(c.zone.rname.to_string(), "hostmaster.vm.");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.http_addr, ListenAddress::AllInterfaces { port: 8081 });
        assert_eq!(c.debounce_window, Duration::from_millis(200));
        assert_eq!(c.debounce_max_delay, Duration::from_secs(2));
        assert_eq!(c.address_source, AddressSource::Any);
        assert_eq!(c.reverse_zones, []);
        assert_eq!(c.zone_layout, ZoneLayout::Namespace);
        assert_eq!(c.dns_endpoints, None);
    }

    #[test]
    fn zone_layout_is_namespace_or_single() {
        let single = config(&[("ZONE_LAYOUT", "single")]).unwrap();
        assert_eq!(single.zone_layout, ZoneLayout::Single);
        let e = error(&[("ZONE_LAYOUT", "per-namespace")]);
        assert!(
            e.contains("ZONE_LAYOUT") && e.contains("namespace or single"),
            "{e}"
        );
    }

    #[test]
    fn namespace_zones_max_is_a_count_and_0_lifts_the_limit() {
        assert_eq!(
            config(&[]).unwrap().namespace_zones_max,
            NonZeroUsize::new(2000)
        );
        let c = config(&[("NAMESPACE_ZONES_MAX", "300")]).unwrap();
        assert_eq!(c.namespace_zones_max, NonZeroUsize::new(300));
        assert_eq!(
            config(&[("NAMESPACE_ZONES_MAX", "0")])
                .unwrap()
                .namespace_zones_max,
            None
        );
        let e = error(&[("NAMESPACE_ZONES_MAX", "lots")]);
        assert!(
            e.contains("NAMESPACE_ZONES_MAX") && e.contains("0 for no limit"),
            "{e}"
        );
    }

    #[test]
    fn catalog_zone_is_any_name_outside_the_zones_it_lists() {
        assert_eq!(config(&[]).unwrap().catalog_zone, None);
        let c = config(&[
            ("DOMAIN", "example.com"),
            ("CATALOG_ZONE", "Catalog.Example.com."),
            ("NAME_SERVER_IP", "192.0.2.53"),
        ])
        .unwrap();
        assert_eq!(c.catalog_zone.unwrap().to_string(), "catalog.example.com.");
        for (bad, reason) in [
            ("cat_alog.example.com", "'_'"),
            ("a..b", "is empty"),
            ("vm.example.com", "at or below vm.example.com."),
            ("catalog.vm.example.com", "at or below vm.example.com."),
            ("x.10.10.in-addr.arpa", "at or below 10.10.in-addr.arpa."),
        ] {
            let e = error(&[
                ("DOMAIN", "example.com"),
                ("REVERSE_ZONES", "10.10.0.0/16"),
                ("CATALOG_ZONE", bad),
            ]);
            assert!(
                e.contains("CATALOG_ZONE") && e.contains(reason),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn secondaries_need_name_servers_for_the_ns_records_they_require() {
        for (variable, value) in [
            ("NOTIFY_SECONDARIES", "192.0.2.10"),
            ("CATALOG_ZONE", "catalog.example.com"),
        ] {
            let e = error(&[(variable, value)]);
            assert!(e.contains(variable) && e.contains("NAME_SERVER_IP"), "{e}");
            config(&[(variable, value), ("NAME_SERVER_IP", "192.0.2.53")]).unwrap();
        }
    }

    #[test]
    fn the_pod_is_ready_when_its_dns_server_serves_the_zones_unless_there_is_none() {
        assert_eq!(config(&[]).unwrap().ready_when(), ReadyWhen::Served);
        let c = config(&[("LOCAL_DNS_ADDR", ""), ("READY_DELAY_MS", "250")]).unwrap();
        assert_eq!(c.notify.local_dns, None);
        assert_eq!(
            c.ready_when(),
            ReadyWhen::OnDiskFor(Duration::from_millis(250))
        );
    }

    #[test]
    fn notify_secondaries_are_addresses_with_port_53_by_default() {
        let c = config(&[]).unwrap();
        assert!(c.notify.secondaries.is_empty());
        assert_eq!(c.notify.local_dns, Some("127.0.0.1:5353".parse().unwrap()));
        let c = config(&[
            ("NAME_SERVER_IP", "192.0.2.53"),
            (
                "NOTIFY_SECONDARIES",
                " 192.0.2.10, [2001:db8::10]:5300,2001:db8::11 ,192.0.2.10:53",
            ),
            ("LOCAL_DNS_ADDR", "[::1]:5353"),
        ])
        .unwrap();
        let expected: Vec<SocketAddr> =
            ["192.0.2.10:53", "[2001:db8::10]:5300", "[2001:db8::11]:53"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect();
        assert_eq!(c.notify.secondaries, expected, "duplicates dropped");
        assert_eq!(c.notify.local_dns, Some("[::1]:5353".parse().unwrap()));
        for bad in [
            "dns.example.com",
            "192.0.2.300",
            "192.0.2.10:0",
            "192.0.2.10:99999",
            "2001:db8::10:53x",
        ] {
            let e = error(&[("NOTIFY_SECONDARIES", bad)]);
            assert!(
                e.contains("NOTIFY_SECONDARIES") && e.contains(bad),
                "{bad}: {e}"
            );
        }
        let e = error(&[("LOCAL_DNS_ADDR", "localhost:5353")]);
        assert!(e.contains("LOCAL_DNS_ADDR"), "{e}");
    }

    #[test]
    fn a_staging_directory_inside_the_zones_directory_is_refused() {
        for inside in [
            "/zones/.staging",
            "/zones",
            "/zones/./x/../",
            "/a/../zones/s",
        ] {
            let e = error(&[("ZONES_DIR", "/zones"), ("STAGING_DIR", inside)]);
            assert!(
                e.contains("STAGING_DIR") && e.contains("inside ZONES_DIR"),
                "{inside}: {e}"
            );
        }
        let sibling = config(&[
            ("ZONES_DIR", "/data/zones"),
            ("STAGING_DIR", "/data/zones-staging"),
        ]);
        assert_eq!(
            sibling.unwrap().zones_dir,
            ZonesDir::new("/data/zones").staging_in("/data/zones-staging")
        );
        let unset = config(&[("ZONES_DIR", "/zones"), ("STAGING_DIR", "")]).unwrap();
        assert_eq!(unset.zones_dir, ZonesDir::new("/zones"));
    }

    #[test]
    fn serials_come_from_the_ledger_unless_it_is_turned_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.serial_ledger.as_deref(), Some("kubevirt-dns-serials"));
        assert_eq!(
            config(&[("SERIAL_LEDGER", "")]).unwrap().serial_ledger,
            None
        );
        for bad in ["Serials", "-serials", "serials.", &"s".repeat(62)] {
            let e = error(&[("SERIAL_LEDGER", bad)]);
            assert!(e.contains("SERIAL_LEDGER"), "{e}");
        }
    }

    #[test]
    fn reads_every_variable() {
        let c = config(&[
            ("DOMAIN", "example.com."),
            ("NAME_SERVER_IP", "2001:db8::53"),
            ("ZONES_DIR", "/tmp/z"),
            ("STAGING_DIR", "/tmp/staging"),
            ("SOA_RNAME", "dns@example.com"),
            ("RECORD_TTL", "60"),
            ("SOA_REFRESH", "1"),
            ("SOA_RETRY", "2"),
            ("SOA_EXPIRE", "3"),
            ("SOA_NEGATIVE_TTL", "4"),
            ("LOG_FORMAT", "json"),
            ("HTTP_ADDR", "[::1]:9000"),
            ("DEBOUNCE_WINDOW_MS", "50"),
            ("DEBOUNCE_MAX_DELAY_MS", "500"),
            ("ADDRESS_SOURCE", "network"),
            ("REVERSE_ZONES", "10.10.0.0/16, fd00:10::/64"),
            ("DNS_ENDPOINTS", "true"),
            ("DNS_ENDPOINTS_KEEP_WITHOUT_ADDRESSES", "false"),
            ("VMI_LABEL_SELECTOR", "dns=on"),
            ("READY_DELAY_MS", "3000"),
            ("SERIAL_LEDGER", "dns-serials"),
        ])
        .unwrap();
        assert_eq!(c.ready_delay, Duration::from_secs(3));
        assert_eq!(c.serial_ledger.as_deref(), Some("dns-serials"));
        assert_eq!(
            c.vmi_selector.map(|s| s.to_string()).as_deref(),
            Some("dns=on")
        );
        assert_eq!(
            c.reverse_zones,
            ReversePrefix::parse_list("10.10.0.0/16,fd00:10::/64").unwrap()
        );
        assert_eq!(
            c.dns_endpoints,
            Some(DnsEndpointSettings {
                keep_without_addresses: false
            })
        );
        assert_eq!(c.zone.origin.to_string(), "vm.example.com.");
        assert_eq!(
            c.zone.name_servers(),
            ["2001:db8::53".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            c.zones_dir,
            ZonesDir::new("/tmp/z").staging_in("/tmp/staging")
        );
        assert_eq!(c.zone.rname.to_string(), "dns.example.com.");
        let timers = (
            c.zone.record_ttl,
            c.zone.refresh,
            c.zone.retry,
            c.zone.expire,
            c.zone.negative_ttl,
        );
        assert_eq!(timers, (60, 1, 2, 3, 4));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.http_addr,
            ListenAddress::Socket("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            (c.debounce_window, c.debounce_max_delay),
            (Duration::from_millis(50), Duration::from_millis(500))
        );
    }

    #[test]
    fn empty_name_server_ip_from_a_config_map_means_none() {
        let c = config(&[("NAME_SERVER_IP", "")]).unwrap();
        assert!(c.zone.name_servers().is_empty());
    }

    #[test]
    fn several_name_server_addresses_are_canonical_and_deduplicated() {
        let c = config(&[(
            "NAME_SERVER_IP",
            " 2001:db8::53, 192.0.2.54,192.0.2.53 ,192.0.2.54,",
        )])
        .unwrap();
        let expected: Vec<IpAddr> = ["192.0.2.53", "192.0.2.54", "2001:db8::53"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(c.zone.name_servers(), expected);
        let e = error(&[("NAME_SERVER_IP", "192.0.2.53,10.0.0.300")]);
        assert!(
            e.contains("NAME_SERVER_IP")
                && e.contains("\"10.0.0.300\" is not an IPv4 or IPv6 address"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert!(error(&[("DOMAIN", "bad domain")]).contains("DOMAIN=\"bad domain\""));
        assert!(error(&[("DOMAIN", "a_b.com")]).contains("DOMAIN"));
        assert!(error(&[("NAME_SERVER_IP", "10.0.0.300")]).contains("NAME_SERVER_IP"));
        assert!(error(&[("SOA_RNAME", "not an address")]).contains("SOA_RNAME"));
        assert!(error(&[("RECORD_TTL", "soon")]).contains("RECORD_TTL"));
        assert!(error(&[("SOA_EXPIRE", "4294967295")]).contains("SOA_EXPIRE"));
        assert!(error(&[("LOG_FORMAT", "xml")]).contains("LOG_FORMAT"));
        assert!(error(&[("HTTP_ADDR", "8081")]).contains("HTTP_ADDR"));
        assert!(error(&[("ADDRESS_SOURCE", "guest")]).contains("ADDRESS_SOURCE"));
        assert!(error(&[("HTTP_ADDR", ":http")]).contains("HTTP_ADDR"));
        assert!(error(&[("DEBOUNCE_WINDOW_MS", "fast")]).contains("DEBOUNCE_WINDOW_MS"));
        assert!(error(&[("READY_DELAY_MS", "-1")]).contains("READY_DELAY_MS"));
        let e = error(&[("REVERSE_ZONES", "10.10.0.0/16,10.0.0.0/12")]);
        assert!(
            e.contains("REVERSE_ZONES") && e.contains("/8, /16 or /24"),
            "{e}"
        );
        let e = error(&[("REVERSE_ZONES", "fd00::/62")]);
        assert!(
            e.contains("REVERSE_ZONES") && e.contains("multiple of 4"),
            "{e}"
        );
        assert!(error(&[("DNS_ENDPOINTS", "yes")]).contains("DNS_ENDPOINTS=\"yes\""));
        let e = error(&[
            ("DNS_ENDPOINTS", "true"),
            ("DNS_ENDPOINTS_KEEP_WITHOUT_ADDRESSES", "1"),
        ]);
        assert!(e.contains("DNS_ENDPOINTS_KEEP_WITHOUT_ADDRESSES"), "{e}");
        let e = error(&[("VMI_LABEL_SELECTOR", "dns in (on")]);
        assert!(
            e.contains("VMI_LABEL_SELECTOR") && e.contains("parentheses"),
            "{e}"
        );
        let e = error(&[
            ("DEBOUNCE_WINDOW_MS", "500"),
            ("DEBOUNCE_MAX_DELAY_MS", "100"),
        ]);
        assert!(e.contains("DEBOUNCE_MAX_DELAY_MS"), "{e}");
    }
}
