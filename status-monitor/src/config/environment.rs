//! The environment as envy reads it: one typed field per variable, each read
//! by its [`Variable`]'s parser, so that a bad value fails the read with a
//! message naming the variable. Checks that involve several variables are
//! [`Config`](super::Config)'s.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use kube::core::Selector;
use serde::{Deserialize, Deserializer};
use zone_manager::{Mailbox, NamespaceZoneLimit, Origin, ReversePrefix, ZoneLayout};

use super::values::{
    parse_bool, parse_http_addr, parse_millis, parse_name_servers, parse_optional_path,
    parse_secondaries, parse_seconds, parse_serial_ledger, parse_socket_addr,
};
use super::{AddressSource, Config, ListenAddress, LogFormat};
use crate::projection::selection::parse_selector;

/// One environment variable: its name, its value when unset, and its syntax
/// (an empty value included: ConfigMaps cannot leave a key out).
pub(super) trait Variable {
    const NAME: &'static str;
    type Value;
    fn unset() -> Self::Value;
    fn parse(text: &str) -> Result<Self::Value, String>;
}

/// One variable's value: serde's `default` when it is not set, its parser
/// when it is.
pub(super) struct Var<V: Variable>(V::Value);

impl<V: Variable> Var<V> {
    pub(super) fn get(self) -> V::Value {
        self.0
    }
}

impl<V: Variable> Default for Var<V> {
    fn default() -> Self {
        Self(V::unset())
    }
}

impl<'de, V: Variable> Deserialize<'de> for Var<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        V::parse(text.trim())
            .map(Self)
            .map_err(|reason| serde::de::Error::custom(format!("{}={text:?}: {reason}", V::NAME)))
    }
}

/// Declares every variable, `field: Type("NAME") -> Value = unset, parser;`,
/// and [`Environment`], a field of each.
macro_rules! environment {
    ($($(#[$doc:meta])* $field:ident: $ty:ident($name:literal) -> $value:ty = $unset:expr, $parse:expr;)*) => {
        $(
            $(#[$doc])*
            pub(super) struct $ty;
            impl Variable for $ty {
                const NAME: &'static str = $name;
                type Value = $value;
                fn unset() -> $value {
                    $unset
                }
                fn parse(text: &str) -> Result<$value, String> {
                    $parse(text)
                }
            }
        )*

        /// Every variable, typed: what envy reads.
        #[derive(Deserialize)]
        pub(super) struct Environment {
            $(
                #[serde(default)]
                pub $field: Var<$ty>,
            )*
        }
    };
}

environment! {
    /// `vm.<DOMAIN>` is the forward zone; empty: `vm.`.
    domain: Domain("DOMAIN") -> Origin = Origin::default(),
        |text| Origin::for_domain(text).map_err(|e| e.to_string());
    name_server_ip: NameServerIp("NAME_SERVER_IP") -> Vec<IpAddr> = Vec::new(), parse_name_servers;
    zones_dir: ZonesDir("ZONES_DIR") -> PathBuf = PathBuf::from("/zones"),
        |text: &str| Ok(PathBuf::from(if text.is_empty() { "/zones" } else { text }));
    staging_dir: StagingDir("STAGING_DIR") -> Option<PathBuf> = None, parse_optional_path;
    soa_rname: SoaRname("SOA_RNAME") -> Option<Mailbox> = None,
        |text: &str| (!text.is_empty()).then(|| Mailbox::parse(text).map_err(|e| e.to_string())).transpose();
    record_ttl: RecordTtl("RECORD_TTL") -> Option<u32> = None, parse_seconds;
    soa_refresh: SoaRefresh("SOA_REFRESH") -> Option<u32> = None, parse_seconds;
    soa_retry: SoaRetry("SOA_RETRY") -> Option<u32> = None, parse_seconds;
    soa_expire: SoaExpire("SOA_EXPIRE") -> Option<u32> = None, parse_seconds;
    soa_negative_ttl: SoaNegativeTtl("SOA_NEGATIVE_TTL") -> Option<u32> = None, parse_seconds;
    log_format: LogFormatVar("LOG_FORMAT") -> LogFormat = LogFormat::Text, |text| match text {
        "" | "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".to_owned()),
    };
    http_addr: HttpAddr("HTTP_ADDR") -> ListenAddress = ListenAddress::AllInterfaces { port: 8081 },
        |text| parse_http_addr(text).ok_or_else(|| "expected host:port, [v6]:port or :port".to_owned());
    debounce_window_ms: DebounceWindow("DEBOUNCE_WINDOW_MS") -> Duration = Config::DEFAULT_DEBOUNCE_WINDOW,
        |text| parse_millis(text, Config::DEFAULT_DEBOUNCE_WINDOW);
    debounce_max_delay_ms: DebounceMaxDelay("DEBOUNCE_MAX_DELAY_MS") -> Duration = Config::DEFAULT_DEBOUNCE_MAX_DELAY,
        |text| parse_millis(text, Config::DEFAULT_DEBOUNCE_MAX_DELAY);
    ready_delay_ms: ReadyDelay("READY_DELAY_MS") -> Duration = Duration::ZERO,
        |text| parse_millis(text, Duration::ZERO);
    address_source: AddressSourceVar("ADDRESS_SOURCE") -> AddressSource = AddressSource::Any, |text| match text {
        "" | "any" => Ok(AddressSource::Any),
        "network" => Ok(AddressSource::Network),
        _ => Err("expected any or network".to_owned()),
    };
    reverse_zones: ReverseZones("REVERSE_ZONES") -> Vec<ReversePrefix> = Vec::new(),
        |text| ReversePrefix::parse_list(text).map_err(|e| e.to_string());
    zone_layout: ZoneLayoutVar("ZONE_LAYOUT") -> ZoneLayout = ZoneLayout::Namespace, |text| match text {
        "" | "namespace" => Ok(ZoneLayout::Namespace),
        "single" => Ok(ZoneLayout::Single),
        _ => Err("expected namespace or single".to_owned()),
    };
    /// With `ZONE_LAYOUT=namespace`: only the largest namespaces get zones of
    /// their own; 0 is no limit.
    namespace_zones_max: NamespaceZonesMax("NAMESPACE_ZONES_MAX") -> NamespaceZoneLimit = Config::DEFAULT_NAMESPACE_ZONES_MAX,
        |text: &str| match text {
            "" => Ok(Config::DEFAULT_NAMESPACE_ZONES_MAX),
            text => text
                .parse::<usize>()
                .map(NonZeroUsize::new)
                .map_err(|_| "expected a number of zones, or 0 for no limit".to_owned()),
        };
    /// Checked against the zones it lists by [`Config`].
    catalog_zone: CatalogZone("CATALOG_ZONE") -> Option<Origin> = None,
        |text: &str| (!text.is_empty()).then(|| Origin::parse(text).map_err(|e| e.to_string())).transpose();
    notify_secondaries: NotifySecondaries("NOTIFY_SECONDARIES") -> Vec<SocketAddr> = Vec::new(), parse_secondaries;
    /// Unset: CoreDNS beside status-monitor; empty: no server to ask.
    local_dns_addr: LocalDnsAddr("LOCAL_DNS_ADDR") -> Option<SocketAddr> =
        Some(SocketAddr::from(([127, 0, 0, 1], 5353))),
        |text: &str| match text {
            "" => Ok(None),
            text => parse_socket_addr(text, 53)
                .map(Some)
                .ok_or_else(|| "expected IP:port or [IPv6]:port, or empty for none".to_owned()),
        };
    dns_endpoints: DnsEndpoints("DNS_ENDPOINTS") -> bool = false, |text| parse_bool(text, false);
    dns_endpoints_keep_without_addresses: DnsEndpointsKeepWithoutAddresses("DNS_ENDPOINTS_KEEP_WITHOUT_ADDRESSES") -> bool = true,
        |text| parse_bool(text, true);
    vmi_label_selector: VmiLabelSelector("VMI_LABEL_SELECTOR") -> Option<Selector> = None, parse_selector;
    vmi_source_dir: VmiSourceDir("VMI_SOURCE_DIR") -> Option<PathBuf> = None, parse_optional_path;
    /// Unset: the default prefix; empty: no ledger.
    serial_ledger: SerialLedger("SERIAL_LEDGER") -> Option<String> =
        Some(super::values::DEFAULT_SERIAL_LEDGER.to_owned()), parse_serial_ledger;
}
