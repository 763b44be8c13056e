//! Reverse zones: `REVERSE_ZONES` prefixes, their `in-addr.arpa` / `ip6.arpa`
//! origins and the PTR records of the addresses inside them.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::str::FromStr;

use crate::name::{Label, Origin};
use crate::vm_addresses::VmAddresses;

/// Why a `REVERSE_ZONES` entry is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("{0:?} is not a prefix; write ADDRESS/LENGTH, like 10.10.0.0/16 or fd00:10::/64")]
    Syntax(String),
    #[error(
        "{text:?}: an IPv4 reverse zone must be /8, /16 or /24 (whole octets of in-addr.arpa), not /{len}"
    )]
    Ipv4Length { text: String, len: u8 },
    #[error(
        "{text:?}: an IPv6 reverse zone's length must be a multiple of 4 from 4 to 128 (whole nibbles of ip6.arpa), not /{len}"
    )]
    Ipv6Length { text: String, len: u8 },
    #[error("{text:?} has bits set after the prefix length; the zone would be {network}")]
    HostBits {
        text: String,
        network: ReversePrefix,
    },
    #[error("{0} is listed twice")]
    Duplicate(ReversePrefix),
}

/// A prefix on a label boundary of the reverse tree: IPv4 /8, /16, /24 and IPv6
/// on a nibble. Only such prefixes are a zone of their own (RFC 2317 classless
/// delegation is left to the parent's operator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReversePrefix {
    network: IpAddr,
    len: u8,
}

impl ReversePrefix {
    /// Parses a comma-separated list (the `REVERSE_ZONES` format); blanks around
    /// entries and empty entries are ignored, a prefix listed twice is an error.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PrefixError> {
        let mut prefixes: Vec<Self> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let prefix: Self = entry.parse()?;
            if prefixes.contains(&prefix) {
                return Err(PrefixError::Duplicate(prefix));
            }
            prefixes.push(prefix);
        }
        Ok(prefixes)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                mask(u128::from(address.to_bits()), self.len, 32) == u128::from(network.to_bits())
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                mask(address.to_bits(), self.len, 128) == network.to_bits()
            }
            _ => false,
        }
    }

    /// The zone apex: `10.10.in-addr.arpa.` for 10.10.0.0/16,
    /// `0.1.0.0.0.0.d.f.ip6.arpa.` for fd00:10::/32.
    pub fn origin(&self) -> Origin {
        let suffix: &[&str] = match self.network {
            IpAddr::V4(_) => &["in-addr", "arpa"],
            IpAddr::V6(_) => &["ip6", "arpa"],
        };
        let digits = reversed_digits(self.network, 0..self.prefix_digits());
        let labels = digits
            .map(|digit| match self.network {
                IpAddr::V4(_) => digit.to_string(),
                IpAddr::V6(_) => format!("{digit:x}"),
            })
            .chain(suffix.iter().map(|s| (*s).to_owned()))
            // Decimal octets, hex nibbles and the suffixes are valid labels.
            .filter_map(|text| Label::new(&text).ok())
            .collect();
        Origin::from_labels(labels)
    }

    /// The labels of `address`'s name relative to [`Self::origin`], as digits
    /// (octets of IPv4, nibbles of IPv6): those after the prefix, least
    /// significant first (5, 1 for 10.10.1.5 in 10.10.0.0/16).
    pub fn owner_digits(&self, address: IpAddr) -> impl Iterator<Item = u8> {
        let all = match address {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 32,
        };
        reversed_digits(address, self.prefix_digits()..all)
    }

    /// How many digits (octets or nibbles) of an address the prefix fixes.
    fn prefix_digits(&self) -> usize {
        match self.network {
            IpAddr::V4(_) => usize::from(self.len / 8),
            IpAddr::V6(_) => usize::from(self.len / 4),
        }
    }

    /// The most specific prefix holding `address`: the zone its PTR belongs to
    /// (a record in a less specific zone would sit below a zone cut and never be
    /// served).
    pub fn most_specific<'p>(
        prefixes: impl IntoIterator<Item = &'p Self>,
        address: IpAddr,
    ) -> Option<usize> {
        prefixes
            .into_iter()
            .enumerate()
            .filter(|(_, prefix)| prefix.contains(address))
            .max_by_key(|(_, prefix)| prefix.len)
            .map(|(i, _)| i)
    }
}

/// The digits `digits` of `address` (octets of IPv4, nibbles of IPv6,
/// numbered from the most significant), least significant first: the label
/// order of the reverse tree.
fn reversed_digits(address: IpAddr, digits: Range<usize>) -> impl Iterator<Item = u8> {
    let (octets, nibbles) = match address {
        IpAddr::V4(a) => (u128::from(a.to_bits()), false),
        IpAddr::V6(a) => (a.to_bits(), true),
    };
    let width = if nibbles { 32 } else { 4 };
    digits.rev().map(move |index| {
        let (bits, mask) = if nibbles { (4, 0xf) } else { (8, 0xff) };
        let shift = (width - 1 - index) * bits;
        // Masked to one octet or nibble.
        ((octets >> shift) & mask) as u8
    })
}

/// `value` with every bit after the first `len` of `width` cleared.
fn mask(value: u128, len: u8, width: u32) -> u128 {
    let host_bits = width - u32::from(len);
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits << host_bits
    }
}

impl FromStr for ReversePrefix {
    type Err = PrefixError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax(text.to_owned());
        let (address, len) = text.trim().split_once('/').ok_or_else(syntax)?;
        let address: IpAddr = address.parse().map_err(|_| syntax())?;
        let len: u8 = len.parse().map_err(|_| syntax())?;
        let text = text.to_owned();
        let network = match address {
            IpAddr::V4(a) => {
                if ![8, 16, 24].contains(&len) {
                    return Err(PrefixError::Ipv4Length { text, len });
                }
                let bits = mask(u128::from(a.to_bits()), len, 32);
                IpAddr::V4(u32::try_from(bits).map_err(|_| syntax())?.into())
            }
            IpAddr::V6(a) => {
                if len == 0 || len > 128 || !len.is_multiple_of(4) {
                    return Err(PrefixError::Ipv6Length { text, len });
                }
                IpAddr::V6(mask(a.to_bits(), len, 128).into())
            }
        };
        let prefix = Self { network, len };
        if network != address {
            return Err(PrefixError::HostBits {
                text,
                network: prefix,
            });
        }
        Ok(prefix)
    }
}

impl fmt::Display for ReversePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// One PTR record: an interface address and the interface it names.
#[derive(Clone, Copy, Debug)]
pub struct Ptr<'a> {
    pub address: IpAddr,
    pub vm: &'a VmAddresses,
    pub interface: &'a Label,
}

impl Ptr<'_> {
    /// Address first, then the interface's name: two interfaces with the same
    /// address give their PTRs in the same order every time.
    pub fn sort_key(&self) -> (IpAddr, &Label, &Label, &Label) {
        (
            self.address,
            self.vm.namespace(),
            self.vm.name(),
            self.interface,
        )
    }
}

/// Calls `f` with the PTR of every interface address of `vm`, with the index of
/// the prefix (most specific) it belongs to; addresses outside every prefix
/// give none.
pub fn for_each_ptr<'a, 'p>(
    prefixes: impl Iterator<Item = &'p ReversePrefix> + Clone,
    vm: &'a VmAddresses,
    mut f: impl FnMut(usize, Ptr<'a>),
) {
    if prefixes.clone().next().is_none() {
        return;
    }
    for interface in vm.interfaces() {
        let addresses = interface
            .ipv4()
            .iter()
            .map(|a| IpAddr::V4(*a))
            .chain(interface.ipv6().iter().map(|a| IpAddr::V6(*a)));
        for address in addresses {
            if let Some(zone) = ReversePrefix::most_specific(prefixes.clone(), address) {
                f(
                    zone,
                    Ptr {
                        address,
                        vm,
                        interface: interface.name(),
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(text: &str) -> ReversePrefix {
        text.parse().unwrap()
    }

    fn owner(prefix_text: &str, address: &str) -> String {
        let prefix = prefix(prefix_text);
        let address = address.parse().unwrap();
        crate::record::Owner::Reverse(&prefix, address).to_string()
    }

    #[test]
    fn origins_follow_in_addr_arpa_and_nibble_ip6_arpa() {
        let cases = [
            ("10.0.0.0/8", "10.in-addr.arpa."),
            ("10.10.0.0/16", "10.10.in-addr.arpa."),
            ("192.0.2.0/24", "2.0.192.in-addr.arpa."),
            ("fd00:10::/64", "0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa."),
            ("2001:db8::/32", "8.b.d.0.1.0.0.2.ip6.arpa."),
            ("f000::/4", "f.ip6.arpa."),
        ];
        for (text, origin) in cases {
            assert_eq!(prefix(text).origin().to_string(), origin, "{text}");
        }
        assert_eq!(
            prefix("10.10.0.0/16").origin().file_name(),
            "db.10.10.in-addr.arpa"
        );
    }

    #[test]
    fn owners_are_the_digits_after_the_prefix_least_significant_first() {
        assert_eq!(owner("10.10.0.0/16", "10.10.1.5"), "5.1");
        assert_eq!(owner("10.0.0.0/8", "10.200.1.5"), "5.1.200");
        assert_eq!(owner("192.0.2.0/24", "192.0.2.7"), "7");
        assert_eq!(
            owner("fd00:10::/64", "fd00:10::1:2"),
            "2.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0"
        );
        assert_eq!(owner("2001:db8::/120", "2001:db8::ab"), "b.a");
    }

    #[test]
    fn only_label_boundaries_make_a_reverse_zone() {
        for bad in ["10.0.0.0/12", "10.10.10.10/32", "0.0.0.0/0"] {
            assert!(
                matches!(
                    bad.parse::<ReversePrefix>(),
                    Err(PrefixError::Ipv4Length { .. })
                ),
                "{bad}"
            );
        }
        for bad in ["fd00::/62", "::/0", "fd00::/129"] {
            assert!(
                matches!(
                    bad.parse::<ReversePrefix>(),
                    Err(PrefixError::Ipv6Length { .. })
                ),
                "{bad}"
            );
        }
        for bad in [
            "10.10.0.0",
            "10.10.0.0/",
            "ten/8",
            "10.10.0.0/16/1",
            "10.10.0.0/x",
        ] {
            assert!(
                matches!(bad.parse::<ReversePrefix>(), Err(PrefixError::Syntax(_))),
                "{bad}"
            );
        }
        let error = "10.10.1.0/16".parse::<ReversePrefix>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"10.10.1.0/16\" has bits set after the prefix length; the zone would be 10.10.0.0/16"
        );
        assert!("fd00::/128".parse::<ReversePrefix>().is_ok());
    }

    #[test]
    fn lists_ignore_blanks_and_reject_duplicates() {
        assert_eq!(ReversePrefix::parse_list(" ,").unwrap(), vec![]);
        assert_eq!(
            ReversePrefix::parse_list("10.10.0.0/16, fd00:10::/64,").unwrap(),
            vec![prefix("10.10.0.0/16"), prefix("fd00:10::/64")]
        );
        assert_eq!(
            ReversePrefix::parse_list("10.10.0.0/16,10.10.0.0/16"),
            Err(PrefixError::Duplicate(prefix("10.10.0.0/16")))
        );
    }

    #[test]
    fn an_address_belongs_to_the_most_specific_prefix_only() {
        let prefixes = [
            prefix("10.0.0.0/8"),
            prefix("10.10.0.0/16"),
            prefix("fd00::/16"),
        ];
        let zone = |a: &str| ReversePrefix::most_specific(&prefixes, a.parse().unwrap());
        assert_eq!(zone("10.10.3.4"), Some(1));
        assert_eq!(zone("10.11.3.4"), Some(0));
        assert_eq!(zone("fd00::1"), Some(2));
        assert_eq!(zone("192.0.2.1"), None);
        assert_eq!(zone("fd01::1"), None);
        assert_eq!(zone("::ffff:10.10.3.4"), None, "IPv4-mapped IPv6 is IPv6");
    }
}
