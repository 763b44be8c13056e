//! The value syntaxes of the variables: address lists, zone names, booleans,
//! listen addresses. Each error names its variable.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};

use zone_manager::{Origin, ReversePrefix, ZoneSettings, ZonesDir};

use super::{ConfigError, ListenAddress};

/// `NAME_SERVER_IP`: comma-separated IPv4 and IPv6 addresses (one per load
/// balancer or node), each a glue record of `ns.<origin>`; empty: none.
pub(super) fn parse_name_servers(text: &str) -> Result<Vec<IpAddr>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry.parse().map_err(|_| {
                invalid(
                    "NAME_SERVER_IP",
                    text,
                    format!("{entry:?} is not an IPv4 or IPv6 address"),
                )
            })
        })
        .collect()
}

/// `CATALOG_ZONE`: any zone name but one at or below a zone it lists (the
/// namespace zones live below the forward zone, and a catalog there would be
/// taken for one).
pub(super) fn parse_catalog_zone(
    text: &str,
    zone: &ZoneSettings,
    reverse_zones: &[ReversePrefix],
) -> Result<Option<Origin>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let catalog = Origin::parse(text).map_err(|e| invalid("CATALOG_ZONE", text, e))?;
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

/// `ZONES_DIR` and `STAGING_DIR`. A staging directory inside the zones
/// directory would show its temporary files to the DNS server that walks it;
/// empty or unset: stage in ZONES_DIR.
/// `SERIAL_LEDGER`: unset is the default prefix, empty turns the ledger off;
/// else a prefix that `-<hex digit>` makes a valid ConfigMap name (a DNS label).
pub(super) fn parse_serial_ledger(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Some("kubevirt-dns-serials".to_owned()));
    };
    let name = value.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let valid = name.len() <= 61
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(invalid(
            "SERIAL_LEDGER",
            name,
            "expected a ConfigMap name prefix: lowercase letters, digits and '-', starting with a letter or digit, at most 61 characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

pub(super) fn parse_zones_dir(
    zones: PathBuf,
    staging: Option<PathBuf>,
) -> Result<ZonesDir, ConfigError> {
    let dir = ZonesDir::new(&zones);
    let Some(staging) = staging.filter(|dir| !dir.as_os_str().is_empty()) else {
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
pub(super) fn parse_secondaries(text: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut secondaries: Vec<SocketAddr> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let address = parse_socket_addr(entry, 53).ok_or_else(|| {
            invalid(
                "NOTIFY_SECONDARIES",
                text,
                format!("{entry:?} is not an IP address, IP:port or [IPv6]:port"),
            )
        })?;
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
pub(super) fn parse_bool(
    variable: &'static str,
    text: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match text.trim() {
        "" => Ok(default),
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(invalid(variable, other, "expected true or false")),
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
