//! The value syntaxes of the variables: address lists, numbers, booleans,
//! listen addresses; each error is the reason, and the reader adds the
//! variable. Then the checks of variables against each other, whose errors
//! name the variable.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use zone_manager::{Origin, ReversePrefix, ZoneSettings, ZonesDir};

use super::{ConfigError, ListenAddress};

/// RFC 2181: TTLs and SOA timers are at most 2^31 - 1 seconds.
const MAX_SECONDS: u32 = i32::MAX as u32;

/// The ConfigMaps' name prefix when `SERIAL_LEDGER` is not set.
pub(super) const DEFAULT_SERIAL_LEDGER: &str = "kubevirt-dns-serials";

/// `NAME_SERVER_IP`: comma-separated IPv4 and IPv6 addresses (one per load
/// balancer or node), each a glue record of `ns.<origin>`; empty: none.
pub(super) fn parse_name_servers(text: &str) -> Result<Vec<IpAddr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse()
                .map_err(|_| format!("{entry:?} is not an IPv4 or IPv6 address"))
        })
        .collect()
}

/// A TTL or SOA timer in seconds; empty: the zone's default.
pub(super) fn parse_seconds(text: &str) -> Result<Option<u32>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(seconds) if seconds <= MAX_SECONDS => Ok(Some(seconds)),
        _ => Err(format!("expected seconds, at most {MAX_SECONDS}")),
    }
}

/// Milliseconds; empty: `default`.
pub(super) fn parse_millis(text: &str, default: Duration) -> Result<Duration, String> {
    if text.is_empty() {
        return Ok(default);
    }
    text.parse()
        .map(Duration::from_millis)
        .map_err(|_| "expected a whole number of milliseconds".to_owned())
}

/// A path; empty: none.
pub(super) fn parse_optional_path(text: &str) -> Result<Option<PathBuf>, String> {
    Ok((!text.is_empty()).then(|| PathBuf::from(text)))
}

/// `CATALOG_ZONE`: any zone name but one at or below a zone it lists (the
/// namespace zones live below the forward zone, and a catalog there would be
/// taken for one).
pub(super) fn check_catalog_zone(
    catalog: Option<Origin>,
    zone: &ZoneSettings,
    reverse_zones: &[ReversePrefix],
) -> Result<Option<Origin>, ConfigError> {
    let Some(catalog) = catalog else {
        return Ok(None);
    };
    let text = catalog.as_str();
    let served =
        std::iter::once(zone.origin.clone()).chain(reverse_zones.iter().map(ReversePrefix::origin));
    for served in served {
        if catalog.is_at_or_below(&served) {
            return Err(invalid(
                "CATALOG_ZONE",
                text,
                format!(
                    "is at or below {served}, a zone it lists; choose a name outside it, e.g. catalog.<DOMAIN>"
                ),
            ));
        }
    }
    Ok(Some(catalog))
}

/// `SERIAL_LEDGER`: empty turns the ledger off; else a prefix that
/// `-<hex digit>` makes a valid ConfigMap name (a DNS label).
pub(super) fn parse_serial_ledger(name: &str) -> Result<Option<String>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    let valid = name.len() <= 61
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err("expected a ConfigMap name prefix: lowercase letters, digits and '-', starting with a letter or digit, at most 61 characters".to_owned());
    }
    Ok(Some(name.to_owned()))
}

/// `ZONES_DIR` and `STAGING_DIR`. A staging directory inside the zones
/// directory would show its temporary files to the DNS server that walks it;
/// none: stage in ZONES_DIR.
pub(super) fn check_zones_dir(
    zones: PathBuf,
    staging: Option<PathBuf>,
) -> Result<ZonesDir, ConfigError> {
    let dir = ZonesDir::new(&zones);
    let Some(staging) = staging else {
        return Ok(dir);
    };
    if lexically_normal(&staging).starts_with(lexically_normal(&zones)) {
        return Err(invalid(
            "STAGING_DIR",
            &staging.display().to_string(),
            format!(
                "is inside ZONES_DIR ({}), where the DNS server would see the temporary files; choose a sibling on the same filesystem",
                zones.display()
            ),
        ));
    }
    Ok(dir.staging_in(staging))
}

/// `path` without `.` and with `..` applied, as far as text alone allows.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// `NOTIFY_SECONDARIES`: comma-separated `IP`, `IP:port` or `[IPv6]:port`
/// (port 53 when none); empty: none. Addresses only: a name would need a
/// resolver, and a secondary is configured by address anyway.
pub(super) fn parse_secondaries(text: &str) -> Result<Vec<SocketAddr>, String> {
    let mut secondaries: Vec<SocketAddr> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let address = parse_socket_addr(entry, 53)
            .ok_or_else(|| format!("{entry:?} is not an IP address, IP:port or [IPv6]:port"))?;
        if !secondaries.contains(&address) {
            secondaries.push(address);
        }
    }
    Ok(secondaries)
}

/// `IP`, `IP:port` or `[IPv6]:port`; a bare address gets `default_port`.
pub(super) fn parse_socket_addr(text: &str, default_port: u16) -> Option<SocketAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| Some(SocketAddr::new(text.parse::<IpAddr>().ok()?, default_port)))
        .filter(|address| address.port() != 0)
}

/// `true` or `false` (empty: `default`), as ConfigMaps spell booleans.
pub(super) fn parse_bool(text: &str, default: bool) -> Result<bool, String> {
    match text {
        "" => Ok(default),
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// `:8081` (every interface, as Go programs read it) or a full address.
pub(super) fn parse_http_addr(text: &str) -> Option<ListenAddress> {
    let text = text.trim();
    match text.strip_prefix(':') {
        Some(port) => Some(ListenAddress::AllInterfaces {
            port: port.parse().ok()?,
        }),
        None => text.parse().ok().map(ListenAddress::Socket),
    }
}

pub(super) fn invalid(variable: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}
